import { expect } from 'chai';
import { CortexError, ExitCode } from '../errors.js';
import { parseCommand } from './args.js';

function usageFailure(argv: string[]): CortexError {
  try {
    parseCommand(argv);
  } catch (err) {
    if (err instanceof CortexError) return err;
    throw err;
  }
  throw new Error('expected a usage error');
}

describe('parseCommand', () => {
  it('reads a build with repeated -e and options', () => {
    expect(
      parseCommand(['build', '.', 'daemon', 'my-model:1', '-e', 'A=1', '--env', 'B=x=y', '--dry-run']),
    ).to.deep.equal({
      name: 'build',
      source: '.',
      builder: 'daemon',
      image: 'my-model:1',
      env: [
        { key: 'A', value: '1' },
        { key: 'B', value: 'x=y' },
      ],
      project: undefined,
      dryRun: true,
      quiet: false,
      noCache: false,
      compress: false,
      allowRoot: false,
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

  it('treats no arguments as a request for help', () => {
    expect(parseCommand([])).to.deep.equal({ name: 'help' });
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

describe("parseCommand: push and a build's results", () => {
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
    expect(cmd).to.include({ name: 'build', push: true, json: true, digestFile: 'd.txt' });
    expect((cmd as { cacheFrom?: string[] }).cacheFrom).to.deep.equal(['r:5000/m:0', 'r:5000/m:base']);
  });

  it('reads push <image> with an optional digest file', () => {
    expect(parseCommand(['push', 'r:5000/m:1'])).to.deep.equal({
      name: 'push',
      image: 'r:5000/m:1',
      digestFile: undefined,
    });
    expect(parseCommand(['push', 'r:5000/m:1', '--digest-file', 'out'])).to.deep.equal({
      name: 'push',
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

describe('parseCommand: job', () => {
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
      name: 'job-run',
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
      name: 'job-status',
      id: 'abc',
      json: true,
    });
    expect(parseCommand(['job', 'render', 'scorer', 'job.json', '--split-claim', 'pvc', '--out', 'k8s'])).to.deep.equal(
      {
        name: 'job-render',
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
