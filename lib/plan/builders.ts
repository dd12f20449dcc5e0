// The builders a build can name: the two bundled ones (by kind or alias) or any s2i builder image.

export type BuilderKind = 'train' | 'daemon';

/** Label the bundled builder images carry, naming their kind. */
export const BUILDER_KIND_LABEL = 'io.cortex-s2i.builder';
export const S2I_SCRIPTS_URL_LABEL = 'io.openshift.s2i.scripts-url';
export const S2I_DESTINATION_LABEL = 'io.openshift.s2i.destination';
/** Where builder images keep the s2i scripts (assemble, run, usage), as s2i documents. */
export const SCRIPTS_DIR = '/usr/libexec/s2i';
export const PROGRAM_DIR = '/opt/program';
/** The bundled assemble script's option that looks up the model's imports in the image. */
export const CHECK_IMPORTS = '--check-imports';

const ALIASES: Record<string, BuilderKind> = { train: 'train', model: 'train', daemon: 'daemon', predict: 'daemon' };

export interface BuilderKindInfo {
  kind: BuilderKind;
  /** Requirements files in the order they are looked for. */
  requirements: readonly string[];
  /** The user the output image runs as; undefined keeps root. */
  user: string | undefined;
  /** What the model must declare for this builder. */
  needs: 'train' | 'routes';
}

export const BUILDER_KINDS: Record<BuilderKind, BuilderKindInfo> = {
  // Train runs as root: it writes into the host's models/ folder, which a bind mount leaves owned
  // by the host user, so an unprivileged user in the container usually cannot write there.
  train: {
    kind: 'train',
    requirements: ['requirements_train.txt', 'requirements.txt'],
    user: undefined,
    needs: 'train',
  },
  daemon: {
    kind: 'daemon',
    requirements: ['requirements_predict.txt', 'requirements.txt'],
    user: '1001',
    needs: 'routes',
  },
};

/** Where the bundled builder images are tagged unless CORTEX_S2I_BUILDER_REPO names another repository. */
export const DEFAULT_BUILDER_REPO = 'cortex-s2i';

/**
 * `cortex-s2i/builder-daemon:0.1.0`. `repo` lets a team keep its builders in its own registry
 * (`registry.example.com/ml`), and lets two checkouts of different versions share one engine.
 */
export function bundledBuilderImage(kind: BuilderKind, version: string, repo = DEFAULT_BUILDER_REPO): string {
  return `${repo}/builder-${kind}:${version}`;
}

/** The kind a builder name stands for, when it is one of the bundled names or aliases. */
export function builderKindOf(name: string): BuilderKind | undefined {
  return ALIASES[name];
}

/**
 * What the plan needs to know about the builder image. Each style is planned by its module of
 * builder-styles/: the bundled builders (bundled.ts), any other s2i builder image (s2i.ts).
 */
export type Builder = BundledBuilder | S2iBuilder;

/** One of the bundled builder images, known by its kind. */
export interface BundledBuilder {
  style: 'bundled';
  image: string;
  kind: BuilderKind;
}

/** Any other s2i builder image: its own assemble script installs and places the source, as s2i does. */
export interface S2iBuilder {
  style: 's2i';
  image: string;
  scriptsDir: string;
  destination: string;
  user: string | undefined;
}
