// An in-memory Engine for fast tests of the code above the engine: it reads the build context,
// "runs" a Dockerfile by its instructions (RUN exit N fails), caches steps by content, and keeps
// images and tags. It runs no containers' code; real behaviour is tested against a real engine.

import { createHash } from 'node:crypto';
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

interface FakeImage extends ImageInfo {
  /** Cache keys of the steps that made it. */
  steps: string[];
}

export class FakeEngine implements Engine {
  readonly address = 'fake://engine';
  readonly images = new Map<string, FakeImage>();
  readonly tags = new Map<string, string>();
  /** Every build context received: file name to content. */
  readonly contexts: Array<Map<string, Buffer>> = [];
  /** What was pushed: reference to image id, as a registry would hold it. */
  readonly registry = new Map<string, string>();
  private readonly cache = new Set<string>();
  private readonly containers = new Map<string, ContainerSpec>();

  constructor(baseImages: string[] = []) {
    for (const ref of baseImages) this.addImage(ref, {});
  }

  /** Puts an image on the engine under `ref`; another `id` stands for the same name built again. */
  addImage(
    ref: string,
    labels: Record<string, string>,
    id = `sha256:${createHash('sha256').update(ref).digest('hex')}`,
  ): void {
    this.images.set(id, {
      id,
      tags: [],
      labels,
      env: [],
      user: '',
      workingDir: '',
      cmd: [],
      layers: [id],
      size: 0,
      steps: [],
    });
    this.tags.set(ref, id);
  }

  async ping() {
    return { version: 'fake', apiVersion: '1.41' };
  }

  async inspectImage(ref: string): Promise<ImageInfo | undefined> {
    const id = this.tags.get(ref) ?? (this.images.has(ref) ? ref : undefined);
    const image = id ? this.images.get(id) : undefined;
    return image && { ...image, tags: [...this.tags].filter(([, to]) => to === id).map(([tag]) => tag) };
  }

  async build(options: BuildOptions): Promise<{ imageId: string }> {
    const files = await readContext(options.context);
    this.contexts.push(files);
    const dockerfile = files.get('Dockerfile')?.toString('utf8');
    if (!dockerfile) throw new BuildError('Cannot locate specified Dockerfile: Dockerfile', []);
    const instructions = dockerfile.split('\n').filter((l) => l.trim() !== '' && !l.trimStart().startsWith('#'));
    const emit = options.onEvent ?? (() => {});
    const lines: string[] = [];
    let key = '';
    const labels: Record<string, string> = {};
    for (const [i, instruction] of instructions.entries()) {
      const step = i + 1;
      emit({ type: 'step', step, total: instructions.length, instruction });
      const [op, ...rest] = instruction.split(' ');
      const arg = rest.join(' ');
      if (op === 'FROM') {
        const base = await this.inspectImage(arg.split(' ')[0]!);
        if (!base) throw new BuildError(`pull access denied for ${arg}, repository does not exist`, lines);
        key = base.id;
        Object.assign(labels, base.labels);
        continue;
      }
      const copied = op === 'COPY' ? contentHash(files, arg.split(' ')[0]!) : '';
      key = createHash('sha256').update(`${key}\n${instruction}\n${copied}`).digest('hex');
      if (this.cache.has(key)) {
        emit({ type: 'cached', step });
        continue;
      }
      const exit = op === 'RUN' ? /exit (\d+)/.exec(arg) : null;
      if (exit && exit[1] !== '0') {
        lines.push(`The command '/bin/sh -c ${arg}' returned a non-zero code: ${exit[1]}`);
        throw new BuildError(`The command '/bin/sh -c ${arg}' returned a non-zero code: ${exit[1]}`, lines);
      }
      if (op === 'LABEL') for (const m of arg.matchAll(/"([^"]+)"="([^"]*)"/g)) labels[m[1]!] = m[2]!;
      this.cache.add(key);
    }
    const id = `sha256:${key}`;
    this.images.set(id, {
      id,
      tags: [],
      labels,
      env: [],
      user: '',
      workingDir: '',
      cmd: [],
      layers: [id],
      size: 0,
      steps: [],
    });
    return { imageId: id };
  }

  async tagImage(imageId: string, ref: string): Promise<void> {
    if (!this.images.has(imageId)) throw new EngineError(`No such image: ${imageId}`, 404);
    this.tags.set(ref, imageId);
  }

  async imageConfig(ref: string): Promise<ImageConfig | undefined> {
    const image = await this.inspectImage(ref);
    return (
      image && {
        id: image.id,
        architecture: 'amd64',
        os: 'linux',
        variant: undefined,
        config: { Labels: image.labels },
        layers: image.layers,
        parent: '',
      }
    );
  }

  async imageHistory(ref: string): Promise<HistoryItem[]> {
    if (!(await this.inspectImage(ref))) throw new EngineError(`No such image: ${ref}`, 404);
    return [];
  }

  /** Refused, as by an engine that needs every layer in an archive: the caller builds instead. */
  async loadImage(): Promise<string> {
    throw new EngineError('the fake engine loads no image archives', 501);
  }

  async removeImage(ref: string): Promise<void> {
    if (this.tags.delete(ref)) return;
    // By id, as the engine does with force: the image goes, and every tag naming it.
    for (const [tag, id] of this.tags) if (id === ref) this.tags.delete(tag);
    this.images.delete(ref);
  }

  async runContainer(spec: ContainerSpec): Promise<StartedContainer> {
    if (!(await this.inspectImage(spec.image))) throw new EngineError(`No such image: ${spec.image}`, 404);
    const id = createHash('sha256').update(spec.name).digest('hex');
    if (this.containers.has(id))
      throw new EngineError(`Conflict. The container name "/${spec.name}" is already in use`, 409);
    this.containers.set(id, spec);
    return { id, ports: Object.fromEntries((spec.publish ?? []).map((p) => [p, 40000 + p])) };
  }

  async waitContainer(): Promise<number> {
    return 0;
  }

  async containerLogs(): Promise<{ stdout: string; stderr: string }> {
    return { stdout: '', stderr: '' };
  }

  async stopContainer(): Promise<void> {}

  async removeContainer(id: string): Promise<void> {
    this.containers.delete(id);
  }

  async inspectContainer(id: string): Promise<ContainerState | undefined> {
    return this.containers.has(id) ? { running: false, exitCode: 0, oomKilled: false } : undefined;
  }

  async listContainers(label: string): Promise<string[]> {
    const [k, v] = label.split('=');
    return [...this.containers.entries()]
      .filter(([, s]) => s.labels?.[k!] !== undefined && (v === undefined || s.labels[k!] === v))
      .map(([id]) => id);
  }

  async pushImage(ref: string): Promise<PushResult> {
    const id = this.tags.get(ref);
    if (!id) throw new EngineError(`No such image: ${ref}`, 404);
    this.registry.set(ref, id);
    return { digest: `sha256:${createHash('sha256').update(`manifest ${id}`).digest('hex')}`, size: undefined };
  }

  async pullImage(ref: string): Promise<void> {
    const id = this.registry.get(ref);
    if (!id) throw new RegistryError(`manifest for ${ref} not found: manifest unknown`, ref);
    this.tags.set(ref, id);
  }
}

async function readContext(stream: NodeJS.ReadableStream): Promise<Map<string, Buffer>> {
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

function contentHash(files: Map<string, Buffer>, prefix: string): string {
  const h = createHash('sha256');
  for (const [name, content] of [...files.entries()].sort(([a], [b]) => (a < b ? -1 : 1))) {
    if (name.startsWith(prefix.replace(/\/$/, '') + '/') || name === prefix) h.update(name).update(content);
  }
  return h.digest('hex');
}
