// `make bench`: the build benchmark. Builds a copy of the example project's xgBoost
// model with cortex-s2i and with hand-written baselines on the local engine, in one run, and
// prints each question's median against its baseline; writes bench/results/build.{json,md}.
//
//   (a) source-only rebuild after editing predict.py, against the floor: docker build of a
//       Dockerfile that only COPYs the same files onto an image that already has the dependencies
//   (b) the same rebuild against the s2i way: the whole model folder, then the full assemble
//   (c) a cold build (--no-cache on both sides) against a hand-written two-layer Dockerfile
//   (d) bytes sent to the engine against the bytes of the files in the image, with 200 MB in data/
//   (e) --help and build --dry-run on a generated 10,000-file project: wall time and peak memory
//   (f) image size minus the builder's, against the source bytes plus the installed dependencies
//   (g) a rebuild with no change at all: the same image id as the build before (so no new image),
//       timed against the floor's build with every step cached
//
// Everything it creates is named cortex-s2i-bench-build-<run>-... and removed at the end. It talks
// to the local engine only (the benchmark model's setup.sh fetches jq from Debian's archive inside
// its build). BENCH_RUNS (7), BENCH_SLOW_RUNS (3, the s2i way) and BENCH_COLD_RUNS (5) set the
// number of runs each median is taken over; BENCH_ROWS (a,b,c,d,e,f,g) the rows to measure, for a
// short run of the ones at hand (BENCH_ROWS=a,g BENCH_RUNS=3).

import { randomBytes } from 'node:crypto';
import { appendFile, mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { packageRoot, packageVersion } from '../../lib/package-root.js';
import { bundledBuilderImage } from '../../lib/plan/builders.js';
import { DockerCli, GNU_TIME, must, run, runMeasured, type Finished } from './commands.js';
import {
  engineAddress,
  startCountingProxy,
  tarComposition,
  type CountedRequest,
  type CountingProxy,
} from './context-proxy.js';
import {
  BENCH_MODEL,
  dependenciesDockerfile,
  editPredict,
  floorDockerfile,
  generateLargeProject,
  placeDependencies,
  placeProjectForS2i,
  placeSource,
  prepareBenchProject,
  s2iDockerfile,
  sparseFile,
  twoLayerDockerfile,
  TWO_LAYER_DEPENDENCY_STEP,
  type BenchProject,
  type SourceFile,
} from './projects.js';
import { markdownTable, measured, median, row, textTable, type Row } from './report.js';

const runs = (name: string, fallback: number) => {
  const n = Number(process.env[name] ?? fallback);
  if (!Number.isInteger(n) || n < 1) throw new Error(`${name}=${process.env[name]} is not a whole number of runs`);
  return n;
};
const RUNS = runs('BENCH_RUNS', 7);
const SLOW_RUNS = runs('BENCH_SLOW_RUNS', 3);
const COLD_RUNS = runs('BENCH_COLD_RUNS', 5);
const ALL_ROWS = ['a', 'b', 'c', 'd', 'e', 'f', 'g'];
const ROWS = new Set((process.env.BENCH_ROWS || ALL_ROWS.join(',')).split(',').map((r) => r.trim()));
for (const r of ROWS)
  if (!ALL_ROWS.includes(r))
    throw new Error(`BENCH_ROWS=${process.env.BENCH_ROWS}: no row ${JSON.stringify(r)} (rows: ${ALL_ROWS.join(',')})`);
const LARGE_PROJECT_FILES = 10_000;
const BIG_FILE_BYTES = 200_000_000;

const log = (line: string) => process.stdout.write(`${line}\n`);

/** What the run created, removed in reverse at the end, whatever happened. */
class Leftovers {
  readonly images: string[] = [];
  readonly containers: string[] = [];
  readonly dirs: string[] = [];
  proxy: CountingProxy | undefined;
  private cleaning: Promise<string[]> | undefined;

  constructor(private readonly docker: DockerCli) {}

  /** Removes everything; a second call (Ctrl-C during the first) waits for the same work. */
  clean(): Promise<string[]> {
    this.cleaning ??= this.removeAll();
    return this.cleaning;
  }

  private async removeAll(): Promise<string[]> {
    await this.proxy?.close();
    for (const c of this.containers)
      await run('docker', ['rm', '-f', c], { env: this.docker.env }).catch(() => undefined);
    // Removing a tag removes the image and its untagged parents (the build's intermediate
    // images), unless another image still needs them.
    if (this.images.length)
      await run('docker', ['rmi', ...[...this.images].reverse()], { env: this.docker.env }).catch(() => undefined);
    const left: string[] = [];
    for (const image of this.images) if (await this.docker.imageId(image)) left.push(image);
    for (const d of this.dirs) await rm(d, { recursive: true, force: true });
    return left;
  }
}

interface Context {
  docker: DockerCli;
  env: NodeJS.ProcessEnv;
  leftovers: Leftovers;
  prefix: string;
  /** The pinned builder: the daemon builder's image under a name of this run. */
  builder: string;
  work: string;
  project: BenchProject;
  /** Counts (and times) what cortex-s2i sends to the engine, for (d) and the rebuild's timeline. */
  proxy: CountingProxy;
}

/** `cortex-s2i build` as a user runs it, timed from start to exit. */
async function cortexBuild(
  ctx: Context,
  tag: string,
  flags: string[] = [],
  env: NodeJS.ProcessEnv = ctx.env,
): Promise<Finished> {
  ctx.leftovers.images.push(tag);
  return must(
    process.execPath,
    [path.join(packageRoot(), 'bin', 'cortex-s2i.js'), 'build', ctx.project.modelDir, ctx.builder, tag, ...flags],
    { env },
  );
}

async function dockerBuild(ctx: Context, dir: string, tag: string, extra: string[] = []): Promise<Finished> {
  ctx.leftovers.images.push(tag);
  return ctx.docker.build(dir, tag, extra);
}

async function main(): Promise<number> {
  const started = Date.now();
  const env = process.env;
  const docker = new DockerCli(env);
  const version = packageVersion();
  const runId = randomBytes(3).toString('hex');
  const prefix = `cortex-s2i-bench-build-${runId}`;
  const leftovers = new Leftovers(docker);

  const interrupted = () => {
    log('\ninterrupted: cleaning up');
    void leftovers.clean().finally(() => process.exit(130));
  };
  process.once('SIGINT', interrupted);
  process.once('SIGTERM', interrupted);

  try {
    const engine = await run('docker', ['version', '--format', '{{.Server.Version}}'], { env: docker.env });
    if (engine.code !== 0) throw new Error(`no Docker engine answers (${engine.stderr.trim()})\nhint: make engine`);
    const bundled = bundledBuilderImage('daemon', version, env.CORTEX_S2I_BUILDER_REPO || undefined);
    const builderId = await docker.imageId(bundled);
    if (!builderId) throw new Error(`the daemon builder ${bundled} is missing\nhint: make builders`);

    const work = await mkdtemp(path.join(os.tmpdir(), 'cortex-s2i-bench-build-'));
    leftovers.dirs.push(work);
    // The builder is pinned under a name of this run, so that a `make builders` elsewhere during
    // the run cannot change what either side builds on. cortex-s2i knows it by its builder label.
    const builder = `${prefix}-builder:daemon`;
    await docker.run(['tag', builderId, builder]);
    leftovers.images.push(builder);

    log(
      `cortex-s2i build benchmark, run ${runId}: ${RUNS} runs per row (${SLOW_RUNS} for the s2i way, ${COLD_RUNS} cold), in ${work}`,
    );
    const project = await prepareBenchProject(
      path.join(packageRoot(), 'fixtures', 'finance_income_prediction'),
      path.join(work, 'project'),
      env,
    );
    const proxy = await startCountingProxy(path.join(work, 'engine.sock'), engineAddress(env.DOCKER_HOST), true);
    leftovers.proxy = proxy;
    const ctx: Context = { docker, env, leftovers, prefix, builder, work, project, proxy };
    const machine = await describeMachine(docker, builderId);
    const loadBefore = os.loadavg();
    if (loadBefore[0]! > os.cpus().length / 2)
      log(
        `note: the machine is busy (load average ${loadBefore[0]!.toFixed(2)} on ${os.cpus().length} cores): timings will be noisy`,
      );

    const rows: Row[] = [];
    const diagnostics: Record<string, unknown> = {};
    const { rebuild, source, floorDir } = await benchRebuilds(ctx, rows, diagnostics);
    if (ROWS.has('g')) await benchUnchanged(ctx, rows, floorDir);
    if (ROWS.has('c') || ROWS.has('f')) await benchCold(ctx, rows, source);
    if (ROWS.has('d')) await benchContext(ctx, rows);
    if (ROWS.has('e')) await benchCli(ctx, rows, diagnostics);
    diagnostics.rebuild = median(rebuild);

    // In the issue's order; rows of one question stay in the order they were added.
    rows.sort((a, b) => a.id.localeCompare(b.id));
    const loadAfter = os.loadavg();
    const seconds = (Date.now() - started) / 1000;

    log('');
    log(textTable(rows));
    log('');
    for (const line of explain(diagnostics)) log(line);
    log(`machine: ${machine.summary}`);
    log(
      `load average (1 min) ${loadBefore[0]!.toFixed(2)} at the start, ${loadAfter[0]!.toFixed(2)} at the end; ${seconds.toFixed(0)} s in all`,
    );

    const resultsDir = path.join(packageRoot(), 'bench', 'results');
    await mkdir(resultsDir, { recursive: true });
    const json = path.join(resultsDir, 'build.json');
    await writeFile(
      json,
      `${JSON.stringify({ benchmark: 'build', run: runId, date: new Date(started).toISOString(), seconds, cortexS2iVersion: version, machine, load: { before: loadBefore, after: loadAfter }, runs: { quick: RUNS, s2iWay: SLOW_RUNS, cold: COLD_RUNS }, rows, diagnostics }, null, 2)}\n`,
    );
    await writeFile(path.join(resultsDir, 'build.md'), `${markdownTable(rows)}\n\n${machine.summary}\n`);
    log(`results: ${path.relative(process.cwd(), json)} (and build.md, the table in Markdown)`);
    // A missed target is a result, not a failure of the benchmark: the table says MISSED.
    return 0;
  } finally {
    log('removing what the run created');
    const left = await leftovers.clean();
    if (left.length) log(`warning: could not remove ${left.join(', ')}`);
  }
}

/** (a) and (b): source-only rebuilds after an edit of predict.py, ours against the floor and the s2i way. */
async function benchRebuilds(
  ctx: Context,
  rows: Row[],
  diagnostics: Record<string, unknown>,
): Promise<{ rebuild: number[]; source: SourceFile[]; floorDir: string }> {
  const { prefix, work, project } = ctx;
  log(
    'warming up: a first cortex-s2i build installs the dependencies (setup.sh: apt-get install jq; pip) into the engine cache',
  );
  // Every rebuild of ours goes to the same name, as `make build-predict` does: a rebuild knows the
  // image it builds again (the build cache in the model's folder), not merely the engine's cache.
  const oursTag = `${prefix}-a-ours`;
  const warm = await cortexBuild(ctx, oursTag);
  log(`  ${warm.seconds.toFixed(1)} s`);
  const source = await sourceFiles(ctx, oursTag);
  const dryRun = await must(
    process.execPath,
    [
      path.join(packageRoot(), 'bin', 'cortex-s2i.js'),
      'build',
      project.modelDir,
      ctx.builder,
      `${prefix}-dry`,
      '--dry-run',
    ],
    { env: ctx.env },
  );
  const ourDockerfile = dockerfileOf(dryRun.stdout);

  // The floor: the same files copied onto an image that already has the dependencies.
  const depsDir = path.join(work, 'deps-image');
  await placeDependencies(project, depsDir);
  await writeFile(path.join(depsDir, 'Dockerfile'), dependenciesDockerfile(ctx.builder));
  await dockerBuild(ctx, depsDir, `${prefix}-deps`);
  const floorDir = path.join(work, 'floor');
  await writeFile(path.join(await mkdirp(floorDir), 'Dockerfile'), floorDockerfile(`${prefix}-deps`));
  // Diagnostic: cortex-s2i's own Dockerfile and context layout, built by docker build: what the
  // engine spends on our Dockerfile's shape, apart from what the cortex-s2i process adds.
  const oursDir = path.join(work, 'our-dockerfile');
  await placeDependencies(project, oursDir);
  await writeFile(path.join(oursDir, 'Dockerfile'), ourDockerfile);
  // The s2i way: the model folder, then the full assemble.
  const s2iDir = path.join(work, 's2i-way');
  await writeFile(path.join(await mkdirp(s2iDir), 'Dockerfile'), s2iDockerfile(ctx.builder));

  const sync = async (token: string) => {
    await placeSource(project, source, floorDir);
    await placeSource(project, source, path.join(oursDir, 'src'));
    // A line of its own: with the same files, the engine would reuse one side's COPY layer for the
    // other (the legacy builder's cache key is the files' content), and whichever went second would
    // skip its COPY. The floor and the s2i way start from other parents, so they never share one.
    await appendFile(
      path.join(oursDir, 'src', 'opt', 'program', project.name, BENCH_MODEL, 'predict.py'),
      `# the same edit, built by docker build ${token}\n`,
    );
    await placeProjectForS2i(project, s2iDir);
  };
  await sync(`${prefix}-warm`);
  await dockerBuild(ctx, floorDir, `${prefix}-a-floor:warm`);
  await dockerBuild(ctx, oursDir, `${prefix}-a-dockerfile:warm`);

  const samples = { ours: [] as number[], floor: [] as number[], dockerfile: [] as number[], s2i: [] as number[] };
  const overhead = overheadSteps(ctx);
  const overheadSamples: Record<string, number[]> = Object.fromEntries(overhead.map(([k]) => [k, []]));
  const timelineSamples: Record<string, number[]> = {};
  const slowRuns = ROWS.has('b') ? SLOW_RUNS : 0;
  for (let i = 1; i <= Math.max(RUNS, slowRuns); i++) {
    await editPredict(project, `${prefix}-${i}`);
    await sync(`${prefix}-${i}`);
    const steps: Array<[keyof typeof samples, () => Promise<Finished>]> = [];
    if (i <= RUNS) {
      steps.push(['ours', () => cortexBuild(ctx, oursTag)]);
      steps.push(['floor', () => dockerBuild(ctx, floorDir, `${prefix}-a-floor:${i}`)]);
      steps.push(['dockerfile', () => dockerBuild(ctx, oursDir, `${prefix}-a-dockerfile:${i}`)]);
    }
    if (i <= slowRuns) steps.push(['s2i', () => dockerBuild(ctx, s2iDir, `${prefix}-b-s2i:${i}`)]);
    // Each run starts with a different side, so that neither always goes first after an edit.
    const order = [...steps.slice(i % steps.length), ...steps.slice(0, i % steps.length)];
    const line: string[] = [];
    for (const [name, build] of order) {
      const { seconds } = await build();
      samples[name].push(seconds);
      line.push(`${name} ${seconds.toFixed(2)} s`);
    }
    log(`(a, b) rebuild ${i}: ${line.join(', ')}`);
    if (i <= RUNS) {
      for (const [name, step] of overhead) overheadSamples[name]!.push((await step()).seconds);
      // One more rebuild, after an edit of its own, through the proxy: when each engine call went out.
      await editPredict(project, `${prefix}-${i}-timeline`);
      const phases = await timeline(ctx, oursTag);
      for (const [k, v] of Object.entries(phases)) (timelineSamples[k] ??= []).push(v);
    }
  }
  diagnostics.timeline = Object.fromEntries(
    Object.entries(timelineSamples).map(([k, v]) => [k, measured(TIMELINE_WHAT[k]!, 's', v)]),
  );
  for (const [name, values] of Object.entries(overheadSamples))
    diagnostics[name] = measured(OVERHEAD_WHAT[name]!, 's', values);
  await verifyBuilt(ctx, oursTag, `${prefix}-${RUNS}-timeline`);

  const ours = measured('cortex-s2i build', 's', samples.ours);
  rows.push(
    row(
      'a',
      'rebuild after editing predict.py, vs the floor',
      ours,
      measured('docker build: COPY onto an image with the deps', 's', samples.floor),
      { kind: 'ratio-max', value: 1.5 },
    ),
  );
  if (slowRuns)
    rows.push(
      row(
        'b',
        'the same rebuild, vs the s2i way',
        ours,
        measured('docker build: COPY model folder, full assemble', 's', samples.s2i),
        { kind: 'speedup-min', value: 5 },
      ),
    );
  diagnostics.ourDockerfileByDockerBuild = measured(
    "cortex-s2i's own Dockerfile and context layout, built by docker build (rebuild after the same edit)",
    's',
    samples.dockerfile,
  );
  diagnostics.floor = measured('the floor (a)', 's', samples.floor);
  diagnostics.ourDockerfile = ourDockerfile;
  return { rebuild: samples.ours, source, floorDir };
}

/**
 * (g): a rebuild with no change at all, ours against the floor's fully cached docker build. An
 * image id equal to the build before means every step came from the engine's cache: the engine
 * made no image, and none was left untagged.
 */
async function benchUnchanged(ctx: Context, rows: Row[], floorDir: string): Promise<void> {
  const { docker, prefix } = ctx;
  const ours = `${prefix}-g-ours`;
  const floor = `${prefix}-g-floor`;
  // Each side built once as the files are now, so that everything after is a rebuild with no change.
  await cortexBuild(ctx, ours);
  await dockerBuild(ctx, floorDir, floor);
  const first = await docker.imageId(ours);
  const samples = { ours: [] as number[], floor: [] as number[] };
  const ids: string[] = [];
  for (let i = 1; i <= RUNS; i++) {
    const steps: Array<[keyof typeof samples, () => Promise<Finished>]> = [
      ['ours', () => cortexBuild(ctx, ours)],
      ['floor', () => dockerBuild(ctx, floorDir, floor)],
    ];
    const line: string[] = [];
    for (const [name, build] of i % 2 ? steps : [...steps].reverse()) {
      const { seconds } = await build();
      samples[name].push(seconds);
      line.push(`${name} ${seconds.toFixed(2)} s`);
    }
    ids.push((await docker.imageId(ours)) ?? 'missing');
    log(`(g) rebuild with no change ${i}: ${line.join(', ')}`);
  }
  const changed = ids.filter((id) => id !== first).length;
  rows.push(
    row(
      'g',
      'rebuild with no change: image ids other than the build before',
      measured('new image ids', 'count', [changed]),
      undefined,
      { kind: 'abs-max', value: 0 },
      {
        extra: { first, ids },
      },
    ),
  );
  rows.push(
    row(
      'g',
      'rebuild with no change, vs the floor fully cached',
      measured('cortex-s2i build', 's', samples.ours),
      measured('docker build, every step cached', 's', samples.floor),
      { kind: 'ratio-max', value: 1.2 },
    ),
  );
}

/** (c) and (f): cold builds, ours and the hand-written two-layer Dockerfile, both with --no-cache. */
async function benchCold(ctx: Context, rows: Row[], source: SourceFile[]): Promise<void> {
  const { docker, prefix, work, project } = ctx;
  const dir = path.join(work, 'two-layer');
  await placeDependencies(project, dir);
  await placeSource(project, source, dir);
  const envLine = dockerfileOf(
    (
      await must(
        process.execPath,
        [
          path.join(packageRoot(), 'bin', 'cortex-s2i.js'),
          'build',
          project.modelDir,
          ctx.builder,
          `${prefix}-dry`,
          '--dry-run',
        ],
        { env: ctx.env },
      )
    ).stdout,
  )
    .split('\n')
    .find((l) => l.startsWith('ENV '));
  if (!envLine) throw new Error("no ENV line in cortex-s2i's Dockerfile");
  await writeFile(path.join(dir, 'Dockerfile'), twoLayerDockerfile(ctx.builder, envLine));

  const ours: number[] = [];
  const theirs: number[] = [];
  for (let i = 1; i <= COLD_RUNS; i++) {
    const a = () => cortexBuild(ctx, `${prefix}-c-ours:${i}`, ['--no-cache']).then((r) => ours.push(r.seconds));
    const b = () =>
      dockerBuild(ctx, dir, `${prefix}-c-two-layer:${i}`, ['--no-cache']).then((r) => theirs.push(r.seconds));
    if (i % 2) await a().then(b);
    else await b().then(a);
    log(`(c) cold build ${i}: ours ${ours.at(-1)!.toFixed(2)} s, two-layer ${theirs.at(-1)!.toFixed(2)} s`);
  }
  rows.push(
    row(
      'c',
      'cold build (--no-cache), vs a two-layer Dockerfile',
      measured('cortex-s2i build --no-cache', 's', ours),
      measured('docker build --no-cache', 's', theirs),
      { kind: 'ratio-max', value: 1.15 },
    ),
  );

  // (f) from the last cold pair: what our image adds to the builder, against what it must add.
  const image = `${prefix}-c-ours:${COLD_RUNS}`;
  const handWritten = `${prefix}-c-two-layer:${COLD_RUNS}`;
  const added = (await docker.imageSize(image)) - (await docker.imageSize(ctx.builder));
  const files = await sourceFiles(ctx, image);
  const sourceBytes = files.reduce((n, f) => n + f.size, 0);
  const dependencyLayer = (await docker.history(handWritten)).find((l) =>
    l.createdBy.includes(TWO_LAYER_DEPENDENCY_STEP),
  );
  if (!dependencyLayer) throw new Error(`no dependency layer in ${handWritten}`);
  const ourLayers = await docker.history(image);
  rows.push(
    row(
      'f',
      'image size minus the builder, vs source + installed deps',
      measured('image - builder', 'bytes', [added]),
      measured('source + deps', 'bytes', [sourceBytes + dependencyLayer.size]),
      { kind: 'diff-max', value: 5e6 },
      {
        note: 'installed deps = the size of the RUN setup.sh + pip layer of the hand-written two-layer build; source = the files under /opt/program in our image',
        extra: {
          sourceBytes,
          installedDependencies: dependencyLayer.size,
          ourLayers: ourLayers.filter((l) => l.size > 0),
        },
      },
    ),
  );
}

/** (d): what a build sends to the engine, counted by a proxy on the engine's socket. */
async function benchContext(ctx: Context, rows: Row[]): Promise<void> {
  const { prefix, work, project, proxy } = ctx;
  const viaProxy = { ...ctx.env, DOCKER_HOST: proxy.dockerHost };
  const buildRequest = (): CountedRequest => {
    const builds = proxy.requests.filter((q) => q.method === 'POST' && /\/build(\?|$)/.test(q.path));
    if (builds.length !== 1)
      throw new Error(
        `expected one build request through the proxy, saw ${builds.length}${proxy.unparsed.length ? ` (${proxy.unparsed.join('; ')})` : ''}`,
      );
    return builds[0]!;
  };
  const sent = async (tag: string, flags: string[] = []) => {
    proxy.requests.length = 0;
    const r = await cortexBuild(ctx, tag, ['--quiet', ...flags], viaProxy);
    const request = buildRequest();
    // What cortex-s2i itself says it sent, rounded, as a cross-check of the count.
    // Under --quiet the build's lines are on stderr: stdout carries only the image reference.
    const claimed = /sent (\S+ \S+) to the engine/.exec(r.stderr)?.[1];
    return { bytes: request.bodyBytes, wire: request.wireBytes, claimed, seconds: r.seconds, body: request.body };
  };
  await editPredict(project, `${prefix}-d`);
  const without = await sent(`${prefix}-d-without`);
  const big = path.join(project.root, 'data', 'cortex-s2i-bench-200MB.bin');
  await sparseFile(big, BIG_FILE_BYTES);
  const withBig = await sent(`${prefix}-d-with`);
  const compressed = await sent(`${prefix}-d-compressed`, ['--compress']);
  await rm(big);

  // The non-ignored files, counted apart from cortex-s2i: the files its image has under /opt/program,
  // each checked against the project file it came from.
  const files = await sourceFiles(ctx, `${prefix}-d-with`);
  const fileBytes = files.reduce((n, f) => n + f.size, 0);

  // For reference, what the docker CLI sends for the floor's context: the same files in a tar.
  const floorDir = path.join(work, 'floor');
  await placeSource(project, files, floorDir);
  proxy.requests.length = 0;
  ctx.leftovers.images.push(`${prefix}-d-floor`);
  await must('docker', ['build', '-q', '-t', `${prefix}-d-floor`, floorDir], {
    env: { ...ctx.docker.env, DOCKER_HOST: proxy.dockerHost },
  });
  const floorRequest = buildRequest();

  const composition = withBig.body ? tarComposition(withBig.body) : undefined;
  const floorComposition = floorRequest.body ? tarComposition(floorRequest.body) : undefined;
  const strip = <T extends { body?: Buffer }>(x: T) => ({ ...x, body: undefined });
  const extra = {
    fileBytes,
    files: files.map((f) => `${f.inImage} ${f.size}`),
    withoutBigFile: strip(without),
    withBigFile: strip(withBig),
    compressed: strip(compressed),
    composition,
    dockerCliFloorContext: { bytes: floorRequest.bodyBytes, composition: floorComposition },
  };
  if (composition) {
    const d = composition.dataBytes;
    log(
      `(d) inside the ${withBig.bytes}-byte context: ${composition.entries} tar headers (${composition.headerBytes} B), file data ${Object.entries(
        d,
      )
        .map(([k, v]) => `${k} ${v} B`)
        .join(', ')}, padding ${composition.paddingBytes} B, end of archive ${composition.endBytes} B`,
    );
  }
  log(
    `(d) bytes sent: ${without.bytes} without the 200 MB file, ${withBig.bytes} with it, ${compressed.bytes} with --compress; the files: ${fileBytes}; docker build of the floor sends ${floorRequest.bodyBytes}`,
  );
  const base = measured(`in ${files.length} files`, 'bytes', [fileBytes]);
  rows.push(
    row(
      'd',
      'bytes sent to the engine, 200 MB file in data/',
      measured('tar, uncompressed (default)', 'bytes', [withBig.bytes]),
      base,
      { kind: 'ratio-max', value: 1.05 },
      { extra },
    ),
  );
  rows.push(
    row('d', 'the same, with --compress (gzip, opt-in)', measured('tar.gz', 'bytes', [compressed.bytes]), base, {
      kind: 'ratio-max',
      value: 1.05,
    }),
  );
  rows.push(
    row(
      'd',
      'bytes sent with the 200 MB file, vs without it',
      measured('with', 'bytes', [withBig.bytes]),
      measured('without', 'bytes', [without.bytes]),
      { kind: 'diff-max', value: 0 },
    ),
  );
  rows.push(
    row(
      'd',
      'reference: docker build of the same files (the floor)',
      measured('docker CLI', 'bytes', [floorRequest.bodyBytes]),
      base,
      undefined,
      {
        note: 'the tar format costs every build tool: a 512-byte header per file and folder, data padded to 512 bytes, 1 KiB at the end',
      },
    ),
  );
}

/** (e): the CLI on a generated 10,000-file project: --help, and build --dry-run. */
async function benchCli(ctx: Context, rows: Row[], diagnostics: Record<string, unknown>): Promise<void> {
  const large = await generateLargeProject(path.join(ctx.work, 'large'), LARGE_PROJECT_FILES);
  const cli = path.join(packageRoot(), 'bin', 'cortex-s2i.js');
  const scratch = path.join(ctx.work, 'time.out');
  const measure = async (args: string[]) => {
    const wall: number[] = [];
    const peak: number[] = [];
    for (let i = 0; i < RUNS; i++) {
      const r = await runMeasured(process.execPath, [cli, ...args], { env: ctx.env, scratch });
      wall.push(r.seconds);
      if (r.peakBytes !== undefined) peak.push(r.peakBytes);
    }
    return { wall, peak };
  };
  const help = await measure(['--help']);
  const dry = await measure(['build', large.modelDir, 'daemon', `${ctx.prefix}-e`, '--dry-run']);
  const sourceLine = (
    await must(process.execPath, [cli, 'build', large.modelDir, 'daemon', `${ctx.prefix}-e`, '--dry-run'], {
      env: ctx.env,
    })
  ).stdout
    .split('\n')
    .find((l) => l.trim().startsWith('source '));
  log(
    `(e) --help: ${help.wall.map((s) => s.toFixed(2)).join(', ')} s; --dry-run on ${large.files} files (${sourceLine?.trim()}): ${dry.wall.map((s) => s.toFixed(2)).join(', ')} s`,
  );
  rows.push(
    row('e', 'cortex-s2i --help: wall time', measured('', 's', help.wall), undefined, { kind: 'abs-max', value: 0.3 }),
  );
  rows.push(
    row(
      'e',
      `build --dry-run, ${large.files.toLocaleString('en')}-file project: wall time`,
      measured('', 's', dry.wall),
      undefined,
      { kind: 'abs-max', value: 1.5 },
      { extra: { planned: sourceLine?.trim() } },
    ),
  );
  if (help.peak.length)
    rows.push(row('e', 'cortex-s2i --help: peak memory (RSS)', measured('', 'bytes', help.peak), undefined, undefined));
  if (dry.peak.length)
    rows.push(
      row(
        'e',
        `build --dry-run, ${large.files.toLocaleString('en')}-file project: peak memory`,
        measured('', 'bytes', dry.peak),
        undefined,
        undefined,
      ),
    );
  if (!GNU_TIME) diagnostics.peakMemory = 'not measured: /usr/bin/time (GNU time) is not installed';
}

const TIMELINE_WHAT: Record<string, string> = {
  total: 'cortex-s2i build through the proxy, end to end',
  beforeEngine:
    'before its first engine request: Node start, loading modules, reading the project, git, planning, rendering',
  engineChecks: 'from the first engine request to the build or load request: the builder, and the image built before',
  build: 'from the build request (or the image archive of a source-only rebuild) to the tag request',
  tagAndExit: 'from the tag request to the exit',
};

/** A rebuild through the proxy, cut into phases by the times its engine requests went out. */
async function timeline(ctx: Context, tag: string): Promise<Record<string, number>> {
  ctx.proxy.requests.length = 0;
  const r = await cortexBuild(ctx, tag, [], { ...ctx.env, DOCKER_HOST: ctx.proxy.dockerHost });
  const requests = [...ctx.proxy.requests].sort((a, b) => a.at - b.at);
  const build = requests.find((q) => q.method === 'POST' && /\/(build|images\/load)(\?|$)/.test(q.path));
  const tagRequest = requests.find((q) => q.method === 'POST' && /\/tag(\?|$)/.test(q.path));
  if (!requests[0] || !build || !tagRequest)
    throw new Error(
      `the rebuild's engine requests were not all seen: ${requests.map((q) => `${q.method} ${q.path}`).join(', ')}`,
    );
  return {
    total: r.seconds,
    beforeEngine: (requests[0].at - r.startedAt) / 1000,
    engineChecks: (build.at - requests[0].at) / 1000,
    build: (tagRequest.at - build.at) / 1000,
    tagAndExit: (r.exitedAt - tagRequest.at) / 1000,
  };
}

/**
 * Where a rebuild's time goes, measured in the rebuild loop so that it sees the same machine:
 * Node's start, loading cortex-s2i's modules, and a dry run (everything but the engine).
 */
function overheadSteps(ctx: Context): Array<[string, () => Promise<Finished>]> {
  const dist = (...p: string[]) => path.join(packageRoot(), 'dist', 'lib', ...p);
  const importing = (file: string) => ['--input-type=module', '-e', `await import(${JSON.stringify(file)})`];
  const node = (args: string[]) => () => must(process.execPath, args, { env: ctx.env });
  return [
    ['nodeStart', node(['-e', '0'])],
    ['loadBuildCommand', node(importing(dist('cli', 'commands', 'build.js')))],
    ['loadEngineAdapter', node(importing(dist('engine', 'docker-engine.js')))],
    [
      'dryRunExample',
      node([
        path.join(packageRoot(), 'bin', 'cortex-s2i.js'),
        'build',
        ctx.project.modelDir,
        'daemon',
        `${ctx.prefix}-dry`,
        '--dry-run',
      ]),
    ],
  ];
}

const OVERHEAD_WHAT: Record<string, string> = {
  nodeStart: 'node -e 0',
  loadBuildCommand:
    'node, importing lib/cli/commands/build.js (config, plan, render, tar: handlebars, tar-stream, ignore, ...)',
  loadEngineAdapter:
    'node, importing lib/engine/docker-engine.js (dockerode, with docker-modem, ssh2, @grpc/grpc-js, protobufjs)',
  dryRunExample: 'cortex-s2i build --dry-run on the benchmark model (read, git, plan, render; no engine)',
};

function explain(d: Record<string, unknown>): string[] {
  const m = (k: string) => (d[k] as { median: number } | undefined)?.median;
  const t = (d.timeline ?? {}) as Record<string, { median: number } | undefined>;
  const ours = d.rebuild as number | undefined;
  const [viaDocker, floor, node, build, engine, dry] = [
    'ourDockerfileByDockerBuild',
    'floor',
    'nodeStart',
    'loadBuildCommand',
    'loadEngineAdapter',
    'dryRunExample',
  ].map(m);
  const phases = ['total', 'beforeEngine', 'engineChecks', 'build', 'tagAndExit'].map((k) => t[k]?.median);
  if ([ours, viaDocker, floor, node, build, engine, dry, ...phases].some((x) => x === undefined)) return [];
  const s = (x: number | undefined) => `${x!.toFixed(2)} s`.padStart(7);
  const [total, before, checks, building, after] = phases;
  return [
    `where a rebuild (a) goes: medians of ${RUNS} more rebuilds, each cut into phases by when its engine requests went out (through the proxy):`,
    `  ${s(total)}  cortex-s2i build, end to end (${ours!.toFixed(2)} s without the proxy)`,
    `  ${s(before)}  before the first engine request: Node start, loading modules, reading the project, git, planning`,
    `  ${s(checks)}  engine checks: builder, and the image built before`,
    `  ${s(building)}  the build request (context upload and the engine's steps), or the load of a source-only image`,
    `  ${s(after)}  tag and exit`,
    `and, in separate processes: docker build of cortex-s2i's own Dockerfile and context ${viaDocker!.toFixed(2)} s (the floor ${floor!.toFixed(2)} s);`,
    `  node -e 0 ${node!.toFixed(2)} s; importing the build command's modules +${(build! - node!).toFixed(2)} s; importing the engine adapter (dockerode) +${(engine! - node!).toFixed(2)} s;`,
    `  build --dry-run of the benchmark model ${dry!.toFixed(2)} s`,
  ];
}

/** The files cortex-s2i placed under /opt/program, each checked against the project file it came from. */
async function sourceFiles(ctx: Context, image: string): Promise<SourceFile[]> {
  const name = `${ctx.prefix}-find`;
  ctx.leftovers.containers.push(name);
  const files = (await ctx.docker.filesIn(image, '/opt/program', name)).map((f) => ({ inImage: f.path, size: f.size }));
  for (const f of files) {
    const onDisk = (await stat(path.join(ctx.project.root, ...f.inImage.split('/').slice(1)))).size;
    if (onDisk !== f.size)
      throw new Error(`/opt/program/${f.inImage} in ${image} has ${f.size} bytes, the project's file ${onDisk}`);
  }
  if (!files.some((f) => f.inImage.endsWith(`${BENCH_MODEL}/predict.py`)))
    throw new Error(`${image} has no predict.py under /opt/program`);
  return files;
}

/** The image a rebuild made really has the edit in it: the rebuild was not served from the cache. */
async function verifyBuilt(ctx: Context, image: string, token: string): Promise<void> {
  const name = `${ctx.prefix}-verify`;
  ctx.leftovers.containers.push(name);
  const predict = await ctx.docker.text([
    'run',
    '--rm',
    '--name',
    name,
    '--network',
    'none',
    '--entrypoint',
    'sh',
    image,
    '-c',
    `grep -c '${token}$' /opt/program/*/${BENCH_MODEL}/predict.py`,
  ]);
  if (predict.trim() !== '1') throw new Error(`${image} does not carry the edit ${token}`);
}

function dockerfileOf(dryRunOutput: string): string {
  const lines = dryRunOutput.split('\n');
  const start = lines.indexOf('Dockerfile:');
  const end = lines.findIndex((l) => l.startsWith('dry run:'));
  if (start < 0 || end < start) throw new Error('no Dockerfile in the dry run output');
  return `${lines
    .slice(start + 1, end)
    .map((l) => l.replace(/^ {2}/, ''))
    .join('\n')}\n`;
}

async function mkdirp(dir: string): Promise<string> {
  await mkdir(dir, { recursive: true });
  return dir;
}

async function describeMachine(docker: DockerCli, builderId: string) {
  const cpus = os.cpus();
  const osRelease = await readFile('/etc/os-release', 'utf8').catch(() => '');
  const distro = /^PRETTY_NAME="?([^"\n]*)"?/m.exec(osRelease)?.[1] ?? os.type();
  const server = await docker.text(['version', '--format', '{{.Server.Version}}']);
  const client = await docker.text(['version', '--format', '{{.Client.Version}}']);
  const storage = await docker.text(['info', '--format', '{{.Driver}}']);
  const base = await docker.text([
    'image',
    'inspect',
    '-f',
    '{{index .Config.Labels "org.opencontainers.image.description"}}',
    builderId,
  ]);
  const memGiB = os.totalmem() / 2 ** 30;
  const machine = {
    cpus: cpus.length,
    cpuModel: cpus[0]?.model.trim() ?? 'unknown',
    memoryGiB: Number(memGiB.toFixed(1)),
    os: distro,
    kernel: os.release(),
    node: process.version,
    dockerEngine: server,
    dockerCli: client,
    builder: 'legacy builder (DOCKER_BUILDKIT=0)',
    storageDriver: storage,
    baseImage: base,
  };
  const summary = `${machine.cpus} cores (${machine.cpuModel}), ${Math.round(memGiB)} GiB, ${distro}, Node ${process.version}, Docker engine ${server} (${storage}, legacy builder), builders on: ${base || 'unknown base'}`;
  return { ...machine, summary };
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`bench: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  },
);
