// The narrow interface the rest of cortex-s2i owns over a container engine: the members its code
// calls, no more. Only docker-engine.ts implements it against a real engine (no dockerode type
// crosses it); fake-engine.ts implements it in memory; test/support/engine-contract.ts holds both
// to every member.

import type { Readable } from 'node:stream';

export interface ImageInfo {
  id: string;
  /** Every `repo:tag` naming the image; empty for an untagged (dangling) image. */
  tags: string[];
  labels: Record<string, string>;
  env: string[];
  user: string;
  workingDir: string;
  cmd: string[];
  /** Layer digests, lowest first (RootFS.Layers). */
  layers: string[];
  size: number;
}

/**
 * What a new image on top of an image starts from: the image's configuration as its config JSON
 * has it (rather than the few fields ImageInfo names), and its layers.
 */
export interface ImageConfig {
  id: string;
  architecture: string;
  os: string;
  variant: string | undefined;
  /** Env, Cmd, User, Labels, ... as the engine keeps them. */
  config: Record<string, unknown>;
  /** Layer digests, lowest first. */
  layers: string[];
  /** The image this one was built on, when the engine knows it locally ('' otherwise). */
  parent: string;
}

/** One entry of an image's history, as `docker history` shows it. */
export interface HistoryItem {
  /** The local image this step made; undefined when the engine does not have it ("<missing>"). */
  id: string | undefined;
  /** Seconds since 1970. */
  created: number;
  createdBy: string;
  comment: string;
  /** Bytes of the step's layer; 0 for a step that made none, and for a layer of empty files. */
  size: number;
}

/** What the engine reports while it builds, already parsed. */
export type BuildEvent =
  | { type: 'step'; step: number; total: number; instruction: string }
  | { type: 'cached'; step: number }
  | { type: 'log'; text: string };

export interface BuildOptions {
  context: Readable;
  /** Multi-stage target, for builder images. */
  target?: string;
  buildArgs?: Record<string, string>;
  /** Build every step afresh instead of reusing the engine's cache. */
  noCache?: boolean;
  /** Images whose layers the engine may reuse as cache (the classic builder's cachefrom). */
  cacheFrom?: string[];
  signal?: AbortSignal;
  onEvent?: (event: BuildEvent) => void;
}

export interface ContainerSpec {
  image: string;
  name: string;
  env?: string[];
  cmd?: string[];
  /** Overrides the image's user, as `docker run --user`. */
  user?: string;
  binds?: Array<{ host: string; container: string; readOnly?: boolean }>;
  /** In-memory filesystems to mount, path to mount options (`{ '/model/models': 'size=1m' }`). */
  tmpfs?: Record<string, string>;
  /** Container ports to publish on 127.0.0.1, each on a free host port. */
  publish?: number[];
  labels?: Record<string, string>;
  /** Memory limit in bytes, swap included (as `docker run --memory` with an equal `--memory-swap`). */
  memoryBytes?: number;
}

/** How a container stands, as `docker inspect` reports it. */
export interface ContainerState {
  running: boolean;
  exitCode: number;
  /** The kernel killed it for exceeding its memory limit. */
  oomKilled: boolean;
}

export interface StartedContainer {
  id: string;
  /** Host port on 127.0.0.1 for each published container port. */
  ports: Record<number, number>;
}

export interface Engine {
  inspectImage(ref: string): Promise<ImageInfo | undefined>;
  /** Builds without tagging; resolves with the image id, rejects with the engine's error. */
  build(options: BuildOptions): Promise<{ imageId: string }>;
  tagImage(imageId: string, ref: string): Promise<void>;
  /** The image's configuration and layers; undefined when there is no such image. */
  imageConfig(ref: string): Promise<ImageConfig | undefined>;
  /** The steps that made the image, newest first, as `docker history` shows them. */
  imageHistory(ref: string): Promise<HistoryItem[]>;
  /**
   * Loads an image archive (the format of `docker save`) and resolves with the id of the image
   * it held. An archive may leave out layers the engine has; an engine that needs every layer
   * rejects it with an EngineError.
   */
  loadImage(archive: Buffer, signal?: AbortSignal): Promise<string>;
  removeImage(ref: string): Promise<void>;
  runContainer(spec: ContainerSpec): Promise<StartedContainer>;
  /** Waits for the container to exit and returns its exit status. */
  waitContainer(id: string, signal?: AbortSignal): Promise<number>;
  containerLogs(id: string): Promise<{ stdout: string; stderr: string }>;
  /** Removes the container, running or not; a container already gone is not an error. */
  removeContainer(id: string): Promise<void>;
  /** The container's state; undefined when there is no such container. */
  inspectContainer(id: string): Promise<ContainerState | undefined>;
  /** Pushes a tagged image to its registry; resolves with the manifest digest the registry stored. */
  pushImage(ref: string, options?: RegistryOptions): Promise<PushResult>;
  /** Pulls an image from its registry; rejects with a RegistryError when the registry refuses. */
  pullImage(ref: string, options?: RegistryOptions): Promise<void>;
}

/** Credentials for one registry, as the engine takes them (X-Registry-Auth). */
export interface RegistryAuth {
  serverAddress: string;
  username?: string;
  password?: string;
  identityToken?: string;
}

export interface RegistryOptions {
  auth?: RegistryAuth;
  signal?: AbortSignal;
}

export interface PushResult {
  /** `sha256:…` of the manifest, as the registry stored it. */
  digest: string;
  /** Size of the manifest in bytes, as the engine reports it. */
  size: number | undefined;
}

/** The engine could not push to or pull from a registry; `message` is the engine's own. */
export class RegistryError extends Error {
  constructor(
    message: string,
    readonly ref: string,
  ) {
    super(message);
    this.name = 'RegistryError';
  }
}

/** An engine call failed with an HTTP status the caller may branch on (404, 409, ...). */
export class EngineError extends Error {
  constructor(
    message: string,
    readonly statusCode: number | undefined,
    /** What the tool asked for, in the user's words ("tagging image x:1"). */
    readonly operation = 'a request',
  ) {
    super(message);
    this.name = 'EngineError';
  }
}

/**
 * The engine stopped answering: a short call got no answer within its limit, or a build sent
 * nothing for longer than its silence limit. Carries the step images of an abandoned build.
 */
export class EngineTimeoutError extends Error {
  readonly createdImages: string[] = [];

  constructor(
    readonly address: string,
    readonly operation: string,
    readonly seconds: number,
    /** True for the build's limit on silence, false for a short call's limit on its whole time. */
    readonly silence: boolean,
  ) {
    super(
      silence
        ? `the engine at ${address} sent nothing for ${seconds}s while ${operation}`
        : `the engine at ${address} did not answer ${operation} within ${seconds}s`,
    );
    this.name = 'EngineTimeoutError';
  }
}

/** The engine answered with something the Docker Engine API does not promise. */
export class EngineAnswerError extends Error {
  constructor(
    readonly address: string,
    readonly operation: string,
    readonly problem: string,
  ) {
    super(`the engine at ${address} answered ${operation} with ${problem}`);
    this.name = 'EngineAnswerError';
  }
}

/** A build the engine reported as failed, with the end of its log as evidence. */
export class BuildError extends Error {
  /** Ids of images the engine committed for steps of the failed build, oldest first. */
  readonly createdImages: string[] = [];

  constructor(
    message: string,
    readonly lastLines: string[],
    /** The engine broke the protocol (a line that is not JSON), rather than reporting a failed step. */
    readonly malformed = false,
  ) {
    super(message);
    this.name = 'BuildError';
  }
}

/** No engine answered at the address (or none that proved who it is, over TLS): nothing was sent. */
export class EngineUnreachableError extends Error {
  constructor(
    readonly address: string,
    cause: unknown,
    /** Why, when it says more than "nothing answers": a certificate the tool could not verify. */
    readonly reason?: string,
  ) {
    super(reason ? `cannot talk to the engine at ${address}: ${reason}` : `no Docker engine answers at ${address}`, {
      cause,
    });
    this.name = 'EngineUnreachableError';
  }
}

/** A call the interrupt (Ctrl-C, SIGTERM, SIGHUP) ended; carries the step images of a build it cut. */
export class EngineInterruptedError extends Error {
  readonly createdImages: string[] = [];

  constructor(readonly operation: string) {
    super(`interrupted while ${operation}`);
    this.name = 'EngineInterruptedError';
  }
}
