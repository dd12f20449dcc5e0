// The predict image's server on a real engine: the three styles of route target, run-time .env
// values, the error contract, readiness, metrics summed over workers, draining on docker stop,
// request ids and trace context on the model's log lines, CORS, gzip and the model's client errors.

import { expect } from 'chai';
import { connect } from 'node:net';
import { gunzipSync } from 'node:zlib';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { parse as parseDotenv } from 'dotenv';
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
  stderrLinesUntil,
  waitForHealth,
  waitForReady,
  type RawResponse,
} from './support.js';
import { stopContainer } from '../support/docker.js';

const IMAGE = `${PREFIX}-route-styles-predict`;
const SECRET = 'route-styles-secret-never-in-an-image';
const JSON_TYPE = { 'Content-Type': 'application/json' };

type Log = Array<Record<string, unknown>>;

/**
 * The samples of a Prometheus text exposition by name and labels, the labels sorted by name (the
 * order an exposition writes them in is its own); fails on a malformed line.
 */
function exposition(text: string): Map<string, number> {
  const samples = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const found = /^([a-z_][a-z0-9_]*)(?:\{(.*)\})? ([0-9.e+-]+|NaN|[+-]Inf)$/.exec(line);
    expect(found, line).to.not.equal(null);
    const labels = [...(found![2] ?? '').matchAll(/([a-z_]+)="((?:[^"\\]|\\.)*)"/g)]
      .map(([, name, value]) => `${name}="${value}"`)
      .sort();
    samples.set(`${found![1]}{${labels.join(',')}}`, Number(found![3]));
  }
  return samples;
}

describe('the predict server on a real engine', function () {
  this.timeout(5 * 60 * 1000);
  let engine: Engine;
  const cleanup = new Cleanup(() => engine);
  let dotenv: string[];
  let serial = 0;

  before(async function () {
    engine = await realEngine(this);
    const built = await cli('build', path.join(ROUTE_STYLES, 'styles'), 'daemon', cleanup.image(IMAGE));
    expect(built.code, built.err).to.equal(0);
    const values = parseDotenv(await readFile(path.join(ROUTE_STYLES, '.env')));
    dotenv = Object.entries(values).map(([k, v]) => `${k}=${v}`);
  });
  after(() => cleanup.run());

  /** Starts the predict image with the project's .env (as --env-file would) and its models/. */
  async function serve(env: string[], withDotenv = true): Promise<StartedContainer & { port: number }> {
    const c = await startContainer(engine, {
      image: IMAGE,
      name: `${PREFIX}-predict-server-${process.pid}-${++serial}`,
      env: [...(withDotenv ? dotenv : []), ...env],
      binds: [{ host: path.join(ROUTE_STYLES, 'models'), container: '/action/models', readOnly: true }],
      publish: [5000],
    });
    return { ...c, port: c.ports[5000]! };
  }

  async function logOf(id: string): Promise<Log> {
    return jsonLines((await engine.containerLogs(id)).stderr);
  }

  function post(
    port: number,
    route: string,
    body: string,
    headers: Record<string, string> = JSON_TYPE,
  ): Promise<RawResponse> {
    return rawRequest(port, { method: 'POST', path: `/${route}`, headers, body });
  }

  it('serves a plain function, a Cortex predictor class and a Cortex module, with the workers and threads asked for', async () => {
    const c = await serve(['WEB_CONCURRENCY=3', 'THREADS=2']);
    await waitForReady(c.port);
    const fn = await post(c.port, 'function/predict', '{"numbers": [1, 2, 3]}');
    expect([fn.status, JSON.parse(fn.body)]).to.deep.equal([200, { payload: { style: 'function', sum: 6 } }]);
    const cls = await post(c.port, 'class/predict', '[1, 2]');
    expect(cls.status).to.equal(200);
    expect(JSON.parse(cls.body).payload).to.include({ style: 'class', greeting: 'hello from .env', count: 2 });
    // init(model_path, metadata) read models/offset.txt (100) from the mounted folder.
    const mod = await post(c.port, 'module/predict', '{"x": [1, 2]}');
    expect([mod.status, JSON.parse(mod.body)]).to.deep.equal([
      200,
      { payload: { style: 'module', values: [101, 102], route: 'module/predict' } },
    ]);

    const log = await logOf(c.id);
    const started = log.find((l) => l.event === 'server_started')!;
    expect(started).to.include({ workers: 3, threads: 2 });
    const loaded = log.filter((l) => l.event === 'routes_loaded');
    expect(new Set(loaded.map((l) => l.pid)).size).to.equal(3);
    await engine.removeContainer(c.id);
  });

  it('gets .env values at run time only: never in the image', async () => {
    const info = (await engine.inspectImage(IMAGE))!;
    expect(JSON.stringify([info.env, info.labels]))
      .not.to.contain(SECRET)
      .and.not.to.contain('hello from .env');
    expect((await engine.imageHistory(IMAGE)).map((h) => h.createdBy).join('\n')).not.to.contain(SECRET);
    const grep = await startContainer(engine, {
      image: IMAGE,
      name: `${PREFIX}-predict-server-grep-${process.pid}`,
      user: '0',
      cmd: ['sh', '-c', `grep -rl '${SECRET}' /opt /tmp /action /usr/libexec/s2i /etc; echo "grep exit $?"`],
    });
    await engine.waitContainer(grep.id);
    expect((await engine.containerLogs(grep.id)).stdout.trim()).to.equal('grep exit 1');
    await engine.removeContainer(grep.id);

    // Without the .env at run time, the predictor's config lacks the value.
    const c = await serve([], false);
    await waitForReady(c.port);
    const r = await post(c.port, 'class/predict', '[]');
    expect(JSON.parse(r.body).payload.greeting).to.equal('<unset>');
    await engine.removeContainer(c.id);
  });

  it('answers every error as JSON with a request id and its real status, and keeps serving', async () => {
    const c = await serve(['MAX_BODY_BYTES=1000', 'TIMEOUT=1', 'WEB_CONCURRENCY=1', 'THREADS=2']);
    await waitForReady(c.port);
    const cases: Array<[number, string, () => Promise<RawResponse>]> = [
      [400, 'not valid JSON', () => post(c.port, 'function/predict', '{"numbers": [1,')],
      [400, 'must be a JSON object or array, not a string', () => post(c.port, 'function/predict', '"text"')],
      [404, 'no route POST /no/such/route', () => post(c.port, 'no/such/route', '{}')],
      [405, 'use POST /function/predict', () => rawRequest(c.port, { path: '/function/predict' })],
      [413, 'the limit is 1000', () => post(c.port, 'function/predict', `[${'1,'.repeat(600)}1]`)],
      [415, 'must be JSON', () => post(c.port, 'function/predict', '{}', { 'Content-Type': 'text/plain' })],
      [500, 'prediction failed', () => post(c.port, 'function/predict', '{"fail": "card 4242"}')],
      [504, 'did not finish within 1 seconds', () => post(c.port, 'function/predict', '{"sleep": 3}')],
    ];
    for (const [status, message, send] of cases) {
      const r = await send();
      expect(r.status, r.body).to.equal(status);
      expect(r.headers['content-type']).to.equal('application/json');
      const error = (JSON.parse(r.body) as { error: { status: number; message: string; request_id: string } }).error;
      expect(error.status).to.equal(status);
      expect(error.message).to.contain(message);
      expect(error.request_id)
        .to.equal(r.headers['x-request-id'])
        .and.match(/^[0-9a-f]{32}$/);
      const after = await post(c.port, 'function/predict', '[1, 2]');
      expect(after.status, `after the ${status}`).to.equal(200);
    }

    const log = await stderrLinesUntil(
      engine,
      c.id,
      (lines) => lines.filter((l) => l.event === 'request').length >= 2 * cases.length,
    );
    const failed = log.find((l) => l.event === 'request_failed')!;
    expect(failed.traceback).to.contain('ValueError: asked to fail: card 4242');
    expect(log.find((l) => l.event === 'request_timeout')).to.include({
      route: 'function/predict',
      timeout_seconds: 1,
    });
    const requests = log.filter((l) => l.event === 'request');
    expect(requests.map((l) => l.status)).to.include.members([400, 404, 405, 413, 415, 500, 504]);
    for (const line of requests) expect(line).to.include.keys('route', 'status', 'duration_ms', 'request_id', 'method');
    await engine.removeContainer(c.id);
  });

  it('writes an answer far larger than the socket buffers in full', async () => {
    const c = await serve([]);
    await waitForReady(c.port);
    // About 8.8 MB each way: the answer's writes find the connection's buffers full many times.
    const count = 1_100_000;
    const r = await post(c.port, 'module/predict', `{"x": [${'1234567,'.repeat(count - 1)}1234567]}`);
    expect(r.status).to.equal(200);
    expect(Number(r.headers['content-length'])).to.equal(Buffer.byteLength(r.body)).and.above(8_000_000);
    const values = (JSON.parse(r.body) as { payload: { values: number[] } }).payload.values;
    expect(values).to.have.length(count);
    expect(values.every((v) => v === 1234667)).to.equal(true);
    await engine.removeContainer(c.id);
  });

  it('answers calls past TIMEOUT at the deadline, and replaces a worker whose threads are all stuck without waiting for them', async () => {
    // GRACEFUL_TIMEOUT far past the check below: the stuck calls must not hold the old worker.
    const c = await serve(['TIMEOUT=1', 'WEB_CONCURRENCY=1', 'THREADS=2', 'GRACEFUL_TIMEOUT=30']);
    await waitForReady(c.port);
    const started = Date.now();
    const stuck = await Promise.all([1, 2].map(() => post(c.port, 'function/predict', '{"sleep": 60}')));
    expect((Date.now() - started) / 1000).to.be.below(5);
    for (const r of stuck) {
      expect(r.status, r.body).to.equal(504);
      expect(JSON.parse(r.body).error).to.include({ status: 504 });
    }
    // The worker asks for its replacement, which answers well before the stuck calls would end
    // (the old worker may still take a request or two before it stops accepting).
    let log: Log = [];
    let first: unknown;
    let second: unknown;
    while (Date.now() - started < 20_000) {
      await post(c.port, 'function/predict', '[1]').catch(() => undefined);
      log = await logOf(c.id);
      [first, second] = [...new Set(log.filter((l) => l.event === 'routes_loaded').map((l) => l.pid))];
      if (second !== undefined && log.some((l) => l.event === 'request' && l.pid === second && l.status === 200)) break;
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
    expect(second, 'a second worker').to.be.a('number').and.not.equal(first);
    expect(log.filter((l) => l.event === 'request' && l.pid === second && l.status === 200)).to.have.length.greaterThan(
      0,
    );
    expect(log.find((l) => l.event === 'worker_restarting')).to.include({ pid: first });
    expect(log.find((l) => l.event === 'worker_stopped')).to.include({ pid: first, abandoned_calls: 2 });
    const timedOut = log.filter((l) => l.event === 'request' && l.status === 504);
    expect(timedOut.map((l) => l.request_id).sort()).to.deep.equal(stuck.map((r) => r.headers['x-request-id']).sort());
    await engine.removeContainer(c.id);
  });

  it('refuses a body over MAX_BODY_BYTES from its Content-Length, before the body is sent', async () => {
    const c = await serve(['MAX_BODY_BYTES=1000']);
    await waitForReady(c.port);
    // Announce 50 MB and send none of it: the answer must come anyway.
    const answer = await new Promise<string>((resolve, reject) => {
      const socket = connect(c.port, '127.0.0.1', () => {
        socket.write(
          'POST /function/predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 50000000\r\n\r\n',
        );
      });
      let text = '';
      socket.setTimeout(10_000, () =>
        socket.destroy(new Error(`no answer before the body; got ${JSON.stringify(text)}`)),
      );
      socket.on('data', (d) => {
        text += d.toString();
        if (text.includes('}}')) {
          socket.destroy();
          resolve(text);
        }
      });
      socket.on('error', reject);
    });
    expect(answer).to.match(/^HTTP\/1\.1 413 /);
    expect(answer).to.contain('"status":413');
    await engine.removeContainer(c.id);
  });

  it('is up at once, ready only when every worker has run every init, and logs ?debug=true requests', async () => {
    const c = await serve(['ROUTE_STYLES_INIT_SECONDS=4', 'WEB_CONCURRENCY=2', 'DEBUG_LOGGING=1']);
    await waitForHealth(c.port);
    const early = await rawRequest(c.port, { path: '/ready' });
    expect(early.status, early.body).to.equal(503);
    expect(JSON.parse(early.body).error.message).to.match(
      /^not ready because the routes are loading; [01] of 2 workers are ready$/,
    );
    expect(early.headers['retry-after']).to.equal('1');
    // A prediction sent while loading waits for the load instead of failing.
    const waited = await post(c.port, 'module/predict?debug=true', '{"x": [5]}');
    expect([waited.status, JSON.parse(waited.body).payload.values]).to.deep.equal([200, [105]]);
    await waitForReady(c.port, 30);
    const ready = JSON.parse((await rawRequest(c.port, { path: '/ready' })).body);
    expect(ready).to.include({ status: 'ready', workers_ready: 2, workers: 2 });

    const log = await logOf(c.id);
    expect(log.find((l) => l.event === 'debug_request')).to.include({ body: '{"x": [5]}', route: 'module/predict' });
    expect(log.find((l) => l.event === 'debug_result')).to.deep.include({
      result: { style: 'module', values: [105], route: 'module/predict' },
    });
    await engine.removeContainer(c.id);
  });

  it('counts requests in /metrics over all of its workers, in the Prometheus text format', async () => {
    const c = await serve(['WEB_CONCURRENCY=2', 'THREADS=2']);
    await waitForReady(c.port);
    const total = 120;
    for (const path of ['/scanner/a', '/scanner/b']) expect((await rawRequest(c.port, { path })).status).to.equal(404);
    let next = 0;
    // 12 at a time, each on a connection of its own: the workers share them out.
    await Promise.all(
      Array.from({ length: 12 }, async () => {
        while (next < total) {
          next++;
          const r = await post(c.port, 'function/predict', '[1]');
          expect(r.status).to.equal(200);
        }
      }),
    );
    const isServed = (l: Record<string, unknown>): boolean => l.event === 'request' && l.route === 'function/predict';
    const served = (await stderrLinesUntil(engine, c.id, (lines) => lines.filter(isServed).length >= total)).filter(
      isServed,
    );
    expect(served).to.have.length(total);
    expect(new Set(served.map((l) => l.pid)).size, 'both workers served requests').to.equal(2);

    for (let scrape = 0; scrape < 6; scrape++) {
      const r = await rawRequest(c.port, { path: '/metrics' });
      expect(r.status).to.equal(200);
      expect(r.headers['content-type']).to.equal('text/plain; version=0.0.4; charset=utf-8');
      const samples = exposition(r.body);
      expect(samples.get('cortex_s2i_requests_total{route="function/predict",status="200"}')).to.equal(total);
      expect(samples.get('cortex_s2i_request_duration_seconds_count{route="function/predict"}')).to.equal(total);
      expect(samples.get('cortex_s2i_request_duration_seconds_bucket{le="+Inf",route="function/predict"}')).to.equal(
        total,
      );
      expect(
        samples.get('cortex_s2i_request_duration_seconds_bucket{le="0.005",route="function/predict"}'),
      ).to.be.within(1, total);
      // Unknown paths are never labels of their own.
      expect([...samples.keys()].filter((k) => k.includes('scanner'))).to.deep.equal([]);
    }
    await engine.removeContainer(c.id);
  });

  it("puts the request id and the trace on every line a request causes, the model's own included", async () => {
    const c = await serve(['WEB_CONCURRENCY=1']);
    await waitForReady(c.port);
    const trace = '0af7651916cd43dd8448eb211c80319c';
    const r = await post(c.port, 'function/predict', '{"log": "hello"}', {
      ...JSON_TYPE,
      'X-Request-Id': 'order-1234',
      traceparent: `00-${trace}-b7ad6b7169203331-01`,
    });
    expect(r.status, r.body).to.equal(200);
    expect(r.headers['x-request-id']).to.equal('order-1234');
    expect(r.headers.traceparent).to.match(new RegExp(`^00-${trace}-[0-9a-f]{16}-01$`));
    const span = (r.headers.traceparent as string).split('-')[2];
    const made = await post(c.port, 'function/predict', '[1]');
    expect(made.headers['x-request-id']).to.match(/^[0-9a-f]{32}$/);
    expect(made.headers.traceparent).to.match(/^00-[0-9a-f]{32}-[0-9a-f]{16}-00$/);
    const log = await stderrLinesUntil(engine, c.id, (lines) =>
      lines.some((l) => l.event === 'request' && l.request_id === 'order-1234'),
    );
    const mine = log.filter((l) => l.request_id === 'order-1234');
    expect(mine.map((l) => l.logger)).to.include.members(['route_styles.styles.plain', 'cortex_s2i.predict']);
    for (const line of mine) expect(line).to.include({ trace_id: trace, span_id: span });
    expect(mine.find((l) => l.logger === 'route_styles.styles.plain')).to.include({ message: 'the model says hello' });
    await engine.removeContainer(c.id);
  });

  it('answers the ClientError a model raises with its status and message, and any other exception with a 500', async () => {
    const c = await serve(['WEB_CONCURRENCY=1']);
    await waitForReady(c.port);
    const refused = await post(c.port, 'function/predict', '{"refuse": "feature age is missing"}');
    expect(refused.status).to.equal(422);
    expect(JSON.parse(refused.body).error).to.include({ status: 422, message: 'feature age is missing' });
    const failed = await post(c.port, 'function/predict', '{"fail": "inner detail"}');
    expect(failed.status).to.equal(500);
    expect(failed.body).not.to.contain('inner detail');
    await engine.removeContainer(c.id);
  });

  it('lets pages of the CORS_ORIGINS call it, answering their preflight, and no other', async () => {
    const off = await serve(['WEB_CONCURRENCY=1']);
    const on = await serve(['WEB_CONCURRENCY=1', 'CORS_ORIGINS=https://app.example,http://localhost:3000']);
    await waitForReady(off.port);
    await waitForReady(on.port);
    const preflight = (port: number, origin: string): Promise<RawResponse> =>
      rawRequest(port, {
        method: 'OPTIONS',
        path: '/function/predict',
        headers: {
          Origin: origin,
          'Access-Control-Request-Method': 'POST',
          'Access-Control-Request-Headers': 'content-type',
        },
      });
    const closed = await preflight(off.port, 'https://app.example');
    expect([closed.status, closed.headers['access-control-allow-origin']]).to.deep.equal([204, undefined]);
    const open = await preflight(on.port, 'https://app.example');
    expect(open.status).to.equal(204);
    expect(open.headers).to.include({
      'access-control-allow-origin': 'https://app.example',
      'access-control-max-age': '600',
    });
    expect(open.headers['access-control-allow-methods']).to.contain('POST');
    expect(open.headers['access-control-allow-headers']).to.contain('content-type');
    expect((await preflight(on.port, 'https://evil.example')).status).to.equal(403);
    const answer = await post(on.port, 'function/predict', '[1, 2]', { ...JSON_TYPE, Origin: 'http://localhost:3000' });
    expect(answer.headers['access-control-allow-origin']).to.equal('http://localhost:3000');
    expect(answer.headers['access-control-expose-headers']).to.contain('x-request-id');
    const other = await post(on.port, 'function/predict', '[1, 2]', { ...JSON_TYPE, Origin: 'https://evil.example' });
    expect(other.headers['access-control-allow-origin']).to.equal(undefined);
    await engine.removeContainer(off.id);
    await engine.removeContainer(on.id);
  });

  it('compresses answers of GZIP_MIN_BYTES or more for clients that accept gzip', async () => {
    const c = await serve(['WEB_CONCURRENCY=1', 'GZIP_MIN_BYTES=2000']);
    await waitForReady(c.port);
    const numbers = `{"x": [${'12345,'.repeat(999)}12345]}`;
    const zipped = await new Promise<{ headers: Record<string, unknown>; body: Buffer }>((resolve, reject) => {
      const socket = connect(c.port, '127.0.0.1', () =>
        socket.write(
          `POST /module/predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n` +
            `Accept-Encoding: gzip\r\nConnection: close\r\nContent-Length: ${numbers.length}\r\n\r\n${numbers}`,
        ),
      );
      const chunks: Buffer[] = [];
      socket.on('data', (d: Buffer) => chunks.push(d));
      socket.on('end', () => {
        const all = Buffer.concat(chunks);
        const at = all.indexOf('\r\n\r\n');
        const headers = Object.fromEntries(
          all
            .subarray(0, at)
            .toString()
            .split('\r\n')
            .slice(1)
            .map((l) => [l.slice(0, l.indexOf(':')).toLowerCase(), l.slice(l.indexOf(':') + 1).trim()]),
        );
        resolve({ headers, body: all.subarray(at + 4) });
      });
      socket.on('error', reject);
    });
    expect(zipped.headers['content-encoding']).to.equal('gzip');
    expect(Number(zipped.headers['content-length'])).to.equal(zipped.body.length);
    const values = (JSON.parse(gunzipSync(zipped.body).toString()) as { payload: { values: number[] } }).payload.values;
    expect(values).to.have.length(1000);
    expect(zipped.body.length).to.be.below(1000);
    const plain = await post(c.port, 'module/predict', numbers); // no Accept-Encoding
    expect(plain.headers['content-encoding']).to.equal(undefined);
    const small = await post(c.port, 'module/predict', '{"x": [1]}', { ...JSON_TYPE, 'Accept-Encoding': 'gzip' });
    expect([small.headers['content-encoding'], JSON.parse(small.body).payload.values]).to.deep.equal([
      undefined,
      [101],
    ]);
    await engine.removeContainer(c.id);
  });

  it('on docker stop, answers the request in flight, refuses new ones and exits 0 within the grace period', async () => {
    const c = await serve(['WEB_CONCURRENCY=2']);
    await waitForReady(c.port);
    const slow = post(c.port, 'function/predict', '{"sleep": 3}');
    await new Promise((resolve) => setTimeout(resolve, 1000));
    const stopping = Date.now();
    const stopped = stopContainer(c.id, 10);
    await new Promise((resolve) => setTimeout(resolve, 500));
    const refused = await post(c.port, 'function/predict', '[1]').then(
      (r) => `answered ${r.status}`,
      () => 'refused',
    );
    const answer = await slow;
    await stopped;
    const seconds = (Date.now() - stopping) / 1000;
    const status = await engine.waitContainer(c.id);

    expect([answer.status, JSON.parse(answer.body)]).to.deep.equal([200, { payload: { slept: 3 } }]);
    expect(refused).to.equal('refused');
    expect(status).to.equal(0);
    expect(seconds).to.be.below(10);
    const events = (await logOf(c.id)).map((l) => l.event).filter(Boolean);
    expect(events.filter((e) => e === 'worker_stopped')).to.have.length(2);
    expect(events.at(-1)).to.equal('server_stopped');
    await engine.removeContainer(c.id);
  });
});
