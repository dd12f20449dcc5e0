// An in-memory Engine for fast tests of the code above the engine, held to the same contract as
// the real adapter (test/support/engine-contract.ts). It reads the build context and "runs" a
// Dockerfile by its instructions as the classic builder records them: one image per step, its
// parent the step before, a layer for COPY and for a RUN that changes something, none for the
// configuration steps, a history entry each, steps cached by content. `RUN exit N` fails. It loads
// image archives that leave out layers it has (as Docker does), unless told to need every layer (as
// Podman does). Containers run a tiny shell: `sh -c 'echo …; echo … >&2; exit N'`, $VARs from their
// environment; no other code. What a real engine does beyond this is tested against a real engine.

import { createHash, randomUUID } from 'node:crypto';
import { Readable } from 'node:stream';
import { extract } from 'tar-stream';
import {
  BuildError,
  EngineError,
  RegistryError,
  type BuildOptions,
  type ContainerSpec,
  type ContainerState,
  type Engine,
  type HistoryItem,
  type ImageConfig,
  type ImageInfo,
  type PushResult,
  type StartedContainer,
} from './engine.js';

interface FakeImage {
  id: string;
  /** Labels, Env, Cmd, User, WorkingDir, as the image's config JSON has them. */
  config: { Labels: Record<string, string>; Env: string[]; Cmd: string[]; User: string; WorkingDir: string };
  layers: string[];
  parent: string;
  /** This image's step first, then its parent's history. */
  history: HistoryItem[];
  size: number;
}

interface FakeContainer {
  spec: ContainerSpec;
  exitCode: number;
  stdout: string;
  stderr: string;
}

/** Steps that only change the configuration: the classic builder commits them without a layer. */
const CONFIG_ONLY = new Set(['LABEL', 'ENV', 'USER', 'CMD', 'WORKDIR', 'EXPOSE', 'ENTRYPOINT', 'ARG']);

export class FakeEngine implements Engine {
  readonly images = new Map<string, FakeImage>();
  readonly tags = new Map<string, string>();
  /** Every build context received: file name to content. */
  readonly contexts: Array<Map<string, Buffer>> = [];
  /** What was pushed: reference to image id, as a registry would hold it. */
  readonly registry = new Map<string, string>();
  /** Step images by the cache key of the step that made them. */
  private readonly stepCache = new Map<string, string>();
  private readonly containers = new Map<string, FakeContainer>();
  private readonly needsEveryLayer: boolean;

  constructor(baseImages: string[] = [], options: { needsEveryLayer?: boolean } = {}) {
    for (const ref of baseImages) this.addImage(ref, {});
    this.needsEveryLayer = options.needsEveryLayer ?? false;
  }

  /** Puts an image on the engine under `ref`; another `id` stands for the same name built again. */
  addImage(
    ref: string,
    labels: Record<string, string>,
    id = `sha256:${createHash('sha256').update(ref).digest('hex')}`,
  ): void {
    this.images.set(id, {
      id,
      config: { Labels: labels, Env: [], Cmd: [], User: '', WorkingDir: '' },
      layers: [digest(`layer of ${id}`)],
      parent: '',
      history: [{ id, created: 0, createdBy: `ADD ${ref} /`, comment: '', size: 1 }],
      size: 1,
    });
    this.tags.set(ref, id);
  }

  async inspectImage(ref: string): Promise<ImageInfo | undefined> {
    const image = this.image(ref);
    if (!image) return undefined;
    return {
      id: image.id,
      tags: [...this.tags].filter(([, to]) => to === image.id).map(([tag]) => tag),
      labels: { ...image.config.Labels },
      env: [...image.config.Env],
      user: image.config.User,
      workingDir: image.config.WorkingDir,
      cmd: [...image.config.Cmd],
      layers: [...image.layers],
      size: image.size,
    };
  }

  async build(options: BuildOptions): Promise<{ imageId: string }> {
    const files = await readTar(options.context);
    this.contexts.push(files);
    const dockerfile = files.get('Dockerfile')?.toString('utf8');
    if (!dockerfile) throw new BuildError('Cannot locate specified Dockerfile: Dockerfile', []);
    // One instruction a line, a line ending in \ continued on the next, as the engine reads them.
    const instructions = dockerfile
      .split('\n')
      .filter((l) => !l.trimStart().startsWith('#'))
      .join('\n')
      .replace(/\\\n\s*/g, ' ')
      .split('\n')
      .map((l) => l.trim())
      .filter((l) => l !== '');
    const emit = options.onEvent ?? (() => {});
    const args: Record<string, string> = { ...options.buildArgs };
    const stages = new Map<string, FakeImage>();
    const created: string[] = [];
    // With noCache every step is new: a key of this build's own.
    const salt = options.noCache ? randomUUID() : '';
    let current: FakeImage | undefined;
    let key = '';
    for (const [i, instruction] of instructions.entries()) {
      const step = i + 1;
      emit({ type: 'step', step, total: instructions.length, instruction });
      const [op = '', ...rest] = instruction.split(' ');
      const arg = rest.join(' ');
      if (op === 'ARG' && current === undefined) {
        const [name = '', value] = arg.split('=');
        args[name] ??= value ?? '';
        continue;
      }
      if (op === 'FROM') {
        // The stage before ends here: a target stage is the image.
        if (options.target !== undefined && current && stages.get(options.target) === current) break;
        const [from = '', as, stage] = arg.replace(/\$\{(\w+)\}/g, (_, n: string) => args[n] ?? '').split(' ');
        const base = stages.get(from) ?? (from === 'scratch' ? scratch() : this.image(from));
        if (!base) {
          const err = new BuildError(`pull access denied for ${from}, repository does not exist`, []);
          err.createdImages.push(...created);
          throw err;
        }
        current = base;
        key = `${base.id}${salt}`;
        if (as?.toUpperCase() === 'AS' && stage) stages.set(stage, current);
        continue;
      }
      if (!current) throw new BuildError('no build stage in context', []);
      const copied = op === 'COPY' ? copiedContent(files, arg, stages) : '';
      key = hex(`${key}\n${instruction}\n${copied}`);
      const cached = this.stepCache.get(key);
      if (cached && this.images.has(cached)) {
        emit({ type: 'cached', step });
        current = this.images.get(cached)!;
        this.replaceStage(stages, current);
        continue;
      }
      const exit = op === 'RUN' ? /exit (\d+)/.exec(arg) : null;
      if (exit && exit[1] !== '0') {
        const line = `The command '/bin/sh -c ${arg}' returned a non-zero code: ${exit[1]}`;
        const err = new BuildError(line, [line]);
        err.createdImages.push(...created);
        throw err;
      }
      current = this.step(current, key, op, arg, copied);
      created.push(current.id);
      this.stepCache.set(key, current.id);
      this.replaceStage(stages, current);
    }
    if (!current) throw new BuildError('no build stage in context', []);
    return { imageId: current.id };
  }

  async tagImage(imageId: string, ref: string): Promise<void> {
    if (!this.images.has(imageId)) throw new EngineError(`No such image: ${imageId}`, 404);
    this.tags.set(ref, imageId);
  }

  async imageConfig(ref: string): Promise<ImageConfig | undefined> {
    const image = this.image(ref);
    return (
      image && {
        id: image.id,
        architecture: 'amd64',
        os: 'linux',
        variant: undefined,
        config: structuredClone(image.config),
        layers: [...image.layers],
        parent: image.parent,
      }
    );
  }

  async imageHistory(ref: string): Promise<HistoryItem[]> {
    const image = this.image(ref);
    if (!image) throw new EngineError(`No such image: ${ref}`, 404);
    return image.history.map((h) => ({ ...h }));
  }

  async loadImage(archive: Buffer): Promise<string> {
    const files = await readTar(Readable.from([archive])).catch(() => undefined);
    const manifestText = files?.get('manifest.json')?.toString('utf8');
    let manifest: Array<{ Config: string; Layers: string[] }>;
    try {
      manifest = JSON.parse(manifestText ?? '') as typeof manifest;
    } catch {
      throw new EngineError('invalid tar header: not an image archive', 500);
    }
    const entry = manifest[0];
    const configBytes = entry && files?.get(entry.Config);
    if (!entry || !configBytes) throw new EngineError('the archive has no image config', 500);
    const config = JSON.parse(configBytes.toString('utf8')) as {
      config: FakeImage['config'];
      rootfs: { diff_ids: string[] };
      history: Array<{ created: string; created_by: string; comment?: string; empty_layer?: boolean }>;
    };
    const known = new Set([...this.images.values()].flatMap((i) => i.layers));
    const sizes = new Map<string, number>();
    for (const [i, diffId] of config.rootfs.diff_ids.entries()) {
      const tar = files!.get(entry.Layers[i] ?? '');
      if (tar) sizes.set(diffId, tar.length);
      else if (this.needsEveryLayer || !known.has(diffId))
        throw new EngineError(`layer ${diffId} is not in the archive, and the engine does not have it`, 500);
    }
    const id = `sha256:${createHash('sha256').update(configBytes).digest('hex')}`;
    let layer = 0;
    const history = config.history.map((h) => {
      const diffId = h.empty_layer ? undefined : config.rootfs.diff_ids[layer++];
      return {
        id: undefined as string | undefined,
        created: Date.parse(h.created) / 1000,
        createdBy: h.created_by,
        comment: h.comment ?? '',
        size: diffId === undefined ? 0 : (sizes.get(diffId) ?? 1),
      };
    });
    history.reverse();
    if (history[0]) history[0].id = id;
    const c = config.config;
    this.images.set(id, {
      id,
      config: {
        Labels: c.Labels ?? {},
        Env: c.Env ?? [],
        Cmd: c.Cmd ?? [],
        User: c.User ?? '',
        WorkingDir: c.WorkingDir ?? '',
      },
      layers: config.rootfs.diff_ids,
      parent: '',
      history,
      size: history.reduce((n, h) => n + h.size, 0),
    });
    return id;
  }

  async removeImage(ref: string): Promise<void> {
    if (this.tags.delete(ref)) return;
    // By id, as the engine does with force: the image goes, and every tag naming it.
    for (const [tag, id] of this.tags) if (id === ref) this.tags.delete(tag);
    this.images.delete(ref);
  }

  async runContainer(spec: ContainerSpec): Promise<StartedContainer> {
    if (!this.image(spec.image)) throw new EngineError(`No such image: ${spec.image}`, 404);
    const id = digest(`container ${spec.name}`).slice('sha256:'.length);
    if (this.containers.has(id))
      throw new EngineError(`Conflict. The container name "/${spec.name}" is already in use`, 409);
    this.containers.set(id, { spec, ...runShell(spec.cmd ?? [], spec.env ?? []) });
    return { id, ports: Object.fromEntries((spec.publish ?? []).map((p) => [p, 40000 + p])) };
  }

  async waitContainer(id: string): Promise<number> {
    const c = this.containers.get(id);
    if (!c) throw new EngineError(`No such container: ${id}`, 404);
    return c.exitCode;
  }

  async containerLogs(id: string): Promise<{ stdout: string; stderr: string }> {
    const c = this.containers.get(id);
    if (!c) throw new EngineError(`No such container: ${id}`, 404);
    return { stdout: c.stdout, stderr: c.stderr };
  }

  async removeContainer(id: string): Promise<void> {
    this.containers.delete(id);
  }

  async inspectContainer(id: string): Promise<ContainerState | undefined> {
    const c = this.containers.get(id);
    return c && { running: false, exitCode: c.exitCode, oomKilled: false };
  }

  async pushImage(ref: string): Promise<PushResult> {
    const id = this.tags.get(ref);
    if (!id) throw new EngineError(`No such image: ${ref}`, 404);
    this.registry.set(ref, id);
    return { digest: digest(`manifest ${id}`), size: undefined };
  }

  async pullImage(ref: string): Promise<void> {
    const id = this.registry.get(ref);
    if (!id || !this.images.has(id)) throw new RegistryError(`manifest for ${ref} not found: manifest unknown`, ref);
    this.tags.set(ref, id);
  }

  private image(ref: string): FakeImage | undefined {
    const id = this.tags.get(ref) ?? ref;
    return this.images.get(id);
  }

  /** The image one step makes on `parent`. */
  private step(parent: FakeImage, key: string, op: string, arg: string, copied: string): FakeImage {
    const id = `sha256:${key}`;
    const config = structuredClone(parent.config);
    let layer: string | undefined;
    let size = 0;
    if (op === 'LABEL')
      for (const m of arg.matchAll(/"?([\w.\-/]+)"?="((?:[^"\\]|\\.)*)"/g)) config.Labels[m[1]!] = m[2]!;
    if (op === 'ENV')
      for (const m of arg.matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g))
        config.Env = [...config.Env.filter((e) => !e.startsWith(`${m[1]}=`)), `${m[1]}=${m[2]}`];
    if (op === 'USER') config.User = arg;
    if (op === 'WORKDIR') config.WorkingDir = arg;
    if (op === 'CMD') config.Cmd = arg.startsWith('[') ? (JSON.parse(arg) as string[]) : ['/bin/sh', '-c', arg];
    if (op === 'COPY' || (op === 'RUN' && !/^exit 0$/.test(arg))) {
      // A RUN that changes nothing (`exit 0`) commits no layer, as the classic builder does.
      layer = digest(`layer ${key}`);
      size = Math.max(1, copied.length);
    }
    const createdBy = CONFIG_ONLY.has(op)
      ? `/bin/sh -c #(nop)  ${op} ${arg}`
      : op === 'RUN'
        ? `/bin/sh -c ${arg}`
        : `/bin/sh -c #(nop) ${op} ${arg}`;
    const image: FakeImage = {
      id,
      config,
      layers: layer ? [...parent.layers, layer] : [...parent.layers],
      parent: parent.id,
      history: [{ id, created: 0, createdBy, comment: '', size }, ...parent.history],
      size: parent.size + size,
    };
    this.images.set(id, image);
    return image;
  }

  private replaceStage(stages: Map<string, FakeImage>, image: FakeImage): void {
    // The stage being built is the last one named: its name now means its latest image.
    const last = [...stages.keys()].at(-1);
    if (last !== undefined && stages.get(last)?.id === image.parent) stages.set(last, image);
  }
}

/** `FROM scratch`: nothing at all. */
function scratch(): FakeImage {
  return {
    id: '',
    config: { Labels: {}, Env: [], Cmd: [], User: '', WorkingDir: '' },
    layers: [],
    parent: '',
    history: [],
    size: 0,
  };
}

/** What a COPY copies, as a digest: the context's files under its source (another stage's: its id). */
function copiedContent(files: Map<string, Buffer>, arg: string, stages: Map<string, FakeImage>): string {
  const from = /^--from=(\S+)/.exec(arg);
  if (from) return stages.get(from[1]!)?.id ?? from[1]!;
  const source = arg.split(' ')[0]!.replace(/\/$/, '');
  const h = createHash('sha256');
  let any = false;
  for (const [name, content] of [...files.entries()].sort(([a], [b]) => (a < b ? -1 : 1))) {
    if (name === source || name.startsWith(`${source}/`) || source === '.') {
      h.update(name).update(content);
      any = true;
    }
  }
  return any ? h.digest('hex') : '';
}

/**
 * The fake's shell: `sh -c` with `;`-separated `echo WORDS` (`>&2` for stderr) and `exit N`,
 * $NAME and ${NAME} from the container's environment. Any other command runs and says nothing.
 */
function runShell(cmd: string[], env: string[]): { exitCode: number; stdout: string; stderr: string } {
  const out = { exitCode: 0, stdout: '', stderr: '' };
  if (!(cmd.length === 3 && /^(\/bin\/)?sh$/.test(cmd[0]!) && cmd[1] === '-c')) return out;
  const vars = new Map(env.map((e) => [e.slice(0, e.indexOf('=')), e.slice(e.indexOf('=') + 1)]));
  for (const statement of cmd[2]!.split(';').map((s) => s.trim())) {
    const expanded = statement.replace(/\$\{?(\w+)\}?/g, (_, n: string) => vars.get(n) ?? '');
    const exit = /^exit (\d+)$/.exec(expanded);
    if (exit) {
      out.exitCode = Number(exit[1]);
      break;
    }
    const echo = /^echo (.*?)( >&2)?$/.exec(expanded);
    if (echo) out[echo[2] ? 'stderr' : 'stdout'] += `${echo[1]!.replace(/^'(.*)'$/, '$1')}\n`;
  }
  return out;
}

function digest(text: string): string {
  return `sha256:${hex(text)}`;
}

function hex(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

async function readTar(stream: NodeJS.ReadableStream): Promise<Map<string, Buffer>> {
  const files = new Map<string, Buffer>();
  const ex = extract();
  await new Promise<void>((resolve, reject) => {
    ex.on('entry', (header, body, next) => {
      const chunks: Buffer[] = [];
      body.on('data', (c: unknown) => chunks.push(c as Buffer));
      body.on('end', () => {
        if (header.type === 'file') files.set(header.name, Buffer.concat(chunks));
        next();
      });
    });
    ex.on('finish', resolve);
    ex.on('error', reject);
    stream.on('error', reject);
    stream.pipe(ex as unknown as NodeJS.WritableStream);
  });
  return files;
}
