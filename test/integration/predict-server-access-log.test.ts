// The predict server's request lines on a real engine: held to share a write (ACCESS_LOG_FLUSH),
// they still reach `docker logs` soon after the request without more traffic, and none is lost
// when the container is stopped.

import { expect } from 'chai';
import path from 'node:path';
import type { Engine, StartedContainer } from '../../lib/engine/engine.js';
import {
  Cleanup,
  cli,
  jsonLines,
  PREFIX,
  rawRequest,
  realEngine,
  ROUTE_STYLES,
  startContainer,
  waitForReady,
} from './support.js';
import { stopContainer } from '../support/docker.js';

const IMAGE = `${PREFIX}-access-log-predict`;

describe('the predict server access lines on a real engine', function () {
  this.timeout(5 * 60 * 1000);
  let engine: Engine;
  const cleanup = new Cleanup(() => engine);
  let serial = 0;

  before(async function () {
    engine = await realEngine(this);
    const built = await cli('build', path.join(ROUTE_STYLES, 'styles'), 'daemon', cleanup.image(IMAGE));
    expect(built.code, built.err).to.equal(0);
  });
  after(() => cleanup.run());

  async function serve(env: string[]): Promise<StartedContainer & { port: number }> {
    const c = await startContainer(engine, {
      image: IMAGE,
      name: `${PREFIX}-access-log-${process.pid}-${++serial}`,
      env,
      binds: [{ host: path.join(ROUTE_STYLES, 'models'), container: '/action/models', readOnly: true }],
      publish: [5000],
    });
    return { ...c, port: c.ports[5000]! };
  }

  async function predict(port: number): Promise<string> {
    const r = await rawRequest(port, {
      method: 'POST',
      path: '/function/predict',
      headers: { 'Content-Type': 'application/json' },
      body: '[1]',
    });
    expect(r.status, r.body).to.equal(200);
    return r.headers['x-request-id'] as string;
  }

  async function requestIds(id: string): Promise<string[]> {
    return jsonLines((await engine.containerLogs(id)).stderr)
      .filter((l) => l.event === 'request')
      .map((l) => l.request_id as string);
  }

  it('writes a request line within ACCESS_LOG_FLUSH of the answer, with no request after it', async () => {
    const c = await serve(['WEB_CONCURRENCY=1', 'ACCESS_LOG_FLUSH=1']);
    await waitForReady(c.port);
    const started = Date.now();
    const requestId = await predict(c.port);
    let seconds = Infinity;
    while (Date.now() - started < 10_000) {
      if ((await requestIds(c.id)).includes(requestId)) {
        seconds = (Date.now() - started) / 1000;
        break;
      }
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    // ACCESS_LOG_FLUSH, and a margin for the engine storing the line on a busy machine.
    expect(seconds, 'seconds until the line was in docker logs').to.be.below(1 + 1.5);
    const settings = jsonLines((await engine.containerLogs(c.id)).stderr).find((l) => l.event === 'server_started');
    expect(settings).to.include({ access_log_flush: 1 });
    await engine.removeContainer(c.id);
  });

  it('writes every request line on docker stop, however long they may wait', async () => {
    const c = await serve(['WEB_CONCURRENCY=2', 'THREADS=2', 'ACCESS_LOG_FLUSH=60']);
    await waitForReady(c.port);
    const sent: string[] = [];
    await Promise.all(
      Array.from({ length: 6 }, async () => {
        for (let i = 0; i < 10; i++) sent.push(await predict(c.port));
      }),
    );
    await stopContainer(c.id, 10);
    expect(await engine.waitContainer(c.id)).to.equal(0);
    const lines = jsonLines((await engine.containerLogs(c.id)).stderr);
    const logged = lines
      .filter((l) => l.event === 'request' && l.route === 'function/predict')
      .map((l) => l.request_id as string);
    expect([...logged].sort()).to.deep.equal([...sent].sort());
    // Each worker's request lines come before its last line.
    for (const pid of new Set(lines.filter((l) => l.event === 'request').map((l) => l.pid))) {
      const mine = lines.filter((l) => l.pid === pid);
      expect(mine[mine.length - 1], `the last line of worker ${String(pid)}`).to.include({ event: 'worker_stopped' });
    }
    await engine.removeContainer(c.id);
  });
});
