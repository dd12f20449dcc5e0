// A fake Docker engine over HTTP on 127.0.0.1, for what a real engine will not do on request:
// stall, refuse with an HTTP error, or answer malformed. Each test scripts its routes; anything
// unscripted answers 404 as an engine would.

import { spawn } from 'node:child_process';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { packageFile } from '../../lib/package-root.js';

export type Route = (req: IncomingMessage, res: ServerResponse, body: () => Promise<Buffer>) => void | Promise<void>;

export interface Request {
  method: string;
  path: string;
}

/** An image the bundled builder check accepts, as GET /images/{name}/json answers it. */
export const IMAGE_JSON = {
  Id: `sha256:${'a'.repeat(64)}`,
  RepoTags: ['builder:1'],
  Config: { Labels: {}, Env: [], User: '1001', Cmd: [] },
  RootFS: { Layers: [] },
  Size: 1,
};

export class FakeHttpEngine {
  readonly requests: Request[] = [];
  private readonly sockets = new Set<Socket>();
  private waiters: Array<{ match: (r: Request) => boolean; resolve: () => void }> = [];

  private constructor(
    private readonly server: Server,
    private readonly routes: Array<{ method: string; path: RegExp; route: Route }>,
  ) {}

  static async start(routes: Array<[string, RegExp, Route]>): Promise<FakeHttpEngine> {
    const table = routes.map(([method, path, route]) => ({ method, path, route }));
    const server = createServer();
    const engine = new FakeHttpEngine(server, table);
    server.on('request', (req, res) => void engine.handle(req, res));
    server.on('connection', (s) => {
      engine.sockets.add(s);
      s.on('close', () => engine.sockets.delete(s));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return engine;
  }

  get host(): string {
    return `tcp://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  /** Resolves once a request matching `method` and `path` has arrived. */
  received(method: string, path: RegExp): Promise<void> {
    const match = (r: Request) => r.method === method && path.test(r.path);
    if (this.requests.some(match)) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push({ match, resolve }));
  }

  async close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = decodeURIComponent((req.url ?? '/').split('?')[0]!);
    const request = { method: req.method ?? 'GET', path };
    this.requests.push(request);
    this.waiters = this.waiters.filter((w) => (w.match(request) ? (w.resolve(), false) : true));
    let read: Promise<Buffer> | undefined;
    const body = () =>
      (read ??= new Promise<Buffer>((resolve) => {
        const chunks: Buffer[] = [];
        req.on('data', (c: Buffer) => chunks.push(c));
        req.on('end', () => resolve(Buffer.concat(chunks)));
        req.on('error', () => resolve(Buffer.concat(chunks)));
      }));
    const route = this.routes.find((r) => r.method === request.method && r.path.test(path));
    if (!route) {
      res
        .writeHead(404, { 'Content-Type': 'application/json' })
        .end(JSON.stringify({ message: `no such route ${path}` }));
      return;
    }
    await route.route(req, res, body);
  }
}

/** Never answers. */
export const stall: Route = () => {};

export function json(status: number, value: unknown): Route {
  return (_req, res) => {
    res.writeHead(status, { 'Content-Type': 'application/json' }).end(JSON.stringify(value));
  };
}

/** Reads the whole context, then answers a build stream of these messages (and stays open if `hang`). */
export function buildStream(messages: unknown[], hang = false): Route {
  return async (_req, res, body) => {
    await body();
    res.writeHead(200, { 'Content-Type': 'application/json' });
    for (const m of messages) res.write(`${typeof m === 'string' ? m : JSON.stringify(m)}\n`);
    if (!hang) res.end();
  };
}

export interface CliRun {
  code: number | null;
  out: string;
  err: string;
  /** Milliseconds from the start to the exit. */
  ms: number;
}

/** Runs bin/cortex-s2i.js in a child process; `whileRunning` may signal it. */
export async function runCli(
  args: string[],
  env: NodeJS.ProcessEnv,
  whileRunning?: (child: ReturnType<typeof spawn>) => Promise<void>,
  cwd?: string,
): Promise<CliRun> {
  const started = Date.now();
  const child = spawn(process.execPath, [packageFile('bin', 'cortex-s2i.js'), ...args], {
    env: { ...process.env, ...env },
    ...(cwd ? { cwd } : {}),
  });
  let out = '';
  let err = '';
  child.stdout!.on('data', (c: Buffer) => (out += c.toString()));
  child.stderr!.on('data', (c: Buffer) => (err += c.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  if (whileRunning) await whileRunning(child);
  const code = await exited;
  return { code, out, err, ms: Date.now() - started };
}
