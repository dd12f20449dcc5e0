// The Engine interface over a Docker Engine API (Docker, or Podman's compatible socket), through
// dockerode. The only module that imports dockerode.

import Docker from 'dockerode';
import type { Readable } from 'node:stream';
import { followBuild } from './build-stream.js';
import {
  EngineError,
  EngineUnreachableError,
  type BuildOptions,
  type ContainerSpec,
  type ContainerState,
  type Engine,
  type EngineInfo,
  type ImageInfo,
  type StartedContainer,
} from './engine.js';

const DEFAULT_SOCKET = '/var/run/docker.sock';
const UNREACHABLE_CODES = new Set(['ECONNREFUSED', 'ENOENT', 'EACCES', 'EHOSTUNREACH', 'ENOTFOUND', 'ETIMEDOUT']);

/** `dockerHost` is DOCKER_HOST as the user set it (unix:// or tcp://), or undefined for the local socket. */
export function dockerEngine(dockerHost: string | undefined): Engine {
  const address = dockerHost && dockerHost !== '' ? dockerHost : `unix://${DEFAULT_SOCKET}`;
  return new DockerEngine(new Docker(connectionOptions(address)), address);
}

function connectionOptions(address: string): Docker.DockerOptions {
  if (address.startsWith('unix://')) return { socketPath: address.slice('unix://'.length) || DEFAULT_SOCKET };
  const url = new URL(address.replace(/^tcp:/, 'http:'));
  return { host: url.hostname, port: Number(url.port || 2375), protocol: 'http' };
}

class DockerEngine implements Engine {
  constructor(
    private readonly docker: Docker,
    readonly address: string,
  ) {}

  async ping(): Promise<EngineInfo> {
    const v = await this.call(() => this.docker.version());
    return { version: v.Version, apiVersion: v.ApiVersion };
  }

  async inspectImage(ref: string): Promise<ImageInfo | undefined> {
    try {
      const i = await this.call(() => this.docker.getImage(ref).inspect());
      return {
        id: i.Id,
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
    const response = (await this.call(() =>
      this.docker.buildImage(options.context as unknown as NodeJS.ReadableStream, {
        // rm and forcerm: no intermediate container is left behind, even by a failed step.
        rm: true,
        forcerm: true,
        ...(options.target ? { target: options.target } : {}),
        ...(options.buildArgs ? { buildargs: options.buildArgs } : {}),
        ...(options.noCache ? { nocache: true } : {}),
        abortSignal: options.signal,
      } as Docker.ImageBuildOptions),
    )) as unknown as Readable;
    return followBuild(response, options.onEvent);
  }

  async tagImage(imageId: string, ref: string): Promise<void> {
    const { repo, tag } = splitReference(ref);
    await this.call(() => this.docker.getImage(imageId).tag({ repo, tag }));
  }

  async imageHistory(ref: string): Promise<string[]> {
    const history = (await this.call(() => this.docker.getImage(ref).history())) as Array<{ CreatedBy: string }>;
    return history.map((h) => h.CreatedBy);
  }

  async removeImage(ref: string): Promise<void> {
    try {
      await this.call(() => this.docker.getImage(ref).remove({ force: true }));
    } catch (err) {
      if (!(err instanceof EngineError && err.statusCode === 404)) throw err;
    }
  }

  async runContainer(spec: ContainerSpec): Promise<StartedContainer> {
    const exposed = Object.fromEntries((spec.publish ?? []).map((p) => [`${p}/tcp`, {}]));
    const bindings = Object.fromEntries((spec.publish ?? []).map((p) => [`${p}/tcp`, [{ HostIp: '127.0.0.1', HostPort: '' }]]));
    const container = await this.call(() =>
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
      }),
    );
    try {
      await this.call(() => container.start());
      const info = await this.call(() => container.inspect());
      const ports: Record<number, number> = {};
      for (const p of spec.publish ?? []) {
        const bound = info.NetworkSettings.Ports?.[`${p}/tcp`]?.[0]?.HostPort;
        if (bound) ports[p] = Number(bound);
      }
      return { id: container.id, ports };
    } catch (err) {
      await this.removeContainer(container.id);
      throw err;
    }
  }

  async waitContainer(id: string, signal?: AbortSignal): Promise<number> {
    const result = (await this.call(() => this.docker.getContainer(id).wait({ abortSignal: signal } as object))) as { StatusCode: number };
    return result.StatusCode;
  }

  async containerLogs(id: string): Promise<{ stdout: string; stderr: string }> {
    const raw = (await this.call(() => this.docker.getContainer(id).logs({ stdout: true, stderr: true, follow: false }))) as unknown as Buffer;
    return demultiplex(raw);
  }

  async stopContainer(id: string, graceSeconds: number): Promise<void> {
    try {
      await this.call(() => this.docker.getContainer(id).stop({ t: graceSeconds }));
    } catch (err) {
      // 304: already stopped; 404: already gone. Either way it is stopped.
      if (!(err instanceof EngineError && (err.statusCode === 304 || err.statusCode === 404))) throw err;
    }
  }

  async removeContainer(id: string): Promise<void> {
    try {
      await this.call(() => this.docker.getContainer(id).remove({ force: true, v: true }));
    } catch (err) {
      // 404: gone; 409: removal already in progress.
      if (!(err instanceof EngineError && (err.statusCode === 404 || err.statusCode === 409))) throw err;
    }
  }

  async inspectContainer(id: string): Promise<ContainerState | undefined> {
    try {
      const info = await this.call(() => this.docker.getContainer(id).inspect());
      return { running: info.State.Running, exitCode: info.State.ExitCode, oomKilled: info.State.OOMKilled };
    } catch (err) {
      if (err instanceof EngineError && err.statusCode === 404) return undefined;
      throw err;
    }
  }

  async listContainers(label: string): Promise<string[]> {
    const list = await this.call(() => this.docker.listContainers({ all: true, filters: { label: [label] } }));
    return list.map((c) => c.Id);
  }

  private async call<T>(fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (err) {
      const e = err as { statusCode?: number; code?: string; message?: string; json?: { message?: string } };
      if (e.code && UNREACHABLE_CODES.has(e.code)) throw new EngineUnreachableError(this.address, err);
      if (e.statusCode !== undefined) throw new EngineError(e.json?.message ?? e.message ?? `engine error ${e.statusCode}`, e.statusCode);
      throw err;
    }
  }
}

/** `registry:5000/name:tag` → repo `registry:5000/name`, tag `tag` (default `latest`). */
export function splitReference(ref: string): { repo: string; tag: string } {
  const at = ref.indexOf('@');
  if (at >= 0) return { repo: ref.slice(0, at), tag: ref.slice(at + 1) };
  const colon = ref.lastIndexOf(':');
  if (colon > ref.lastIndexOf('/')) return { repo: ref.slice(0, colon), tag: ref.slice(colon + 1) };
  return { repo: ref, tag: 'latest' };
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
