// The bundled builders' style: the whole layout the model's code imports (the model, the shared
// code around it, the files beside them) under /opt/program/<root>/, each folder on the way an
// import root; the dependency step from setup.sh and the requirements file of the builder's kind,
// in a layer of its own; the imports checked in the image; the source step last.

import { compare } from '../../text.js';
import { BUILDER_KINDS, CHECK_IMPORTS, PROGRAM_DIR, SCRIPTS_DIR, type BundledBuilder } from '../builders.js';
import { DEPENDENCIES_DIR, INDEX_STAGE_DIR } from '../dependencies.js';
import { MODELS_LINK, SOURCE_DIR } from '../plan.js';
import type { BuilderStyle } from './style.js';

const IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_]*$/;

export const bundled: BuilderStyle<BundledBuilder> = {
  source(project) {
    // The context's src/ mirrors the image from its root: src/opt/program/... is copied to /, so
    // that /opt and /opt/program are entries of the tar too, with its fixed time, rather than
    // folders the engine creates or touches at build time, which would put the build's time into
    // the source layer and change its digest on every fresh build.
    const name = (p: string) => `${SOURCE_DIR}${PROGRAM_DIR}/${project.name}/${p}`;
    return {
      files: [
        ...project.modelFiles,
        ...project.rootFiles,
        ...[...project.sharedFolders, ...project.includedModels].flatMap((f) => f.files),
      ],
      name,
      links: [
        ...project.links.map((l) => ({ name: name(l.path), target: l.target })),
        ...project.modelsLinks.map((m) => ({ name: name(m), target: MODELS_LINK })),
      ].sort((a, b) => compare(a.name, b.name)),
    };
  },

  // The root is laid out as /opt/program/<root>, so that module names import as written from the
  // import roots: the model folder, each folder on the way up, and the program folder itself.
  pythonPath: (project) => project.importRoots.map((r) => (r === '' ? PROGRAM_DIR : `${PROGRAM_DIR}/${r}`)),
  sharedFolders: (project) => project.sharedFolders.map((f) => f.name),
  requirements: (builder) => BUILDER_KINDS[builder.kind].requirements,
  checksImports: true,
  user: (builder) => BUILDER_KINDS[builder.kind].user,
  kind: (builder) => builder.kind,
  describe: (builder) => `${builder.image} (${builder.kind})`,

  dockerfile(plan, toolVersion) {
    return {
      template: 'Dockerfile-bundled.hbs',
      values: {
        version: toolVersion,
        source: plan.project.standalone ? plan.model.name : `${plan.project.name}/${plan.model.path}`,
        kind: plan.builder.kind,
        builder: plan.builder.image,
        dependencies: plan.dependencies.requirements !== undefined || plan.dependencies.setupScript !== undefined,
        dependenciesDir: DEPENDENCIES_DIR,
        indexStageDir: plan.dependencies.indexStage ? INDEX_STAGE_DIR : undefined,
        scriptsDir: SCRIPTS_DIR,
        sourceDir: plan.sourceDir,
        env: plan.env,
        labels: plan.labels,
        user: plan.user,
        checkImports: checkImportsCommand(plan),
      },
    };
  },
};

/** `assemble --check-imports numpy ?xgboost`: a `?` marks a name whose absence is only a warning. */
function checkImportsCommand(plan: { importCheck: { strict: string[]; lenient: string[] } }): string[] | undefined {
  const { strict, lenient } = plan.importCheck;
  if (strict.length + lenient.length === 0) return undefined;
  const names = [...strict, ...lenient.map((n) => `?${n}`)].filter((n) => IDENTIFIER.test(n.replace(/^\?/, '')));
  return [`${SCRIPTS_DIR}/assemble`, CHECK_IMPORTS, ...names];
}
