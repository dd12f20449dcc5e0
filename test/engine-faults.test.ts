// An engine that stalls, refuses or answers nonsense, and a user who stops the build: the command
// ends at once with a message and its documented status, and tags nothing it should not.

import { expect } from 'chai';
import { cp, mkdtemp, rm, stat, truncate } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { ExitCode } from '../lib/errors.js';
import { packageFile } from '../lib/package-root.js';
import {
  buildStream,
  FakeHttpEngine,
  IMAGE_JSON,
  json,
  runCli,
  stall,
  type Route,
} from './support/fake-http-engine.js';

const MODEL = packageFile('fixtures', 'finance_income_prediction', 'randomForest');
// A name of its own for every build: the model folder does not change, so the build cache would
// answer a second build of one name from the first, and the fake engines all say the image exists.
let built = 0;
const image = () => `${process.env.CORTEX_S2I_TEST_PREFIX || 'cortex-s2i-test'}-fake-${process.pid}-${++built}:1`;
const BUILT = `sha256:${'b'.repeat(64)}`;
const INSPECT = /^\/images\/.+\/json$/;
const OK_BUILD = [
  { stream: 'Step 1/1 : FROM builder' },
  { stream: '\n' },
  { aux: { ID: BUILT } },
  { stream: 'Successfully built bbbbbbbbbbbb\n' },
];

/** No limits from the developer's environment; the defaults unless a test sets one. */
const BASE_ENV = {
  CORTEX_S2I_ENGINE_TIMEOUT: '',
  CORTEX_S2I_BUILD_SILENCE_TIMEOUT: '',
  DOCKER_TLS_VERIFY: '',
  DOCKER_CERT_PATH: '',
  SOURCE_DATE_EPOCH: '',
};

describe('an engine that stalls, refuses or answers nonsense', function () {
  this.timeout(60_000);
  const engines: FakeHttpEngine[] = [];
  afterEach(async () => {
    for (const e of engines.splice(0)) await e.close();
  });

  async function fake(routes: Array<[string, RegExp, Route]>): Promise<FakeHttpEngine> {
    const engine = await FakeHttpEngine.start(routes);
    engines.push(engine);
    return engine;
  }

  function build(
    engine: FakeHttpEngine,
    env: Record<string, string> = {},
    whileRunning?: Parameters<typeof runCli>[2],
    model = MODEL,
    ref = image(),
  ) {
    return runCli(['build', model, 'daemon', ref], { ...BASE_ENV, DOCKER_HOST: engine.host, ...env }, whileRunning);
  }

  const tagged = (engine: FakeHttpEngine) =>
    engine.requests.filter((r) => r.method === 'POST' && r.path.endsWith('/tag'));

  it('gives up on a short call after its limit: status 4, naming the call', async () => {
    const engine = await fake([['GET', INSPECT, stall]]);
    const run = await build(engine, { CORTEX_S2I_ENGINE_TIMEOUT: '1' });
    expect(run.code, run.err).to.equal(ExitCode.engineUnreachable);
    expect(run.err).to.match(/did not answer inspecting image .* within 1s/);
    expect(run.ms).to.be.below(10_000);
  });

  it('gives up on a build that sends nothing for its silence limit: status 4, nothing tagged', async () => {
    const engine = await fake([
      ['GET', INSPECT, json(200, IMAGE_JSON)],
      ['POST', /^\/build$/, buildStream([{ stream: 'Step 1/2 : FROM builder\n' }], true)],
      ['POST', /\/tag$/, json(201, {})],
    ]);
    const run = await build(engine, { CORTEX_S2I_BUILD_SILENCE_TIMEOUT: '1' });
    expect(run.code, run.err).to.equal(ExitCode.engineUnreachable);
    expect(run.err).to.contain('sent nothing for 1s while building');
    expect(run.err).to.contain('CORTEX_S2I_BUILD_SILENCE_TIMEOUT');
    expect(tagged(engine)).to.deep.equal([]);
  });

  it('limits silence, not the length of a build: a slow build that keeps talking succeeds', async () => {
    const slow: Route = async (_req, res, body) => {
      await body();
      res.writeHead(200, { 'Content-Type': 'application/json' });
      for (let i = 0; i < 6; i++) {
        res.write(`${JSON.stringify({ stream: `working ${i}\n` })}\n`);
        await new Promise((r) => setTimeout(r, 500));
      }
      for (const m of OK_BUILD) res.write(`${JSON.stringify(m)}\n`);
      res.end();
    };
    const engine = await fake([
      ['GET', INSPECT, json(200, { ...IMAGE_JSON, Id: BUILT })],
      ['POST', /^\/build$/, slow],
      ['POST', /\/tag$/, json(201, {})],
    ]);
    const run = await build(engine, { CORTEX_S2I_BUILD_SILENCE_TIMEOUT: '2' });
    expect(run.code, run.err).to.equal(ExitCode.ok);
    expect(tagged(engine)).to.have.length(1);
  });

  for (const [signal, code] of [
    ['SIGINT', ExitCode.interrupted],
    ['SIGTERM', ExitCode.terminated],
    ['SIGHUP', ExitCode.hangup],
  ] as const) {
    it(`stops at the first ${signal} while the engine stalls a build: status ${code}, nothing tagged`, async () => {
      const engine = await fake([
        ['GET', INSPECT, json(200, IMAGE_JSON)],
        ['POST', /^\/build$/, buildStream([{ stream: 'Step 1/2 : FROM builder\n' }], true)],
        ['POST', /\/tag$/, json(201, {})],
      ]);
      let signalled = 0;
      const run = await build(engine, {}, async (child) => {
        await engine.received('POST', /^\/build$/);
        await new Promise((r) => setTimeout(r, 300));
        signalled = Date.now();
        child.kill(signal);
      });
      expect(run.code, run.err).to.equal(code);
      expect(run.err).to.contain(`interrupted by ${signal}; nothing was tagged`);
      expect(Date.now() - signalled).to.be.below(3000);
      expect(tagged(engine)).to.deep.equal([]);
    });
  }

  it('stops at the first SIGTERM while a short call stalls', async () => {
    const engine = await fake([['GET', INSPECT, stall]]);
    let signalled = 0;
    const run = await build(engine, {}, async (child) => {
      await engine.received('GET', INSPECT);
      signalled = Date.now();
      child.kill('SIGTERM');
    });
    expect(run.code, run.err).to.equal(ExitCode.terminated);
    expect(Date.now() - signalled).to.be.below(3000);
  });

  it('reports an HTTP error outside the build stream with its status and message: status 5', async () => {
    const engine = await fake([['GET', INSPECT, json(500, { message: 'the disk is on fire' })]]);
    const run = await build(engine);
    expect(run.code, run.err).to.equal(ExitCode.engineFailed);
    expect(run.err).to.match(/the engine refused inspecting image .*: the disk is on fire \(HTTP 500\)/);
    expect(run.err).not.to.contain('unexpected failure');
  });

  it('reports an answer that is not JSON: status 5', async () => {
    const html: Route = (_req, res) => {
      res.writeHead(200, { 'Content-Type': 'text/html' }).end('<html>a web server</html>');
    };
    const engine = await fake([['GET', INSPECT, html]]);
    const run = await build(engine);
    expect(run.code, run.err).to.equal(ExitCode.engineFailed);
    expect(run.err).to.contain('something that is not JSON');
    expect(run.err).not.to.contain('unexpected failure');
  });

  it('reports a build stream that is not JSON: status 5, nothing tagged', async () => {
    const engine = await fake([
      ['GET', INSPECT, json(200, IMAGE_JSON)],
      ['POST', /^\/build$/, buildStream(['{"stream":"Step 1/1 : FROM x"}', 'this is not json'])],
      ['POST', /\/tag$/, json(201, {})],
    ]);
    const run = await build(engine);
    expect(run.code, run.err).to.equal(ExitCode.engineFailed);
    expect(run.err).to.contain('not JSON: this is not json');
    expect(tagged(engine)).to.deep.equal([]);
  });

  it('reports a failed tag with status 5 and removes the untagged image it built', async () => {
    const engine = await fake([
      ['GET', /^\/images\/sha256:b+\/json$/, json(200, { ...IMAGE_JSON, Id: BUILT, RepoTags: [] })],
      ['GET', INSPECT, json(200, IMAGE_JSON)],
      ['POST', /^\/build$/, buildStream(OK_BUILD)],
      ['POST', /\/tag$/, json(500, { message: 'no space left for tags' })],
      ['DELETE', /^\/images\//, json(200, [])],
    ]);
    const ref = image();
    const run = await build(engine, {}, undefined, MODEL, ref);
    expect(run.code, run.err).to.equal(ExitCode.engineFailed);
    expect(run.err).to.contain(`tagging ${ref} failed: no space left for tags (HTTP 500)`);
    expect(engine.requests.filter((r) => r.method === 'DELETE').map((r) => r.path)).to.deep.equal([`/images/${BUILT}`]);
  });

  it('keeps a built image that a tag already named before the build, when tagging fails', async () => {
    const engine = await fake([
      ['GET', /^\/images\/sha256:b+\/json$/, json(200, { ...IMAGE_JSON, Id: BUILT, RepoTags: ['someone-elses:1'] })],
      ['GET', INSPECT, json(200, IMAGE_JSON)],
      ['POST', /^\/build$/, buildStream(OK_BUILD)],
      ['POST', /\/tag$/, json(409, { message: 'conflict' })],
      ['DELETE', /^\/images\//, json(200, [])],
    ]);
    const run = await build(engine);
    expect(run.code, run.err).to.equal(ExitCode.engineFailed);
    expect(engine.requests.filter((r) => r.method === 'DELETE')).to.deep.equal([]);
  });

  it('never lets escape sequences from the build log reach the terminal', async () => {
    const hostile = { stream: 'hello \u001b]0;owned\u0007\u001b[2J\u009b31m world\r\n' };
    const engine = await fake([
      ['GET', INSPECT, json(200, { ...IMAGE_JSON, Id: BUILT })],
      ['POST', /^\/build$/, buildStream([OK_BUILD[0], hostile, ...OK_BUILD.slice(1)])],
      ['POST', /\/tag$/, json(201, {})],
    ]);
    const run = await build(engine);
    expect(run.code, run.err).to.equal(ExitCode.ok);
    expect(run.out).to.contain('hello \\x1b]0;owned\\x07\\x1b[2J\\x9b31m world');
    // eslint-disable-next-line no-control-regex -- control characters are what this test looks for
    expect(run.out + run.err).not.to.match(/[\u001b\u0007\u009b\r]/);
  });

  it('fails a file that grows while the context is sent with status 3, and tags nothing', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'cortex-s2i-test-grow-'));
    try {
      await cp(packageFile('fixtures', 'finance_income_prediction'), path.join(dir, 'finance_income_prediction'), {
        recursive: true,
      });
      const model = path.join(dir, 'finance_income_prediction', 'randomForest');
      const grows = path.join(model, 'features.py');
      // Between the plan (which saw the file's size) and the send: grows by zeros, which the
      // engine once read as the end of the archive.
      const grow: Route = async (req, res) => {
        const { size } = await stat(grows);
        await truncate(grows, size + 64 * 1024);
        await json(200, IMAGE_JSON)(req, res, async () => Buffer.alloc(0));
      };
      // As the engine did: it takes the first zero block for the end of the archive and reports
      // the image built while the rest of the context is still on its way.
      const early: Route = (req, res) => {
        req.once('data', () => {
          res.writeHead(200, { 'Content-Type': 'application/json' });
          res.end(OK_BUILD.map((m) => `${JSON.stringify(m)}\n`).join(''));
        });
      };
      const engine = await fake([
        ['GET', /^\/images\/sha256:b+\/json$/, json(200, { ...IMAGE_JSON, Id: BUILT, RepoTags: [] })],
        ['GET', INSPECT, grow],
        ['POST', /^\/build$/, early],
        ['POST', /\/tag$/, json(201, {})],
        ['DELETE', /^\/images\//, json(200, [])],
      ]);
      const run = await build(engine, {}, undefined, model);
      expect(run.code, run.err).to.equal(ExitCode.buildFailed);
      expect(run.err).to.match(/building .* failed: .*nothing was tagged/s);
      expect(tagged(engine)).to.deep.equal([]);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
