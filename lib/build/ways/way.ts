// What every way of making an image answers ("can I make it?" and "make it"), and the build as
// the ways see it: before the project is read (Looked), and once it is planned and rendered (Planned).

import type { ProjectSnapshot } from '../../config/scan.js';
import type { Engine } from '../../engine/engine.js';
import type { BuildPlan } from '../../plan/plan.js';
import type { RenderedDockerfile } from '../../render/dockerfile.js';
import type { BuildCache, BuildRecord, SourceBase } from '../cache.js';
import type { BuildEnvironment, FinishedStep } from '../environment.js';
import type { SourceRead } from '../read.js';
import type { BuildRequest } from '../request.js';
import type { DockerfileFolder } from '../account.js';

/** A build before its project is read: enough for a way that answers from the build cache alone. */
export interface Looked {
  request: BuildRequest;
  env: BuildEnvironment;
  /** When the build started (ms since 1970). */
  started: number;
  /** The builder image the request names (request.ts builderImageOf). */
  builderImage: string;
  /** The build cache of the model's folder; undefined when the build makes no image (a dry run, a folder). */
  cache: BuildCache | undefined;
  /** What the cache remembers of the image the request names. */
  record: BuildRecord | undefined;
  /** The first look at the model's folder, taken when the cache has a record to hold it against. */
  firstLook: ProjectSnapshot | undefined;
  /** The request's identity (cache.ts buildIdentity), once git has said which commit the labels name. */
  identity(): Promise<string>;
  /** The engine, connected once, on the first way that asks. */
  engine(): Promise<Engine>;
  /** The id of the builder image on the engine, asked once; a builder it does not have is the user's error. */
  builderId(): Promise<string>;
}

/** A build planned and rendered: everything a way needs to make the image. */
export interface Planned extends Looked {
  source: SourceRead;
  plan: BuildPlan;
  /** The plan as the build told it (plan/describe.ts), a line each. */
  planLines: string[];
  dockerfile: RenderedDockerfile;
  /** The time stamped on every file sent. */
  mtime: Date;
}

/** An image on the engine under the request's name, and how it came to be there. */
export interface MadeImage {
  kind: 'image';
  /** The way that answered (its name): a way may find the image made already, as the source layer can. */
  way: string;
  /** built: by the engine's build; source layer: one new layer, loaded; up to date: it was there already. */
  how: 'built' | 'source layer' | 'up to date';
  image: string;
  imageId: string;
  bytesSent: number;
  sourceBytes: number;
  seconds: number;
  steps: FinishedStep[];
  cacheFrom: string[];
  /** The plan's warnings, then the build's own (a cache image not pulled). */
  warnings: string[];
  /** What to remember of it for the next build (ways that made something new). */
  record?: { builderId: string; base: SourceBase | undefined };
}

export type Made =
  | MadeImage
  | { kind: 'dry-run'; image: string; dockerfile: string; plan: string[]; warnings: string[] }
  | ({ kind: 'dockerfile-folder'; warnings: string[] } & DockerfileFolder);

export interface Way<Stage, Found> {
  /** In the user's words, as the build's account names it. */
  readonly name: string;
  /** Whether this way can make the image; what it found out asking goes on to make. */
  can(build: Stage): Promise<Found | undefined>;
  /** Makes it; undefined when it finds, making it, that it cannot after all: the next way then does. */
  make(build: Stage, found: Found): Promise<Made | undefined>;
}
