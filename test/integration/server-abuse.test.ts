// The predict image's server under abuse, on a real engine: clients that never read their answers
// and clients that trickle, probes while every thread is busy, a full queue, requests that could
// smuggle another, malformed requests, ?debug=true, model output without newlines, a 64 MB body
// from a client that sends it all before reading, and a route that cannot import.

import { expect } from 'chai';
import { execFile } from 'node:child_process';
import { connect, type Socket } from 'node:net';
import path from 'node:path';
import { promisify } from 'node:util';
import type { Engine, StartedContainer } from '../../lib/engine/engine.js';
import { packageFile } from '../../lib/package-root.js';
import {
  Cleanup,
  cli,
  jsonLines,
  PREFIX,
  rawRequest,
  realEngine,
  startContainer,
  stderrLinesUntil,
  waitForReady,
  type RawResponse,
} from './support.js';

const FIXTURE = packageFile('fixtures', 'server_abuse');
const IMAGE = `${PREFIX}-server-abuse-predict`;
const BROKEN_IMAGE = `${PREFIX}-server-broken-predict`;
const JSON_TYPE = { 'Content-Type': 'application/json' };

type Log = Array<Record<string, unknown>>;

/** Sends raw bytes on a connection of its own and collects everything until the server closes it. */
function exchange(port: number, data: string | Buffer, timeoutMs = 10_000): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1', () => socket.write(data));
    let text = '';
    socket.setTimeout(timeoutMs, () =>
      socket.destroy(new Error(`no close within ${timeoutMs} ms; got ${JSON.stringify(text)}`)),
    );
    socket.on('data', (d) => (text += d.toString()));
    socket.on('end', () => resolve(text));
    socket.on('error', reject);
  });
}

/** A client that sends `head` at once (may be empty), then `trickle` a byte a second; resolves with what it read and when it was closed. */
function slowClient(
  port: number,
  head: string,
  trickle: string,
  limitMs: number,
): Promise<{ text: string; ms: number; closed: boolean }> {
  return new Promise((resolve) => {
    const started = Date.now();
    let text = '';
    let sent = 0;
    let timer: NodeJS.Timeout | undefined;
    const socket: Socket = connect(port, '127.0.0.1', () => {
      if (head) socket.write(head);
      timer = setInterval(() => {
        if (sent < trickle.length && !socket.destroyed) socket.write(trickle[sent++]!);
      }, 1000);
    });
    const done = (closed: boolean): void => {
      clearInterval(timer);
      clearTimeout(limit);
      socket.destroy();
      resolve({ text, ms: Date.now() - started, closed });
    };
    const limit = setTimeout(() => done(false), limitMs);
    socket.on('data', (d) => (text += d.toString()));
    socket.on('end', () => done(true));
    socket.on('error', () => done(true));
  });
}

async function timed<T>(work: () => Promise<T>): Promise<[T, number]> {
  const started = Date.now();
  const result = await work();
  return [result, Date.now() - started];
}

function errorOf(r: RawResponse): { status: number; message: string } {
  expect(r.headers['content-type'], r.body).to.equal('application/json');
  return (JSON.parse(r.body) as { error: { status: number; message: string } }).error;
}

describe('the predict server under abuse, on a real engine', function () {
  this.timeout(5 * 60 * 1000);
  let engine: Engine;
  const cleanup = new Cleanup(() => engine);
  let serial = 0;

  before(async function () {
    engine = await realEngine(this);
    for (const [dir, image] of [
      ['abuse', IMAGE],
      ['broken', BROKEN_IMAGE],
    ] as const) {
      const built = await cli('build', path.join(FIXTURE, dir), 'daemon', cleanup.image(image));
      expect(built.code, built.err).to.equal(0);
    }
  });
  after(() => cleanup.run());

  async function serve(env: string[], image = IMAGE): Promise<StartedContainer & { port: number }> {
    const c = await startContainer(engine, {
      image,
      name: `${PREFIX}-server-abuse-${process.pid}-${++serial}`,
      env,
      publish: [5000],
    });
    return { ...c, port: c.ports[5000]! };
  }

  async function logsOf(id: string): Promise<{ stdout: Log; stderr: Log }> {
    const logs = await engine.containerLogs(id);
    return { stdout: jsonLines(logs.stdout), stderr: jsonLines(logs.stderr) };
  }

  function post(port: number, body: string, query = ''): Promise<RawResponse> {
    return rawRequest(port, { method: 'POST', path: `/abuse/predict${query}`, headers: JSON_TYPE, body });
  }

  it('answers at once while 8 clients never read their 30 MB answers and 24 trickle a byte a second, then drops them all', async () => {
    const c = await serve(['WEB_CONCURRENCY=1', 'THREADS=2', 'HEADER_TIMEOUT=5', 'BODY_TIMEOUT=5', 'SEND_TIMEOUT=5']);
    await waitForReady(c.port);
    const head =
      'POST /abuse/predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n';
    const big = '{"big": 30000000}';
    // Each asks for a 30 MB answer and never reads a byte of it.
    const readers = Array.from({ length: 8 }, () => {
      const socket = connect(c.port, '127.0.0.1', () =>
        socket.write(
          `POST /abuse/predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${big.length}\r\n\r\n${big}`,
        ),
      );
      socket.pause();
      socket.on('error', () => undefined);
      return socket;
    });
    const slow = [
      ...Array.from({ length: 16 }, () => slowClient(c.port, '', head, 15_000)),
      ...Array.from({ length: 8 }, () => slowClient(c.port, head, '['.repeat(100), 15_000)),
    ];
    try {
      await new Promise((resolve) => setTimeout(resolve, 1500));
      // Neither kind holds a prediction thread: answers come at once (2 s allows for a machine
      // shared with other work; without the deadlines they would wait for as long as the
      // clients do, 15 s here).
      for (let i = 0; i < 3; i++) {
        for (const probe of ['/health', '/ready']) {
          const [r, ms] = await timed(() => rawRequest(c.port, { path: probe, timeoutMs: 5000 }));
          expect([r.status, ms < 2000], `GET ${probe} took ${ms} ms`).to.deep.equal([200, true]);
        }
        const [answer, answerMs] = await timed(() => post(c.port, '{"x": 1}'));
        expect([answer.status, answerMs < 2000], `the route took ${answerMs} ms`).to.deep.equal([200, true]);
      }
      const ended = await Promise.all(slow);
      for (const [i, client] of ended.entries()) {
        expect(client.closed, `slow client ${i} was never closed: ${client.text}`).to.equal(true);
        expect(client.ms, `slow client ${i}`).to.be.below(10_000);
        expect(client.text, `slow client ${i}`).to.match(/^HTTP\/1\.1 408 /);
        expect(client.text).to.contain('"status":408');
        expect(client.text).to.contain(i < 16 ? 'HEADER_TIMEOUT' : 'BODY_TIMEOUT');
      }
      // The clients that never read are dropped once their answers have waited SEND_TIMEOUT, but
      // for those whose 30 MB fit in the buffers between the server and them (the kernel's, the
      // engine's port proxy's): the server has nothing left to send those.
      const log = await stderrLinesUntil(
        engine,
        c.id,
        (lines) => lines.filter((l) => l.event === 'client_not_reading').length >= 8,
        12,
      );
      expect(log.filter((l) => l.event === 'client_not_reading').length).to.be.within(1, 8);
      expect(
        log.filter((l) => l.event === 'request' && l.status === 200 && l.route === 'abuse/predict'),
      ).to.have.length.at.least(11);
    } finally {
      for (const socket of readers) socket.destroy();
    }
    await engine.removeContainer(c.id);
  });

  it('refuses requests that could smuggle another with a 400-class JSON answer, and answers nothing after them', async () => {
    const c = await serve(['WEB_CONCURRENCY=1']);
    await waitForReady(c.port);
    const start = 'POST /abuse/predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n';
    const smuggled = 'GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n';
    const cases: Array<[string, string]> = [
      [
        'both Content-Length and Transfer-Encoding',
        `${start}Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n`,
      ],
      [
        'Transfer-Encoding then Content-Length',
        `${start}Transfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n0\r\n\r\n`,
      ],
      ['two Content-Lengths', `${start}Content-Length: 2\r\nContent-Length: 7\r\n\r\n[1]`],
      ['a space before the colon', `${start}Content-Length : 2\r\n\r\n[1]`],
      ['an obs-fold', `${start}X-Note: a\r\n Content-Length: 2\r\n\r\n[1]`],
      ['a tab obs-fold', `${start}X-Note: a\r\n\tTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n`],
      ['a 1 MB header line', `GET /health HTTP/1.1\r\nX-Big: ${'a'.repeat(1 << 20)}\r\n\r\n`],
      ['10,000 headers', `GET /health HTTP/1.1\r\n${'X-H: y\r\n'.repeat(10_000)}\r\n`],
      ['Transfer-Encoding gzip', `${start}Transfer-Encoding: gzip, chunked\r\n\r\n2\r\n[]\r\n0\r\n\r\n`],
    ];
    for (const [what, request] of cases) {
      const text = await exchange(c.port, request + smuggled);
      const answers = text.match(/HTTP\/1\.1 \d{3} /g) ?? [];
      expect(answers, `${what}: ${text.slice(0, 200)}`).to.have.length(1);
      const status = Number(answers[0]!.slice(9, 12));
      expect(status, what).to.be.within(400, 501);
      const at = text.indexOf('\r\n\r\n');
      expect(text.slice(0, at).toLowerCase(), what).to.contain('content-type: application/json');
      expect((JSON.parse(text.slice(at + 4)) as { error: { status: number } }).error.status, what).to.equal(status);
    }
    // Pipelined requests are all answered, in order; a request with bare LF line ends too.
    const pipelined = await exchange(
      c.port,
      `GET /health HTTP/1.1\r\n\r\n${start}Content-Length: 3\r\n\r\n[1]GET /ready HTTP/1.1\nConnection: close\n\n`,
    );
    expect((pipelined.match(/HTTP\/1\.1 \d{3}/g) ?? []).map((s) => s.slice(9))).to.deep.equal(['200', '200', '200']);
    // Nothing smuggled reached the app: /metrics was never asked for.
    const log = await stderrLinesUntil(
      engine,
      c.id,
      (lines) => lines.filter((l) => l.event === 'request').length >= 12,
    );
    expect(log.filter((l) => l.event === 'request' && l.route === 'metrics')).to.deep.equal([]);
    expect(log.filter((l) => l.level === 'error')).to.deep.equal([]);
    await engine.removeContainer(c.id);
  });

  it('answers /health and /ready at once while every prediction thread is busy, and 503s predictions past MAX_PENDING', async () => {
    const c = await serve(['WEB_CONCURRENCY=1', 'THREADS=2', 'MAX_PENDING=3']);
    await waitForReady(c.port);
    const busy = Array.from({ length: 3 }, () => post(c.port, '{"sleep": 4}'));
    await new Promise((resolve) => setTimeout(resolve, 1000));
    for (const probe of ['/health', '/ready']) {
      const [r, ms] = await timed(() => rawRequest(c.port, { path: probe, timeoutMs: 5000 }));
      expect([r.status, ms < 1000], `GET ${probe} took ${ms} ms`).to.deep.equal([200, true]);
    }
    const refused = await post(c.port, '{"x": 1}');
    expect(refused.status).to.equal(503);
    expect(refused.headers['retry-after']).to.equal('1');
    expect(errorOf(refused).message).to.contain('MAX_PENDING');
    expect((await Promise.all(busy)).map((r) => r.status)).to.deep.equal([200, 200, 200]);
    expect((await post(c.port, '{"x": 2}')).status, 'served again once the queue drained').to.equal(200);
    await engine.removeContainer(c.id);
  });

  it('answers client errors with 4xx or 501 JSON, never a 500 or HTML, and keeps serving', async () => {
    const c = await serve(['WEB_CONCURRENCY=1']);
    await waitForReady(c.port);
    const raw = (headers: string, body: string): string =>
      `POST /abuse/predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n${headers}\r\n${body}`;
    const deep = '['.repeat(100_000) + ']'.repeat(100_000);
    const cases: Array<[number, string, string]> = [
      [400, 'not valid HTTP', raw('Transfer-Encoding: chunked\r\n', 'zz\r\n{}\r\n0\r\n\r\n')],
      [400, 'nested too deeply', raw(`Content-Length: ${deep.length}\r\n`, deep)],
      [501, "Transfer-Encoding 'gzip' is not supported", raw('Transfer-Encoding: gzip\r\n', '{}')],
      [400, 'not valid HTTP', 'GARBAGE\r\n\r\n'],
      [400, 'not valid HTTP', raw('Transfer-Encoding: chunked\r\nContent-Length: 2\r\n', '{}')],
      [431, 'more than 100 header fields', `GET /health HTTP/1.1\r\n${'X-Big: y\r\n'.repeat(200)}\r\n`],
      [414, 'request line is longer', `GET /${'a'.repeat(9000)} HTTP/1.1\r\n\r\n`],
    ];
    for (const [status, message, request] of cases) {
      const text = await exchange(c.port, request);
      expect(text, request.slice(0, 80)).to.match(new RegExp(`^HTTP/1\\.1 ${status} `));
      const at = text.indexOf('\r\n\r\n');
      expect(text.slice(0, at).toLowerCase()).to.contain('content-type: application/json');
      const error = (JSON.parse(text.slice(at + 4)) as { error: { status: number; message: string } }).error;
      expect(error.status).to.equal(status);
      expect(error.message).to.contain(message);
      expect((await post(c.port, '[1]')).status, `after the ${status}`).to.equal(200);
    }
    const statuses = (lines: Log): unknown[] => lines.filter((l) => l.event === 'request').map((l) => l.status);
    const log = await stderrLinesUntil(engine, c.id, (lines) =>
      [400, 431, 501].every((s) => statuses(lines).includes(s)),
    );
    expect(statuses(log)).to.include.members([400, 431, 501]);
    expect(log.filter((l) => l.level === 'error')).to.deep.equal([]);
    await engine.removeContainer(c.id);
  });

  it('logs ?debug=true bodies only when DEBUG_LOGGING allows it, cut to DEBUG_LOG_BYTES', async () => {
    const secret = 'card-4242-4242';
    const off = await serve(['WEB_CONCURRENCY=1']);
    const on = await serve(['WEB_CONCURRENCY=1', 'DEBUG_LOGGING=1', 'DEBUG_LOG_BYTES=20']);
    await waitForReady(off.port);
    await waitForReady(on.port);
    const body = JSON.stringify({ secret, padding: 'p'.repeat(5000) });
    for (const c of [off, on]) {
      for (let i = 0; i < 2; i++) {
        const r = await post(c.port, body, '?debug=true');
        expect([r.status, JSON.parse(r.body).payload.secret]).to.deep.equal([200, secret]);
      }
    }
    const offLog = (await logsOf(off.id)).stderr;
    expect(JSON.stringify(offLog)).not.to.contain(secret);
    expect(offLog.filter((l) => l.event === 'debug_logging_off')).to.have.length(1);
    // The engine stores a container's output a moment after the server writes it: give the
    // last request's lines that moment.
    let onLog = (await logsOf(on.id)).stderr;
    for (let tries = 0; tries < 20 && onLog.filter((l) => l.event === 'request').length < 2; tries++) {
      await new Promise((resolve) => setTimeout(resolve, 100));
      onLog = (await logsOf(on.id)).stderr;
    }
    const debug = onLog.filter((l) => l.event === 'debug_request');
    expect(debug).to.have.length(2);
    expect(debug[0]).to.include({ body: body.slice(0, 20), body_bytes: body.length, truncated: true });
    expect(onLog.find((l) => l.event === 'debug_result')).to.include({ truncated: true });
    await engine.removeContainer(off.id);
    await engine.removeContainer(on.id);
  });

  it('keeps every log line JSON when the model writes without a newline, from Python and from the descriptor', async () => {
    const c = await serve(['WEB_CONCURRENCY=1']);
    await waitForReady(c.port);
    for (let i = 0; i < 3; i++) expect((await post(c.port, `{"partial": true, "i": ${i}}`)).status).to.equal(200);
    await new Promise((resolve) => setTimeout(resolve, 1000)); // the relay writes a partial line after 0.2 s of quiet
    const logs = await logsOf(c.id); // jsonLines throws on any line that is not JSON
    const requests = logs.stderr.filter((l) => l.event === 'request' && l.route === 'abuse/predict');
    expect(requests.map((l) => l.status)).to.deep.equal([200, 200, 200]);
    const raw = logs.stderr
      .filter((l) => l.logger === 'output')
      .map((l) => l.message)
      .join('');
    expect(raw).to.equal('partialx'.repeat(3));
    expect(
      logs.stdout
        .filter((l) => l.logger === 'output')
        .map((l) => l.message)
        .join(''),
    ).to.equal('no newline'.repeat(3));
    await engine.removeContainer(c.id);
  });

  it('lets a client that posts 64 MB before reading (Python urllib) read the 413 JSON', async () => {
    const c = await serve(['WEB_CONCURRENCY=1']);
    await waitForReady(c.port);
    const script = [
      'import sys, urllib.request, urllib.error',
      'request = urllib.request.Request(sys.argv[1], data=b"1" * (64 * 1024 * 1024), headers={"Content-Type": "application/json"})',
      'try:',
      '    urllib.request.urlopen(request, timeout=60)',
      '    print("no error")',
      'except urllib.error.HTTPError as error:',
      '    print(error.code, error.read().decode())',
    ].join('\n');
    for (const route of ['abuse/predict', 'no/such/route']) {
      const { stdout } = await promisify(execFile)('python3', ['-c', script, `http://127.0.0.1:${c.port}/${route}`], {
        timeout: 90_000,
      });
      const [status, ...rest] = stdout.trim().split(' ');
      const expected = route === 'abuse/predict' ? 413 : 404;
      expect(Number(status), stdout).to.equal(expected);
      expect(JSON.parse(rest.join(' ')).error.status).to.equal(expected);
    }
    expect((await post(c.port, '[1]')).status).to.equal(200);
    await engine.removeContainer(c.id);
  });

  it('exits non-zero when a route cannot import, its last log line naming the route, the module and the cause', async () => {
    const c = await serve(['WEB_CONCURRENCY=2'], BROKEN_IMAGE);
    const status = await engine.waitContainer(c.id, AbortSignal.timeout(60_000));
    expect(status).to.not.equal(0);
    const log = (await logsOf(c.id)).stderr;
    const last = log.at(-1)!;
    expect(last).to.include({ event: 'route_load_failed', route: 'broken/predict', module: 'predict', level: 'error' });
    expect(last.error).to.contain('ImportError: libgomp.so.1: cannot open shared object file');
    expect(JSON.stringify(log)).not.to.contain(
      'Traceback (most recent call last):\\n  File \\"/usr/lib/python3/dist-packages/gunicorn/arbiter.py',
    );
    await engine.removeContainer(c.id);
  });
});
