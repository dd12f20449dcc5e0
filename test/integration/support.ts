// What the integration tests share: the real engine (or a loud reason why not), names with the
// test prefix, cleanup of everything they create, and plain HTTP on 127.0.0.1.

import { expect } from 'chai';
import { cp, mkdtemp, rm } from 'node:fs/promises';
import { request as httpRequest } from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { dockerEngine } from '../../lib/engine/docker-engine.js';
import type { ContainerSpec, Engine, StartedContainer } from '../../lib/engine/engine.js';
import { main } from '../../lib/cli/main.js';
import { packageFile, packageVersion } from '../../lib/package-root.js';
import { bundledBuilderImage, type BuilderKind } from '../../lib/plan/builders.js';
import { containersLabelled, engineApiVersion, stopContainer } from '../support/docker.js';

/**
 * Names of everything a test run creates start with this; CORTEX_S2I_TEST_PREFIX keeps two runs
 * on one engine (two checkouts, say) out of each other's way.
 */
export const PREFIX = process.env.CORTEX_S2I_TEST_PREFIX || 'cortex-s2i-test';
/** Label on every container a test starts, with PREFIX as its value: cleanup removes only this run's. */
export const TEST_LABEL = 'io.cortex-s2i.test';
export const EXAMPLE = packageFile('fixtures', 'finance_income_prediction');
/** A project with one route per style of route target, and train functions that misbehave on request. */
export const ROUTE_STYLES = packageFile('fixtures', 'route_styles');
/** A one-API Cortex project whose answer names the VERSION its image was built with. */
export const VERSIONED_API = packageFile('fixtures', 'versioned_api');

/**
 * The real engine with the bundled builders on it. Under CI=true a missing engine fails the suite;
 * elsewhere the suite is skipped with a banner saying why and how to run it.
 */
export async function realEngine(ctx: Mocha.Context): Promise<Engine> {
  const engine = dockerEngine(process.env.DOCKER_HOST);
  let reason: string | undefined;
  try {
    await engineApiVersion();
    for (const kind of ['train', 'daemon']) {
      const ref = bundledBuilderImage(
        kind as BuilderKind,
        packageVersion(),
        process.env.CORTEX_S2I_BUILDER_REPO || undefined,
      );
      if (!(await engine.inspectImage(ref))) reason = `the builder image ${ref} is missing`;
    }
  } catch (err) {
    reason = `no Docker engine answers (${(err as Error).message})`;
  }
  if (!reason) return engine;
  if (process.env.CI === 'true')
    throw new Error(`integration suite cannot run under CI: ${reason}; 'make test' sets up the engine and builders`);
  console.warn(
    `\n*** INTEGRATION SUITE SKIPPED: ${reason}.\n*** Run 'make test' (it starts the engine and builds the builders) to run it.\n`,
  );
  ctx.skip();
}

/** Tracks what a suite creates and removes it all, even after a failure. */
export class Cleanup {
  private readonly images: string[] = [];
  private readonly dirs: string[] = [];
  constructor(private readonly engine: () => Engine) {}

  image(ref: string): string {
    this.images.push(ref);
    return ref;
  }

  async tempDir(label: string): Promise<string> {
    const dir = await mkdtemp(path.join(tmpdir(), `${PREFIX}-${label}-`));
    this.dirs.push(dir);
    return dir;
  }

  /** A copy of the example project, to edit without touching the committed one. */
  async exampleCopy(): Promise<string> {
    const dir = await this.tempDir('project');
    const copy = path.join(dir, 'finance_income_prediction');
    await cp(EXAMPLE, copy, {
      recursive: true,
      filter: (src) => !src.includes(`${path.sep}models${path.sep}`) || src.endsWith('.gitkeep'),
    });
    return copy;
  }

  async run(): Promise<void> {
    const engine = this.engine();
    for (const id of await containersLabelled(`${TEST_LABEL}=${PREFIX}`)) await engine.removeContainer(id);
    for (const ref of this.images) await engine.removeImage(ref);
    for (const dir of this.dirs) await rm(dir, { recursive: true, force: true });
  }
}

export async function startContainer(engine: Engine, spec: Omit<ContainerSpec, 'labels'>): Promise<StartedContainer> {
  return engine.runContainer({ ...spec, labels: { [TEST_LABEL]: PREFIX } });
}

let throwaway = 0;

/** Runs a command in a throwaway container of `image` (through its entry point); its stdout. */
export async function runInImage(engine: Engine, image: string, cmd: string[], okStatuses = [0]): Promise<string> {
  const c = await startContainer(engine, { image, name: `${PREFIX}-run-${process.pid}-${++throwaway}`, cmd });
  try {
    const status = await engine.waitContainer(c.id);
    const { stdout, stderr } = await engine.containerLogs(c.id);
    expect(okStatuses, `${cmd.join(' ')}: ${stderr}`).to.include(status);
    return stdout;
  } finally {
    await engine.removeContainer(c.id);
  }
}

/**
 * Serves `image` with `models` mounted, posts `body` to `route`, then stops it as `docker stop`
 * does: the answer, the container's exit status and how long the stop took.
 */
export async function predictThenStop(
  engine: Engine,
  spec: { image: string; name: string; models: string; route: string; body: string; env?: string[] },
): Promise<{ json: unknown; stopStatus: number; stopSeconds: number }> {
  const c = await startContainer(engine, {
    image: spec.image,
    name: spec.name,
    ...(spec.env ? { env: spec.env } : {}),
    binds: [{ host: spec.models, container: '/action/models', readOnly: true }],
    publish: [5000],
  });
  try {
    const port = c.ports[5000]!;
    await waitForHealth(port);
    const r = await postJson(port, spec.route, spec.body);
    expect(r.status, JSON.stringify(r.json)).to.equal(200);
    const started = Date.now();
    await stopContainer(c.id, 10);
    const stopSeconds = (Date.now() - started) / 1000;
    return { json: r.json, stopStatus: await engine.waitContainer(c.id), stopSeconds };
  } finally {
    await engine.removeContainer(c.id);
  }
}

/** Runs the CLI in this process against the real engine, capturing what it prints. */
export async function cli(...argv: string[]): Promise<{ code: number; out: string; err: string }> {
  return cliWith(process.env, ...argv);
}

export async function cliWith(
  env: NodeJS.ProcessEnv,
  ...argv: string[]
): Promise<{ code: number; out: string; err: string }> {
  const out: string[] = [];
  const err: string[] = [];
  const code = await main(argv, { env, output: { out: (l) => out.push(l), err: (l) => err.push(l) } });
  return { code, out: out.join('\n'), err: err.join('\n') };
}

export async function waitForHealth(port: number, seconds = 60): Promise<void> {
  const until = Date.now() + seconds * 1000;
  let last = '';
  while (Date.now() < until) {
    try {
      // A connection made while the server is still starting can stall: each try has its own limit.
      const r = await fetch(`http://127.0.0.1:${port}/health`, { signal: AbortSignal.timeout(2000) });
      if (r.status === 200) return;
      last = `status ${r.status}`;
    } catch (err) {
      last = (err as Error).message;
    }
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
  throw new Error(`no healthy answer on 127.0.0.1:${port} within ${seconds}s (${last})`);
}

export async function postJson(port: number, route: string, body: string): Promise<{ status: number; json: unknown }> {
  const r = await fetch(`http://127.0.0.1:${port}/${route}`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body,
    signal: AbortSignal.timeout(30_000),
  });
  return { status: r.status, json: await r.json() };
}

/** Waits until GET /ready answers 200 (every worker has loaded every route). */
export async function waitForReady(port: number, seconds = 60): Promise<void> {
  const until = Date.now() + seconds * 1000;
  let last = '';
  while (Date.now() < until) {
    try {
      const r = await fetch(`http://127.0.0.1:${port}/ready`, { signal: AbortSignal.timeout(2000) });
      if (r.status === 200) return;
      last = `status ${r.status}: ${await r.text()}`;
    } catch (err) {
      last = (err as Error).message;
    }
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  throw new Error(`not ready on 127.0.0.1:${port} within ${seconds}s (${last})`);
}

export interface RawResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

/**
 * One HTTP request on a connection of its own, closed afterwards: unlike fetch's pooled
 * connections, successive requests reach whichever worker accepts them, and any header can be sent.
 */
export function rawRequest(
  port: number,
  options: {
    method?: string;
    path: string;
    headers?: Record<string, string>;
    body?: string | Buffer;
    timeoutMs?: number;
  },
): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      {
        host: '127.0.0.1',
        port,
        method: options.method ?? 'GET',
        path: options.path,
        headers: options.headers ?? {},
        agent: false,
        timeout: options.timeoutMs ?? 30_000,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () =>
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }),
        );
        res.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(new Error(`no answer from 127.0.0.1:${port}${options.path} in time`)));
    req.on('error', reject);
    req.end(options.body);
  });
}

/**
 * A container's stderr JSON lines once `until` holds of them (or after `seconds`, as they are):
 * the predict server may hold a request's line up to ACCESS_LOG_FLUSH seconds (0.5 by default)
 * to write it together with others.
 */
export async function stderrLinesUntil(
  engine: Engine,
  id: string,
  until: (lines: Array<Record<string, unknown>>) => boolean,
  seconds = 5,
): Promise<Array<Record<string, unknown>>> {
  const deadline = Date.now() + seconds * 1000;
  for (;;) {
    const lines = jsonLines((await engine.containerLogs(id)).stderr);
    if (until(lines) || Date.now() > deadline) return lines;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** The JSON lines of a log, each parsed; a line that is not JSON fails the test with the line. */
export function jsonLines(text: string): Array<Record<string, unknown>> {
  return text
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => {
      try {
        return JSON.parse(l) as Record<string, unknown>;
      } catch {
        throw new Error(`a log line is not JSON: ${l}`);
      }
    });
}
