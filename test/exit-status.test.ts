// Every failure docs/troubleshooting.md documents ends with its documented, non-zero status when the
// built command runs as a user runs it (a child process), against an engine and registries that
// fail on cue; a documented status without a case here, a status of the code the page does not
// document, or a failing path that exits 0, fails the test.
// And build output in a CI log (no terminal, CI set) carries no control characters.

import { expect } from 'chai';
import { readFile, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtemp, rm } from 'node:fs/promises';
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
  type CliRun,
  type Route,
} from './support/fake-http-engine.js';

const MODEL = packageFile('fixtures', 'finance_income_prediction', 'randomForest');
const PREFIX = process.env.CORTEX_S2I_TEST_PREFIX || 'cortex-s2i-test';
// A name of its own for every build: the model folder does not change, so the build cache would
// answer a second build of one name from the first, and the fake engines all say the image exists.
let built = 0;
const image = () => `${PREFIX}-status-${process.pid}-${++built}:1`;
const BUILT = `sha256:${'b'.repeat(64)}`;
const INSPECT = /^\/images\/.+\/json$/;
const PUSH = /^\/images\/.+\/push$/;
const PUSH_REFUSED = buildStream([
  { status: 'The push refers to repository' },
  { errorDetail: { message: 'denied: requested access to the resource is denied' }, error: 'denied' },
]);

/** The statuses docs/troubleshooting.md's exit-status section documents (0 aside). */
async function documentedStatuses(): Promise<number[]> {
  const page = await readFile(packageFile('docs', 'troubleshooting.md'), 'utf8');
  const section = /^## Exit status\n([\s\S]*?)^## /m.exec(page);
  if (!section) throw new Error('docs/troubleshooting.md has no "## Exit status" section');
  const codes = [...section[1]!.matchAll(/^\| ((?:`\d+`(?:, )?)+) \|/gm)].flatMap((m) =>
    [...m[1]!.matchAll(/`(\d+)`/g)].map((c) => Number(c[1])),
  );
  return [...new Set(codes)].filter((c) => c !== 0).sort((a, b) => a - b);
}

/** The one status no case can make on purpose: a bug. */
const INTERNAL = ExitCode.internal;

/** A registry's /v2/ on 127.0.0.1 answering `status` (with a Basic challenge on 401). */
async function registry(status: number): Promise<Server> {
  const server = createServer((_req, res) => {
    res.writeHead(status, status === 401 ? { 'WWW-Authenticate': 'Basic realm="test"' } : {}).end('{}');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return server;
}

interface Case {
  name: string;
  status: number;
  run(ctx: {
    fake(routes: Array<[string, RegExp, Route]>): Promise<FakeHttpEngine>;
    registry(status: number): Promise<string>;
    env: NodeJS.ProcessEnv;
    /** A folder of the test's own, to run in. */
    dir: string;
  }): Promise<CliRun>;
}

const signalled = (signal: NodeJS.Signals, status: number): Case => ({
  name: `${signal} while the engine stalls a build`,
  status,
  async run({ fake, env }) {
    const engine = await fake([
      ['GET', INSPECT, json(200, IMAGE_JSON)],
      ['POST', /^\/build$/, buildStream([{ stream: 'Step 1/2 : FROM builder\n' }], true)],
    ]);
    return runCli(['build', MODEL, 'daemon', image()], { ...env, DOCKER_HOST: engine.host }, async (child) => {
      await engine.received('POST', /^\/build$/);
      child.kill(signal);
    });
  },
});

const push = (
  name: string,
  status: number,
  ref: (registry: (s: number) => Promise<string>) => Promise<string>,
): Case => ({
  name,
  status,
  async run({ fake, registry: reg, env }) {
    const engine = await fake([
      ['GET', INSPECT, json(200, IMAGE_JSON)],
      ['POST', PUSH, PUSH_REFUSED],
    ]);
    return runCli(['push', await ref(reg)], { ...env, DOCKER_HOST: engine.host });
  },
});

const CASES: Case[] = [
  { name: 'a usage error', status: ExitCode.badInput, run: ({ env }) => runCli(['build', MODEL, 'daemon'], env) },
  {
    name: 'an unknown option',
    status: ExitCode.badInput,
    run: ({ env }) => runCli(['build', MODEL, 'daemon', image(), '--progress', 'loud'], env),
  },
  {
    name: 'a source folder that does not exist',
    status: ExitCode.badInput,
    run: ({ env }) => runCli(['build', '/nonexistent/model', 'daemon', image(), '--dry-run'], env),
  },
  {
    name: 'an image name the engine would misread',
    status: ExitCode.badInput,
    run: ({ env }) => runCli(['build', MODEL, 'daemon', 'a:b:c'], env),
  },
  {
    name: 'an out-of-range SOURCE_DATE_EPOCH',
    status: ExitCode.badInput,
    run: ({ env }) =>
      runCli(['build', MODEL, 'daemon', image(), '--dry-run'], { ...env, SOURCE_DATE_EPOCH: '99999999999999' }),
  },
  {
    name: 'a DOCKER_HOST the tool cannot honour',
    status: ExitCode.badInput,
    run: ({ env }) => runCli(['build', MODEL, 'daemon', image()], { ...env, DOCKER_HOST: 'ssh://user@host' }),
  },
  {
    name: 'a builder image missing from the engine',
    status: ExitCode.badInput,
    run: async ({ fake, env }) =>
      runCli(['build', MODEL, 'daemon', image()], { ...env, DOCKER_HOST: (await fake([])).host }),
  },
  {
    name: 'a failing build step',
    status: ExitCode.buildFailed,
    async run({ fake, env }) {
      const engine = await fake([
        ['GET', INSPECT, json(200, IMAGE_JSON)],
        [
          'POST',
          /^\/build$/,
          buildStream([
            { stream: 'Step 1/2 : FROM builder\n' },
            { stream: 'Step 2/2 : RUN false\n' },
            { stream: 'boom\tfailed\n' },
            {
              errorDetail: { code: 1, message: "The command '/bin/sh -c false' returned a non-zero code: 1" },
              error: 'x',
            },
          ]),
        ],
      ]);
      return runCli(['build', MODEL, 'daemon', image()], { ...env, DOCKER_HOST: engine.host });
    },
  },
  {
    name: 'no engine answers',
    status: ExitCode.engineUnreachable,
    run: ({ env }) => runCli(['build', MODEL, 'daemon', image()], { ...env, DOCKER_HOST: 'tcp://127.0.0.1:1' }),
  },
  {
    name: 'an engine call that gets no answer in time',
    status: ExitCode.engineUnreachable,
    run: async ({ fake, env }) =>
      runCli(['build', MODEL, 'daemon', image()], {
        ...env,
        DOCKER_HOST: (await fake([['GET', INSPECT, stall]])).host,
        CORTEX_S2I_ENGINE_TIMEOUT: '1',
      }),
  },
  {
    name: 'the engine refuses a request',
    status: ExitCode.engineFailed,
    run: async ({ fake, env }) =>
      runCli(['build', MODEL, 'daemon', image()], {
        ...env,
        DOCKER_HOST: (await fake([['GET', INSPECT, json(500, { message: 'disk on fire' })]])).host,
      }),
  },
  push(
    'a registry that refuses for its own reason',
    ExitCode.registryFailed,
    async (reg) => `${await reg(200)}/team/model:1`,
  ),
  push('a registry that is down', ExitCode.registryDown, async () => '127.0.0.1:1/team/model:1'),
  push('a registry host that does not resolve', ExitCode.registryUnknown, async () => 'registry.invalid/team/model:1'),
  push(
    'a registry that asks for credentials there are none of',
    ExitCode.registryCredentials,
    async (reg) => `${await reg(401)}/team/model:1`,
  ),
  {
    name: 'a batch job whose worker dies',
    status: ExitCode.jobFailed,
    async run({ fake, env, dir }) {
      const id = 'c'.repeat(64);
      const engine = await fake([
        ['GET', INSPECT, json(200, IMAGE_JSON)],
        ['POST', /^\/containers\/create/, json(201, { Id: id })],
        ['POST', /^\/containers\/c+\/start/, json(204, {})],
        [
          'GET',
          /^\/containers\/c+\/json/,
          json(200, { State: { Running: false, ExitCode: 1, OOMKilled: false }, NetworkSettings: { Ports: {} } }),
        ],
        ['POST', /^\/containers\/c+\/wait/, json(200, { StatusCode: 1 })],
        ['GET', /^\/containers\/c+\/logs/, json(200, {})],
        ['DELETE', /^\/containers\/c+/, json(204, {})],
      ]);
      const job = path.join(dir, 'job.json');
      await writeFile(job, JSON.stringify({ workers: 1, item_list: { items: [1], batch_size: 1 } }));
      return runCli(['job', 'run', 'scorer:1', job], { ...env, DOCKER_HOST: engine.host }, undefined, dir);
    },
  },
  signalled('SIGHUP', ExitCode.hangup),
  signalled('SIGINT', ExitCode.interrupted),
  signalled('SIGTERM', ExitCode.terminated),
];

describe('exit statuses of failing commands', function () {
  this.timeout(60_000);
  const engines: FakeHttpEngine[] = [];
  const registries: Server[] = [];
  let configDir: string;
  let env: NodeJS.ProcessEnv;
  before(async () => {
    configDir = await mkdtemp(path.join(tmpdir(), `${PREFIX}-status-`));
    // No credentials and no limits from the developer's own environment.
    env = {
      DOCKER_CONFIG: configDir,
      DOCKER_TLS_VERIFY: '',
      DOCKER_CERT_PATH: '',
      CORTEX_S2I_ENGINE_TIMEOUT: '',
      CORTEX_S2I_BUILD_SILENCE_TIMEOUT: '',
      SOURCE_DATE_EPOCH: '',
    };
  });
  after(() => rm(configDir, { recursive: true, force: true }));
  afterEach(async () => {
    for (const e of engines.splice(0)) await e.close();
    for (const r of registries.splice(0)) await new Promise((resolve) => r.close(resolve));
  });
  const ctx = {
    fake: async (routes: Array<[string, RegExp, Route]>) => {
      const e = await FakeHttpEngine.start(routes);
      engines.push(e);
      return e;
    },
    registry: async (status: number) => {
      const r = await registry(status);
      registries.push(r);
      return `127.0.0.1:${(r.address() as AddressInfo).port}`;
    },
  };

  it('has a case for every status the page documents, and the page every status of the code', async () => {
    const documented = await documentedStatuses();
    const codes = [...new Set(Object.values(ExitCode))].filter((c) => c !== ExitCode.ok).sort((a, b) => a - b);
    expect(documented).to.deep.equal(codes);
    expect([...new Set([...CASES.map((c) => c.status), INTERNAL])].sort((a, b) => a - b)).to.deep.equal(documented);
  });

  for (const c of CASES) {
    it(`${c.name}: status ${c.status}`, async () => {
      const run = await c.run({ ...ctx, env, dir: configDir });
      expect(run.code, `${run.out}\n${run.err}`).to.not.equal(0);
      expect(run.code, `${run.out}\n${run.err}`).to.equal(c.status);
      expect(run.err).to.match(/^error: /m);
    });
  }
});

describe('build output in a CI log', function () {
  this.timeout(60_000);
  // eslint-disable-next-line no-control-regex
  const CONTROL = /[\u0000-\u0009\u000b-\u001f\u007f-\u009f]/;
  const engines: FakeHttpEngine[] = [];
  afterEach(async () => {
    for (const e of engines.splice(0)) await e.close();
  });

  async function buildWith(messages: unknown[], args: string[], env: NodeJS.ProcessEnv): Promise<CliRun> {
    const engine = await FakeHttpEngine.start([
      ['GET', INSPECT, json(200, { ...IMAGE_JSON, Id: BUILT })],
      ['POST', /^\/build$/, buildStream(messages)],
      ['POST', /\/tag$/, json(201, {})],
    ]);
    engines.push(engine);
    return runCli(['build', MODEL, 'daemon', image(), ...args], { DOCKER_HOST: engine.host, NO_COLOR: '', ...env });
  }

  const NOISY = [
    { stream: 'Step 1/3 : FROM builder\n' },
    { stream: 'Step 2/3 : RUN pip install\n' },
    { stream: 'Collecting\tnumpy \u001b[31mred\u001b[0m\r 50%\r100%\u0007\n' },
    { stream: 'Step 3/3 : COPY . /opt/program\n' },
    { aux: { ID: BUILT } },
  ];

  for (const [name, args, env] of [
    ['CI=true, progress auto', [], { CI: 'true' }],
    ['--progress plain', ['--progress', 'plain'], { CI: '' }],
    ['--progress plain with --json', ['--progress', 'plain', '--json'], { CI: '' }],
  ] as const) {
    it(`${name}: steps with durations and the log, no byte under 0x20 but line ends, no ESC`, async () => {
      const run = await buildWith(NOISY, [...args], env);
      expect(run.code, run.err).to.equal(0);
      const all = run.out + run.err;
      expect(all).to.match(/^ {2}step 2\/3 +\d+\.\ds \S/m);
      expect(all).to.contain('Collecting    numpy \\x1b[31mred');
      expect(all).not.to.match(CONTROL);
    });
  }

  it('a failing build in CI: status 3 and still no control characters', async () => {
    const run = await buildWith(
      [
        { stream: 'Step 1/2 : FROM builder\n' },
        { stream: 'Step 2/2 : RUN x\n' },
        { stream: 'fail\there\u001b[2J\n' },
        { errorDetail: { message: 'returned a non-zero code: 1' }, error: 'x' },
      ],
      ['-q'],
      { CI: 'true' },
    );
    expect(run.code).to.equal(ExitCode.buildFailed);
    expect(run.out + run.err).not.to.match(CONTROL);
  });

  it('--progress tty off a terminal: the live line is rewritten with carriage returns, but no colours', async () => {
    const run = await buildWith(NOISY, ['--progress', 'tty'], { CI: 'true' });
    expect(run.code, run.err).to.equal(0);
    expect(run.out).to.contain('\r\u001b[K');
    // eslint-disable-next-line no-control-regex
    expect(run.out).not.to.match(/\u001b\[\d+m/);
  });
});
