// Any other s2i builder image's style: it receives the model folder alone as its source, as `s2i
// build` would send it, at the destination its labels name, and its own assemble script installs
// the dependencies and places the source; the image runs as the builder's user.

import type { S2iBuilder } from '../builders.js';
import { SOURCE_DIR } from '../plan.js';
import type { BuilderStyle } from './style.js';

export const s2i: BuilderStyle<S2iBuilder> = {
  source(project) {
    const strip = project.standalone ? '' : `${project.model.path}/`;
    const name = (p: string) => `${SOURCE_DIR}/${p.slice(strip.length)}`;
    return {
      files: project.modelFiles,
      name,
      links: project.links
        .filter((l) => l.path.startsWith(strip))
        .map((l) => ({ name: name(l.path), target: l.target })),
    };
  },
  pythonPath: () => [],
  sharedFolders: () => [],
  requirements: () => undefined,
  checksImports: false,
  user: (builder) => builder.user,
  kind: () => undefined,
  describe: (builder) => `${builder.image} (s2i builder: its assemble script installs)`,

  dockerfile(plan, toolVersion) {
    return {
      template: 'Dockerfile-s2i.hbs',
      values: {
        version: toolVersion,
        source: plan.project.standalone ? plan.model.name : `${plan.project.name}/${plan.model.path}`,
        builder: plan.builder.image,
        scriptsDir: plan.builder.scriptsDir,
        destination: plan.builder.destination,
        sourceDir: plan.sourceDir,
        env: plan.env,
        labels: plan.labels,
        user: plan.user,
      },
    };
  },
};
