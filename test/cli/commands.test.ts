import { expect } from 'chai';
import { CortexError, ExitCode } from '../../lib/errors.js';
import { main, parseCommandLine } from '../../lib/cli/main.js';
import { COMMANDS } from '../../lib/cli/commands/index.js';

/** What the command named by argv[0] reads from the rest. */
function parseCommand(argv: string[]): unknown {
  return parseCommandLine(argv).args;
}

async function run(argv: string[]) {
  const out: string[] = [];
  const err: string[] = [];
  const code = await main(argv, {
    env: {},
    output: { out: (l) => out.push(l), err: (l) => err.push(l) },
    engine: () => {
      throw new Error('help needs no engine');
    },
  });
  return { code, out: out.join('\n'), err: err.join('\n') };
}

describe('the command table', () => {
  it('gives every command its own usage for --help, -h and help <command>, with status 0', async () => {
    for (const c of COMMANDS) {
      for (const argv of [
        [c.name, '--help'],
        [c.name, '-h'],
        ['help', c.name],
        [c.name, 'x', '--help'],
      ]) {
        const r = await run(argv);
        expect(r.code, argv.join(' ')).to.equal(ExitCode.ok);
        expect(r.out, argv.join(' ')).to.contain(`cortex-s2i ${c.synopsis[0]}`).and.contain(c.usage);
        for (const other of COMMANDS.filter((o) => o !== c))
          expect(r.out, argv.join(' ')).not.to.contain(`cortex-s2i ${other.synopsis[0]}`);
      }
    }
  });

  it('lists every command in the overall help, which exits 0', async () => {
    for (const argv of [[], ['--help'], ['-h'], ['help']]) {
      const r = await run(argv);
      expect(r.code).to.equal(ExitCode.ok);
      for (const c of COMMANDS) for (const s of c.synopsis) expect(r.out).to.contain(`cortex-s2i ${s}`);
    }
  });

  it('takes --help after -- as an argument, and an unknown command as a usage error', async () => {
    expect((await run(['build', '--', '--help', 'daemon', 'x'])).out).not.to.contain('Usage:');
    const unknown = await run(['frobnicate', '--help']);
    expect(unknown.code).to.equal(ExitCode.badInput);
    expect(unknown.err).to.contain('unknown command "frobnicate"').and.contain('build, push');
    const noSuchHelp = await run(['help', 'frobnicate']);
    expect(noSuchHelp.code).to.equal(ExitCode.badInput);
  });

  it('names each command once, and gives each a synopsis, a summary and a usage', () => {
    expect(new Set(COMMANDS.map((c) => c.name)).size).to.equal(COMMANDS.length);
    for (const c of COMMANDS) {
      expect(c.synopsis.length, c.name).to.be.greaterThan(0);
      for (const s of c.synopsis) expect(s.split(' ')[0], c.name).to.equal(c.name);
      expect(c.summary, c.name).to.match(/^[a-z]/);
      expect(c.usage.length, c.name).to.be.greaterThan(20);
    }
  });
});

function usageFailure(argv: string[]): CortexError {
  try {
    parseCommand(argv);
  } catch (err) {
    if (err instanceof CortexError) return err;
    throw err;
  }
  throw new Error('expected a usage error');
}

describe('reading a command line', () => {
  it('reads a build with repeated -e and options', () => {
    expect(
      parseCommand(['build', '.', 'daemon', 'my-model:1', '-e', 'A=1', '--env', 'B=x=y', '--dry-run']),
    ).to.deep.equal({
      source: '.',
      builder: 'daemon',
      image: 'my-model:1',
      env: [
        { key: 'A', value: '1' },
        { key: 'B', value: 'x=y' },
      ],
      project: undefined,
      api: undefined,
      allowRoot: false,
      make: {
        dryRun: true,
        asDockerfile: undefined,
        noCache: false,
        compress: false,
        cacheFrom: [],
        push: false,
        digestFile: undefined,
      },
      quiet: false,
      json: false,
      progress: 'auto',
    });
  });

  it('refuses wrong argument counts, unknown options, bad -e and bad image names with exit status 2', () => {
    for (const argv of [
      ['build', '.', 'daemon'],
      ['build', '.', 'daemon', 'img', '--nope'],
      ['build', '.', 'daemon', 'img', '-e', 'no-equals'],
      ['build', '.', 'daemon', 'My Image'],
      ['frobnicate'],
    ]) {
      expect(usageFailure(argv).exitCode, argv.join(' ')).to.equal(ExitCode.badInput);
    }
  });

  it('refuses image names the engine would read as something else, with the reason', () => {
    for (const [image, reason] of [
      ['a:b:c', /"a:b" has a colon/],
      ['a@b', /not a digest/],
      ['Model', /upper case/],
      [`model@sha256:${'0'.repeat(64)}`, /cannot be given one/],
      ['model@sha256:xyz', /not a digest/],
    ] as const) {
      const err = usageFailure(['build', '.', 'daemon', image]);
      expect(err.exitCode).to.equal(ExitCode.badInput);
      expect(err.message, image).to.match(reason);
    }
    expect(parseCommand(['build', '.', 'daemon', 'localhost:5000/team/model:1.0'])).to.deep.include({
      image: 'localhost:5000/team/model:1.0',
    });
  });
});

describe("reading push and a build's results", () => {
  it('reads --push, --json, --digest-file and repeated --cache-from on a build', () => {
    const cmd = parseCommand([
      'build',
      '.',
      'daemon',
      'r:5000/m:1',
      '--push',
      '--json',
      '--digest-file',
      'd.txt',
      '--cache-from',
      'r:5000/m:0',
      '--cache-from',
      'r:5000/m:base',
    ]);
    expect(cmd).to.deep.include({ json: true });
    expect((cmd as { make: unknown }).make).to.deep.include({
      push: true,
      digestFile: 'd.txt',
      cacheFrom: ['r:5000/m:0', 'r:5000/m:base'],
    });
  });

  it('reads push <image> with an optional digest file', () => {
    expect(parseCommand(['push', 'r:5000/m:1'])).to.deep.equal({
      image: 'r:5000/m:1',
      digestFile: undefined,
    });
    expect(parseCommand(['push', 'r:5000/m:1', '--digest-file', 'out'])).to.deep.equal({
      image: 'r:5000/m:1',
      digestFile: 'out',
    });
  });

  it('refuses -q with --json, a digest file without --push, bad references, and push without one image', () => {
    for (const argv of [
      ['build', '.', 'daemon', 'img', '-q', '--json'],
      ['build', '.', 'daemon', 'img', '--digest-file', 'd'],
      ['build', '.', 'daemon', 'img', '--cache-from', 'Not An Image'],
      ['push'],
      ['push', 'a', 'b'],
      ['push', 'a:b:c'],
    ]) {
      expect(usageFailure(argv).exitCode, argv.join(' ')).to.equal(ExitCode.badInput);
    }
  });
});

describe('reading job', () => {
  it('reads job run with volumes, a memory limit and an id', () => {
    expect(
      parseCommand([
        'job',
        'run',
        'scorer',
        'job.json',
        '-v',
        './out:/action/out',
        '--volume',
        '/data:/data:ro',
        '-m',
        '64m',
        '--id',
        'scores-1',
      ]),
    ).to.deep.equal({
      sub: 'run',
      image: 'scorer',
      jobFile: 'job.json',
      volumes: [
        { host: './out', container: '/action/out', readOnly: false },
        { host: '/data', container: '/data', readOnly: true },
      ],
      memoryBytes: 64 * 1024 * 1024,
      id: 'scores-1',
    });
  });

  it('reads job status and job render', () => {
    expect(parseCommand(['job', 'status', 'abc', '--json'])).to.deep.equal({
      sub: 'status',
      id: 'abc',
      json: true,
    });
    expect(parseCommand(['job', 'render', 'scorer', 'job.json', '--split-claim', 'pvc', '--out', 'k8s'])).to.deep.equal(
      {
        sub: 'render',
        image: 'scorer',
        jobFile: 'job.json',
        out: 'k8s',
        splitClaim: 'pvc',
        memoryBytes: undefined,
        id: undefined,
      },
    );
  });

  it('refuses malformed volumes, sizes, ids and options of another subcommand', () => {
    for (const argv of [
      ['job', 'run', 'i', 'j.json', '-v', 'out'],
      ['job', 'run', 'i', 'j.json', '-v', 'out:relative'],
      ['job', 'run', 'i', 'j.json', '-v', 'a:/b:rx'],
      ['job', 'run', 'i', 'j.json', '-m', '1k'],
      ['job', 'run', 'i', 'j.json', '--id', 'Upper_Case'],
      ['job', 'run', 'i', 'j.json', '--split-claim', 'x'],
      ['job', 'status'],
      ['job', 'launch'],
    ]) {
      expect(usageFailure(argv).exitCode, argv.join(' ')).to.equal(ExitCode.badInput);
    }
  });
});
