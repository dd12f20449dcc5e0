// `make bench-cli`: where the CLI's own start goes, before and after it loaded only what a command
// needs. Runs --help, build --dry-run and a rebuild with no change of a copy of the example
// project, each as it is ("after") and with every module imported up front ("before", eager.ts),
// alternating, in one invocation; prints medians of wall and CPU time and their ratios.
//
// The rebuild needs the engine and the daemon builder (make builders); without them its row is
// left out. Everything it creates is named cortex-s2i-bench-cli-<run>-... and removed at the end.
// BENCH_RUNS (5) sets the number of runs each median is taken over.

import { randomBytes } from 'node:crypto';
import { cp, mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { packageRoot, packageVersion } from '../../lib/package-root.js';
import { bundledBuilderImage } from '../../lib/plan/builders.js';
import { GNU_TIME, must, run } from '../build/commands.js';
import { median } from '../build/report.js';

const RUNS = Number(process.env.BENCH_RUNS ?? 5);
if (!Number.isInteger(RUNS) || RUNS < 1)
  throw new Error(`BENCH_RUNS=${process.env.BENCH_RUNS} is not a whole number of runs`);
const log = (line: string) => process.stdout.write(`${line}\n`);

interface Timed {
  wall: number;
  /** User and system time of the process and its children (git), when GNU time is installed. */
  cpu: number | undefined;
}

async function timed(args: string[], env: NodeJS.ProcessEnv, scratch: string): Promise<Timed> {
  if (!GNU_TIME) return { wall: (await must(process.execPath, args, { env })).seconds, cpu: undefined };
  const r = await must(GNU_TIME, ['-f', '%U %S', '-o', scratch, process.execPath, ...args], { env });
  const [user, sys] = (await readFile(scratch, 'utf8')).trim().split('\n').pop()!.split(' ').map(Number);
  return { wall: r.seconds, cpu: user! + sys! };
}

async function main(): Promise<void> {
  const root = packageRoot();
  const cli = path.join(root, 'bin', 'cortex-s2i.js');
  const eager = path.join(path.dirname(fileURLToPath(import.meta.url)), 'eager.js');
  const run_ = randomBytes(3).toString('hex');
  const work = await mkdtemp(path.join(os.tmpdir(), 'cortex-s2i-bench-cli-'));
  const tag = `cortex-s2i-bench-cli-${run_}-rebuild`;
  const env = { ...process.env };
  delete env.SOURCE_DATE_EPOCH;
  let built = false;
  try {
    const project = path.join(work, 'finance_income_prediction');
    await cp(path.join(root, 'fixtures', 'finance_income_prediction'), project, { recursive: true });
    // A user's project is a git checkout: the build reads its revision and compares its files.
    const git = (...args: string[]) =>
      must(
        'git',
        [
          '-C',
          project,
          '-c',
          'user.name=cortex-s2i bench',
          '-c',
          'user.email=bench@localhost',
          '-c',
          'commit.gpgsign=false',
          ...args,
        ],
        { env },
      );
    await git('init', '-q');
    await git('add', '-A');
    await git('commit', '-q', '-m', 'benchmark copy of the example project');
    const model = path.join(project, 'logisticRegression');

    const commands: Array<[string, string[]]> = [
      ['--help', ['--help']],
      ['build --dry-run', ['build', model, 'daemon', tag, '--dry-run']],
    ];
    const builder = bundledBuilderImage('daemon', packageVersion(), env.CORTEX_S2I_BUILDER_REPO || undefined);
    const haveBuilder = (await run('docker', ['image', 'inspect', builder], { env })).code === 0;
    if (haveBuilder) {
      log(`warming up: a first build of ${tag}`);
      built = true;
      await must(process.execPath, [cli, 'build', model, 'daemon', tag, '--quiet'], { env });
      commands.push(['rebuild, no change', ['build', model, 'daemon', tag, '--quiet']]);
    } else {
      log(`note: no rebuild row: the builder ${builder} is missing (make builders)`);
    }

    const scratch = path.join(work, 'time.out');
    const samples = new Map<string, { before: Timed[]; after: Timed[] }>();
    const nodeStart: Timed[] = [];
    for (let i = 0; i < RUNS; i++) {
      nodeStart.push(await timed(['-e', '0'], env, scratch));
      for (const [name, args] of commands) {
        const s = samples.get(name) ?? { before: [], after: [] };
        samples.set(name, s);
        // Each run starts with the other side, so that neither always goes first.
        const sides: Array<['before' | 'after', string[]]> = [
          ['before', ['--import', eager, cli, ...args]],
          ['after', [cli, ...args]],
        ];
        for (const [side, argv] of i % 2 ? sides.reverse() : sides) s[side].push(await timed(argv, env, scratch));
      }
    }

    const m = (xs: Timed[], k: keyof Timed) =>
      xs.some((x) => x[k] === undefined) ? undefined : median(xs.map((x) => x[k]!));
    const f = (x: number | undefined) => (x === undefined ? '-' : `${x.toFixed(2)} s`);
    const ratio = (a: number | undefined, b: number | undefined) =>
      a === undefined || b === undefined ? '-' : `${(a / b).toFixed(2)}×`;
    const rows = [
      ['command', 'before: wall', 'after: wall', 'after/before', 'before: CPU', 'after: CPU', 'after/before'],
    ];
    rows.push(['node -e 0 (the floor)', '', f(m(nodeStart, 'wall')), '', '', f(m(nodeStart, 'cpu')), '']);
    for (const [name, s] of samples) {
      const [bw, aw, bc, ac] = [m(s.before, 'wall'), m(s.after, 'wall'), m(s.before, 'cpu'), m(s.after, 'cpu')];
      rows.push([name, f(bw), f(aw), ratio(aw, bw), f(bc), f(ac), ratio(ac, bc)]);
    }
    const widths = rows[0]!.map((_, c) => Math.max(...rows.map((r) => r[c]!.length)));
    log('');
    log(
      `cortex-s2i's start, medians of ${RUNS} alternating runs; before = every module imported up front (bench/cli/eager.ts)`,
    );
    for (const r of rows)
      log(
        r
          .map((cell, c) => cell.padEnd(widths[c]!))
          .join('  ')
          .trimEnd(),
      );
    log(
      `load average (1 min) ${os.loadavg()[0]!.toFixed(2)} on ${os.cpus().length} cores${GNU_TIME ? '; CPU = user + system of the process and its children' : '; no CPU column: /usr/bin/time (GNU time) is not installed'}`,
    );
  } finally {
    if (built) await run('docker', ['rmi', tag], { env }).catch(() => undefined);
    await rm(work, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`bench-cli: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
