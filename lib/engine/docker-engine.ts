// The Engine interface over a Docker Engine API (Docker, or Podman's compatible socket), through
// dockerode, loaded on the first call. The only module that loads dockerode.
//
// One transport: every call goes through dockerode, its methods or its modem. A second client over
// node's own http, for the few requests of a rebuild found up to date, once spared that rebuild
// loading dockerode. Measured on a 2-core machine, medians of alternating runs: the rebuild found up
// to date takes 0.13 s instead of 0.11 s (make bench-cli, 2 x 5 runs; CPU 0.12 s instead of 0.09 s),
// or 1.13x the wall time (15 paired runs). The one command that gains takes 20 ms more; every
// other one loads dockerode anyway. Too little to keep two ways of speaking to the engine, each
// with its own connection, TLS and error handling.

import type Docker from 'dockerode';
import { createRequire } from 'node:module';
import { pipeline, Transform, type Readable } from 'node:stream';
import { followBuild } from './build-stream.js';
import { followRegistryStream } from './registry-stream.js';
import { EngineAddressError, resolveEngineConnection, type EngineConnection } from './connection.js';
import { deferDockerodeParts } from './dockerode-deferred.js';
import {
  BuildError,
  EngineAnswerError,
  EngineError,
  EngineInterruptedError,
  EngineTimeoutError,
  EngineUnreachableError,
  RegistryError,
  type BuildOptions,
  type ContainerSpec,
  type ContainerState,
  type Engine,
  type HistoryItem,
  type ImageConfig,
  type ImageInfo,
  type PushResult,
  type RegistryAuth,
  type RegistryOptions,
  type StartedContainer,
} from './engine.js';
import { parseImageReference } from './reference.js';

const UNREACHABLE_CODES = new Set([
  'ECONNREFUSED',
  'ENOENT',
  'EACCES',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
  'ETIMEDOUT',
]);
/** Node's codes for a server certificate that does not verify: the engine is not who it should be. */
const CERTIFICATE_CODES = new Set([
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'CERT_SIGNATURE_FAILURE',
  'CERT_UNTRUSTED',
  'CERT_REJECTED',
  'CERT_HAS_EXPIRED',
  'CERT_NOT_YET_VALID',
  'ERR_TLS_CERT_ALTNAME_INVALID',
]);

/** How long the tool waits for the engine, in seconds. */
export interface EngineLimits {
  /** Every call but a build's: inspect, tag, remove, history, version, container calls. */
  callSeconds: number;
  /** A build: the longest time with no byte going either way (pip steps can be long, not silent). */
  buildSilenceSeconds: number;
}

export const DEFAULT_ENGINE_LIMITS: EngineLimits = { callSeconds: 60, buildSilenceSeconds: 30 * 60 };

export interface DockerEngineOptions {
  limits?: Partial<EngineLimits>;
  /**
   * Ctrl-C and friends: aborts the calls in flight at once. Calls made afterwards (removing what
   * an interrupted build made) still run, each within its limit.
   */
  interrupt?: AbortSignal;
}

/**
 * `target` is a connection from resolveEngineConnection (the CLI's way), or DOCKER_HOST as a string
 * for a unix socket or plain tcp engine, or undefined for the local socket.
 */
export function dockerEngine(target: EngineConnection | string | undefined, options: DockerEngineOptions = {}): Engine {
  const connection = typeof target === 'object' ? target : resolveEngineConnection({ DOCKER_HOST: target, home: '' });
  const limits = { ...DEFAULT_ENGINE_LIMITS, ...options.limits };
  return new DockerEngine(connection, limits, options.interrupt);
}

let dockerode: typeof Docker | undefined;

/** dockerode's client for `connection`, loading dockerode the first time. */
function newDocker(connection: EngineConnection): Docker {
  if (!dockerode) {
    deferDockerodeParts();
    dockerode = createRequire(import.meta.url)('dockerode') as typeof Docker;
  }
  try {
    return new dockerode(connectionOptions(connection));
  } catch (err) {
    // docker-modem reads DOCKER_CERT_PATH's files on its own whenever DOCKER_HOST is remote,
    // even for plain HTTP, and fails when they are missing.
    throw new EngineAddressError(
      `cannot set up the connection to ${connection.address}: ${(err as Error).message}`,
      'check DOCKER_CERT_PATH: unset it, or make it hold ca.pem, cert.pem and key.pem',
    );
  }
}

/**
 * Every connection setting is given explicitly: docker-modem otherwise fills what is missing from
 * process.env by rules of its own (https on port 2376, certificates from DOCKER_CERT_PATH).
 */
function connectionOptions(c: EngineConnection): Docker.DockerOptions {
  const none = {
    host: undefined,
    port: undefined,
    socketPath: undefined,
    ca: undefined,
    cert: undefined,
    key: undefined,
    timeout: undefined,
    username: undefined,
    password: undefined,
    pathPrefix: '/',
  };
  if (c.kind === 'unix')
    return { ...none, socketPath: c.socketPath, protocol: 'http' } as unknown as Docker.DockerOptions;
  if (!c.tls) return { ...none, host: c.host, port: c.port, protocol: 'http' } as unknown as Docker.DockerOptions;
  return {
    ...none,
    host: c.host,
    port: c.port,
    protocol: 'https',
    ca: c.tls.ca,
    cert: c.tls.cert,
    key: c.tls.key,
  } as unknown as Docker.DockerOptions;
}

class DockerEngine implements Engine {
  /** Where the engine is, for messages ("unix:///var/run/docker.sock"). */
  private readonly address: string;
  private client: Docker | undefined;

  constructor(
    private readonly connection: EngineConnection,
    private readonly limits: EngineLimits,
    private readonly interrupt: AbortSignal | undefined,
  ) {
    this.address = connection.address;
  }

  private get docker(): Docker {
    this.client ??= newDocker(this.connection);
    return this.client;
  }

  async inspectImage(ref: string): Promise<ImageInfo | undefined> {
    const op = `inspecting image ${ref}`;
    try {
      const i = this.object(
        op,
        await this.call(op, (abortSignal) => this.get(`/images/${ref}/json`, abortSignal)),
      ) as unknown as Docker.ImageInspectInfo;
      if (typeof i.Id !== 'string') throw new EngineAnswerError(this.address, op, 'no image id');
      return {
        id: i.Id,
        tags: Array.isArray(i.RepoTags) ? i.RepoTags.filter((t) => typeof t === 'string' && t !== '<none>:<none>') : [],
        labels: i.Config?.Labels ?? {},
        env: i.Config?.Env ?? [],
        user: i.Config?.User ?? '',
        workingDir: i.Config?.WorkingDir ?? '',
        cmd: (i.Config?.Cmd as string[] | null) ?? [],
        layers: i.RootFS?.Layers ?? [],
        size: i.Size,
      };
    } catch (err) {
      if (err instanceof EngineError && err.statusCode === 404) return undefined;
      throw err;
    }
  }

  async build(options: BuildOptions): Promise<{ imageId: string }> {
    const operation = 'building';
    if (this.interrupt?.aborted || options.signal?.aborted) throw new EngineInterruptedError(operation);
    const seconds = this.limits.buildSilenceSeconds;
    const silence = new AbortController();
    const signal = AbortSignal.any([
      silence.signal,
      ...[options.signal, this.interrupt].filter((s) => s !== undefined),
    ]);
    let response: Readable | undefined;
    let timer: NodeJS.Timeout | undefined;
    const alive = () => {
      clearTimeout(timer);
      timer = setTimeout(() => silence.abort(), seconds * 1000);
    };
    const onAbort = () => response?.destroy();
    signal.addEventListener('abort', onAbort, { once: true });
    // Bytes going either way show the engine is alive: while a large context goes to a remote
    // engine, the engine itself says nothing.
    const metered = new Transform({
      transform(chunk, _encoding, done) {
        alive();
        done(null, chunk);
      },
    });
    pipeline(options.context, metered, () => {});
    alive();
    try {
      response = (await this.docker.buildImage(
        metered as unknown as NodeJS.ReadableStream,
        {
          // rm and forcerm: no intermediate container is left behind, even by a failed step.
          rm: true,
          forcerm: true,
          ...(options.target ? { target: options.target } : {}),
          ...(options.buildArgs ? { buildargs: options.buildArgs } : {}),
          ...(options.noCache ? { nocache: true } : {}),
          ...(options.cacheFrom?.length ? { cachefrom: JSON.stringify(options.cacheFrom) } : {}),
          abortSignal: signal,
        } as Docker.ImageBuildOptions,
      )) as unknown as Readable;
      if (signal.aborted) response.destroy();
      response.on('data', alive);
      return await followBuild(response, options.onEvent);
    } catch (err) {
      const created = err instanceof BuildError ? err.createdImages : [];
      if (silence.signal.aborted) {
        const timeout = new EngineTimeoutError(this.address, operation, seconds, true);
        timeout.createdImages.push(...created);
        throw timeout;
      }
      if (signal.aborted) {
        const interrupted = new EngineInterruptedError(operation);
        interrupted.createdImages.push(...created);
        throw interrupted;
      }
      throw this.mapError(err, operation);
    } finally {
      clearTimeout(timer);
      signal.removeEventListener('abort', onAbort);
      metered.destroy();
    }
  }

  async tagImage(imageId: string, ref: string): Promise<void> {
    const { repo, tag } = splitReference(ref);
    await this.call(`tagging ${imageId} as ${ref}`, (abortSignal) =>
      this.post(`/images/${encodeURIComponent(imageId)}/tag`, { repo, tag }, abortSignal),
    );
  }

  async imageConfig(ref: string): Promise<ImageConfig | undefined> {
    const op = `inspecting image ${ref}`;
    try {
      const i = this.object(op, await this.call(op, (abortSignal) => this.get(`/images/${ref}/json`, abortSignal)));
      const config = i.Config;
      const layers = (i.RootFS as { Layers?: unknown } | undefined)?.Layers ?? [];
      if (
        typeof i.Id !== 'string' ||
        typeof config !== 'object' ||
        config === null ||
        !Array.isArray(layers) ||
        !layers.every((l) => typeof l === 'string')
      ) {
        throw new EngineAnswerError(this.address, op, 'no image id, configuration or layers');
      }
      return {
        id: i.Id,
        architecture: typeof i.Architecture === 'string' ? i.Architecture : '',
        os: typeof i.Os === 'string' ? i.Os : '',
        variant: typeof i.Variant === 'string' && i.Variant !== '' ? i.Variant : undefined,
        config: config as Record<string, unknown>,
        layers,
        parent: typeof i.Parent === 'string' ? i.Parent : '',
      };
    } catch (err) {
      if (err instanceof EngineError && err.statusCode === 404) return undefined;
      throw err;
    }
  }

  async imageHistory(ref: string): Promise<HistoryItem[]> {
    const op = `reading the history of ${ref}`;
    const history = await this.call(op, (abortSignal) => this.get(`/images/${ref}/history`, abortSignal));
    if (!Array.isArray(history)) throw new EngineAnswerError(this.address, op, 'something other than a list');
    return history.map(
      (h: { Id?: unknown; Created?: unknown; CreatedBy?: unknown; Comment?: unknown; Size?: unknown }) => ({
        id: typeof h.Id === 'string' && h.Id.startsWith('sha256:') ? h.Id : undefined,
        created: typeof h.Created === 'number' ? h.Created : 0,
        createdBy: typeof h.CreatedBy === 'string' ? h.CreatedBy : '',
        comment: typeof h.Comment === 'string' ? h.Comment : '',
        size: typeof h.Size === 'number' ? h.Size : 0,
      }),
    );
  }

  async loadImage(archive: Buffer, signal?: AbortSignal): Promise<string> {
    const op = 'loading an image';
    // The load stands for a build, and gets a build's time: a layer to a remote engine is not quick.
    const answer = await this.call(
      op,
      (abortSignal) => this.post('/images/load', { quiet: '1' }, abortSignal, archive),
      { signal, seconds: this.limits.buildSilenceSeconds },
    );
    // A stream of JSON lines: {"stream": "Loaded image ID: sha256:…"}, or an error line.
    const text = Buffer.isBuffer(answer) ? answer.toString('utf8') : JSON.stringify(answer);
    for (const line of text.split('\n')) {
      if (line.trim() === '') continue;
      let message: { stream?: unknown; error?: unknown; errorDetail?: { message?: unknown } };
      try {
        message = JSON.parse(line) as typeof message;
      } catch {
        throw new EngineAnswerError(this.address, op, `a line that is not JSON: ${line.slice(0, 200)}`);
      }
      const error = message.errorDetail?.message ?? message.error;
      if (error !== undefined) throw new EngineError(String(error).trim(), undefined, op);
      const loaded =
        typeof message.stream === 'string' ? /Loaded image ID: (sha256:[0-9a-f]{64})/.exec(message.stream) : null;
      if (loaded) return loaded[1]!;
    }
    throw new EngineAnswerError(this.address, op, 'no image id');
  }

  async removeImage(ref: string): Promise<void> {
    try {
      await this.call(`removing image ${ref}`, (abortSignal) =>
        this.docker.getImage(ref).remove({ force: true, abortSignal } as object),
      );
    } catch (err) {
      if (!(err instanceof EngineError && err.statusCode === 404)) throw err;
    }
  }

  async runContainer(spec: ContainerSpec): Promise<StartedContainer> {
    const exposed = Object.fromEntries((spec.publish ?? []).map((p) => [`${p}/tcp`, {}]));
    const bindings = Object.fromEntries(
      (spec.publish ?? []).map((p) => [`${p}/tcp`, [{ HostIp: '127.0.0.1', HostPort: '' }]]),
    );
    const op = `creating container ${spec.name}`;
    const container = await this.call(op, (abortSignal) =>
      this.docker.createContainer({
        Image: spec.image,
        name: spec.name,
        Env: spec.env ?? [],
        ...(spec.cmd ? { Cmd: spec.cmd } : {}),
        ...(spec.user ? { User: spec.user } : {}),
        Labels: spec.labels ?? {},
        ExposedPorts: exposed,
        HostConfig: {
          Binds: (spec.binds ?? []).map((b) => `${b.host}:${b.container}${b.readOnly ? ':ro' : ''}`),
          PortBindings: bindings,
          ...(spec.tmpfs ? { Tmpfs: spec.tmpfs } : {}),
          // Swap equal to memory: no swap, so a container over its limit is killed, not slowed.
          ...(spec.memoryBytes ? { Memory: spec.memoryBytes, MemorySwap: spec.memoryBytes } : {}),
        },
        abortSignal,
      } as Docker.ContainerCreateOptions),
    );
    if (typeof container.id !== 'string') throw new EngineAnswerError(this.address, op, 'no container id');
    try {
      await this.call(`starting container ${spec.name}`, (abortSignal) => container.start({ abortSignal } as object));
      const info = this.object(
        op,
        await this.call(`inspecting container ${spec.name}`, (abortSignal) =>
          container.inspect({ abortSignal } as object),
        ),
      ) as unknown as Docker.ContainerInspectInfo;
      const ports: Record<number, number> = {};
      for (const p of spec.publish ?? []) {
        const bound = info.NetworkSettings?.Ports?.[`${p}/tcp`]?.[0]?.HostPort;
        if (bound) ports[p] = Number(bound);
      }
      return { id: container.id, ports };
    } catch (err) {
      await this.removeContainer(container.id);
      throw err;
    }
  }

  async waitContainer(id: string, signal?: AbortSignal): Promise<number> {
    const op = `waiting for container ${id.slice(0, 12)}`;
    // No limit: a container runs as long as its work takes; the caller's signal ends the wait.
    const result = this.object(
      op,
      await this.call(op, (abortSignal) => this.docker.getContainer(id).wait({ abortSignal } as object), {
        seconds: 0,
        signal,
      }),
    );
    if (typeof result.StatusCode !== 'number') throw new EngineAnswerError(this.address, op, 'no exit status');
    return result.StatusCode;
  }

  async containerLogs(id: string): Promise<{ stdout: string; stderr: string }> {
    const op = `reading the logs of container ${id.slice(0, 12)}`;
    const raw = await this.call(op, (abortSignal) =>
      this.docker.getContainer(id).logs({ stdout: true, stderr: true, follow: false, abortSignal } as object),
    );
    if (!Buffer.isBuffer(raw)) throw new EngineAnswerError(this.address, op, 'something other than a log');
    return demultiplex(raw);
  }

  async removeContainer(id: string): Promise<void> {
    try {
      await this.call(`removing container ${id.slice(0, 12)}`, (abortSignal) =>
        this.docker.getContainer(id).remove({ force: true, v: true, abortSignal } as object),
      );
    } catch (err) {
      // 404: gone; 409: removal already in progress.
      if (!(err instanceof EngineError && (err.statusCode === 404 || err.statusCode === 409))) throw err;
    }
  }

  async inspectContainer(id: string): Promise<ContainerState | undefined> {
    try {
      const info = await this.call('inspecting a container', (signal) =>
        this.docker.getContainer(id).inspect({ abortSignal: signal } as object),
      );
      return { running: info.State.Running, exitCode: info.State.ExitCode, oomKilled: info.State.OOMKilled };
    } catch (err) {
      if (err instanceof EngineError && err.statusCode === 404) return undefined;
      throw err;
    }
  }

  async pushImage(ref: string, options: RegistryOptions = {}): Promise<PushResult> {
    const { repo, tag } = splitReference(ref);
    const response = (await this.call(
      'pushing',
      (signal) =>
        this.docker.getImage(repo).push({ tag, authconfig: engineAuth(options.auth), abortSignal: signal } as object),
      { signal: options.signal },
    )) as unknown as Readable;
    return (await followRegistryStream(response, ref, true))!;
  }

  async pullImage(ref: string, options: RegistryOptions = {}): Promise<void> {
    const { repo, tag } = splitReference(ref);
    let response: Readable;
    try {
      response = (await this.call(
        'pulling',
        (signal) =>
          this.docker.createImage(engineAuth(options.auth), { fromImage: repo, tag, abortSignal: signal } as object),
        { signal: options.signal },
      )) as unknown as Readable;
    } catch (err) {
      // A pull the registry refuses fails before any stream: 404 for a missing manifest, 500 for
      // a registry that is down or wants credentials. Either way, the registry's refusal.
      if (err instanceof EngineError) throw new RegistryError(err.message, ref);
      throw err;
    }
    await followRegistryStream(response, ref, false);
  }

  /** GETs `path` of the engine's API: its JSON answer parsed (a Buffer when it is not JSON). */
  private get(path: string, abortSignal: AbortSignal): Promise<unknown> {
    return this.dial({ method: 'GET', path }, abortSignal);
  }

  /** POSTs `body` (a tar, when given) to `path` with `query`: its answer, parsed when it is JSON. */
  private post(path: string, query: Record<string, string>, abortSignal: AbortSignal, body?: Buffer): Promise<unknown> {
    return this.dial({ method: 'POST', path, query, ...(body ? { file: body } : {}) }, abortSignal);
  }

  /**
   * One request through dockerode's modem, for the calls dockerode has no method for or whose
   * method takes no abort signal: every 2xx answer is taken, any other is an error with its status.
   */
  private dial(
    request: { method: string; path: string; query?: Record<string, string>; file?: Buffer },
    abortSignal: AbortSignal,
  ): Promise<unknown> {
    const { query, ...rest } = request;
    return new Promise((resolve, reject) => {
      // The modem adds `options` as the query to a path that ends with '?' (and takes the '?'
      // away again when there is none).
      (this.docker.modem as unknown as ModemDial).dial(
        {
          ...rest,
          path: query ? `${rest.path}?` : rest.path,
          options: query ?? {},
          abortSignal,
          statusCodes: OK_STATUSES,
        },
        (err, data) => (err ? reject(err) : resolve(data)),
      );
    });
  }

  /** A JSON object, as every call but logs and history answers; dockerode hands over a Buffer otherwise. */
  private object(operation: string, answer: unknown): Record<string, unknown> {
    if (typeof answer !== 'object' || answer === null || Array.isArray(answer) || Buffer.isBuffer(answer)) {
      throw new EngineAnswerError(
        this.address,
        operation,
        Buffer.isBuffer(answer)
          ? `something that is not JSON (${describeBytes(answer)})`
          : 'JSON that is not an object',
      );
    }
    return answer as Record<string, unknown>;
  }

  /**
   * One engine call with a deadline (`seconds`, 0 for none) and the interrupt: whichever comes
   * first ends the call at once, even when the engine never answers.
   */
  private async call<T>(
    operation: string,
    fn: (signal: AbortSignal) => Promise<T>,
    options: { seconds?: number; signal?: AbortSignal | undefined } = {},
  ): Promise<T> {
    const seconds = options.seconds ?? this.limits.callSeconds;
    const controller = new AbortController();
    // The interrupt ends calls in flight; a call started after it is cleanup, and runs.
    const stops = [options.signal, this.interrupt?.aborted ? undefined : this.interrupt].filter((s) => s !== undefined);
    let timedOut = false;
    let timer: NodeJS.Timeout | undefined;
    let onStop: (() => void) | undefined;
    const stopped = new Promise<never>((_, reject) => {
      if (seconds > 0) {
        timer = setTimeout(() => {
          timedOut = true;
          controller.abort();
          reject(new EngineTimeoutError(this.address, operation, seconds, false));
        }, seconds * 1000);
      }
      onStop = () => {
        controller.abort();
        reject(new EngineInterruptedError(operation));
      };
      for (const s of stops) {
        if (s.aborted) onStop();
        else s.addEventListener('abort', onStop, { once: true });
      }
    });
    stopped.catch(() => {});
    try {
      return await Promise.race([fn(controller.signal), stopped]);
    } catch (err) {
      if (err instanceof EngineTimeoutError || err instanceof EngineInterruptedError) throw err;
      if (timedOut) throw new EngineTimeoutError(this.address, operation, seconds, false);
      if (controller.signal.aborted) throw new EngineInterruptedError(operation);
      throw this.mapError(err, operation);
    } finally {
      clearTimeout(timer);
      for (const s of stops) s.removeEventListener('abort', onStop!);
    }
  }

  /** Engine failures by what they are: no engine, an engine we cannot trust, or an HTTP status. */
  private mapError(err: unknown, operation: string): unknown {
    const e = err as { statusCode?: number; code?: unknown; message?: string; json?: unknown };
    if (typeof e.statusCode === 'number') {
      const json = e.json as { message?: unknown } | undefined;
      const message =
        typeof json?.message === 'string'
          ? json.message
          : typeof e.json === 'string' && e.json !== ''
            ? e.json
            : `HTTP status ${e.statusCode}`;
      return new EngineError(message.trim(), e.statusCode, operation);
    }
    if (typeof e.code !== 'string') return err;
    if (UNREACHABLE_CODES.has(e.code)) return new EngineUnreachableError(this.address, err);
    if (CERTIFICATE_CODES.has(e.code)) {
      const certPath =
        this.connection.kind === 'tcp' && this.connection.tls ? this.connection.tls.certPath : 'DOCKER_CERT_PATH';
      return new EngineUnreachableError(
        this.address,
        err,
        `its certificate does not verify against ${certPath}/ca.pem (${e.code})`,
      );
    }
    if (e.code === 'EPROTO' || e.code.startsWith('ERR_SSL_') || e.code.startsWith('ERR_TLS_')) {
      return new EngineUnreachableError(
        this.address,
        err,
        `the TLS handshake failed (${e.code}); does the engine speak TLS, and accept the client certificate in DOCKER_CERT_PATH?`,
      );
    }
    if (
      e.code === 'ECONNRESET' ||
      e.code === 'EPIPE' ||
      e.code === 'ECONNABORTED' ||
      e.code === 'HPE_INVALID_CONSTANT' ||
      e.code.startsWith('HPE_')
    ) {
      return new EngineUnreachableError(this.address, err, `the connection broke while ${operation} (${e.code})`);
    }
    return err;
  }
}

/** docker-modem's dial, which @types/dockerode does not describe. */
interface ModemDial {
  dial(
    options: Record<string, unknown>,
    callback: (err: (Error & { statusCode?: number; json?: unknown }) | null, data: unknown) => void,
  ): void;
}

/** The statuses of a call that worked: docker-modem fails every status it is not told is one. */
const OK_STATUSES = { 200: true, 201: true, 204: true };

function describeBytes(b: Buffer): string {
  return b.length === 0 ? 'an empty body' : `${b.length} bytes`;
}

/**
 * X-Registry-Auth as the engine reads it. Always sent, empty when there are no credentials: the
 * engine refuses a push that carries no auth header at all.
 */
function engineAuth(auth: RegistryAuth | undefined): object {
  if (!auth) return {};
  return {
    serveraddress: auth.serverAddress,
    ...(auth.username !== undefined ? { username: auth.username } : {}),
    ...(auth.password !== undefined ? { password: auth.password } : {}),
    ...(auth.identityToken !== undefined ? { identitytoken: auth.identityToken } : {}),
  };
}

/** `registry:5000/name:tag` → repo `registry:5000/name`, tag `tag` (default `latest`). */
export function splitReference(ref: string): { repo: string; tag: string } {
  const parsed = parseImageReference(ref);
  if (!parsed.ok) throw new EngineError(`${ref} is not an image reference: ${parsed.reason}`, 400, `tagging ${ref}`);
  // A digest names content: the engine cannot give that name to another image.
  if (parsed.value.digest)
    throw new EngineError(`${ref} names an image by digest, which cannot be given as a tag`, 400, `tagging ${ref}`);
  return { repo: parsed.value.name, tag: parsed.value.tag ?? 'latest' };
}

/** Splits the engine's multiplexed log format (8-byte frame headers) into stdout and stderr. */
function demultiplex(raw: Buffer): { stdout: string; stderr: string } {
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  let i = 0;
  while (i + 8 <= raw.length) {
    const kind = raw[i];
    const size = raw.readUInt32BE(i + 4);
    const frame = raw.subarray(i + 8, i + 8 + size);
    (kind === 2 ? err : out).push(frame);
    i += 8 + size;
  }
  return { stdout: Buffer.concat(out).toString('utf8'), stderr: Buffer.concat(err).toString('utf8') };
}
