import { expect } from 'chai';
import path from 'node:path';
import { FakeEngine } from '../../lib/engine/fake-engine.js';
import { ExitCode } from '../../lib/errors.js';
import { packageVersion } from '../../lib/package-root.js';
import { bundledBuilderImage } from '../../lib/plan/builders.js';
import { removeTree, sampleProject, writeTree } from '../support/tree.js';
import { main } from '../../lib/cli/main.js';
import { StepClock } from '../../lib/build/steps.js';
import { plainText } from '../../lib/text.js';
import type { LiveStream } from '../../lib/cli/context.js';
import { BuildProgress, inCi, resolveProgress, type ProgressStyle } from '../../lib/cli/progress.js';

// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u0009\u000b-\u001f\u007f]/;

function harness(style: ProgressStyle, withLive = true) {
  let clock = 0;
  const lines: string[] = [];
  let raw = '';
  const live: LiveStream = { isTTY: true, write: (t) => (raw += t) };
  const now = () => new Date(clock);
  const progress = new BuildProgress({ out: (l) => lines.push(l), err: (l) => lines.push(`E ${l}`) }, now, true, {
    style,
    ...(withLive ? { live } : {}),
    redrawMs: 0,
  });
  // The build's step clock, as the build runs it: the engine's events in, the build's out.
  const steps = new StepClock(now, progress.onEvent, 2);
  return { progress, steps, lines, raw: () => raw, advance: (ms: number) => (clock += ms) };
}

function steps(h: ReturnType<typeof harness>) {
  h.steps.onEvent({ type: 'step', step: 1, total: 3, instruction: 'FROM builder' });
  h.advance(200);
  h.steps.onEvent({ type: 'step', step: 2, total: 3, instruction: 'RUN pip install' });
  h.steps.onEvent({ type: 'log', text: 'Collecting\tnumpy\u001b[31m' });
  h.advance(1500);
  h.progress.redraw();
  h.advance(1000);
  h.steps.onEvent({ type: 'step', step: 3, total: 3, instruction: 'COPY src/ /opt/program/' });
  h.steps.onEvent({ type: 'cached', step: 3 });
  h.advance(100);
  h.steps.finish();
}

describe('build progress styles', () => {
  it('auto is tty on a terminal outside CI, plain in CI or off a terminal; NO_COLOR and plain never colour', () => {
    expect(resolveProgress('auto', { isTTY: true }, {})).to.deep.equal({ mode: 'tty', color: true });
    expect(resolveProgress('auto', { isTTY: true }, { CI: 'true' })).to.deep.equal({ mode: 'plain', color: false });
    expect(resolveProgress('auto', { isTTY: true }, { CI: 'false' })).to.deep.equal({ mode: 'tty', color: true });
    expect(resolveProgress('auto', { isTTY: false }, {})).to.deep.equal({ mode: 'plain', color: false });
    expect(resolveProgress('auto', { isTTY: true }, { NO_COLOR: '1' })).to.deep.equal({ mode: 'tty', color: false });
    expect(resolveProgress('auto', { isTTY: true }, { NO_COLOR: '' })).to.deep.equal({ mode: 'tty', color: true });
    expect(resolveProgress('tty', { isTTY: false }, {})).to.deep.equal({ mode: 'tty', color: false });
    expect(resolveProgress('plain', { isTTY: true }, {})).to.deep.equal({ mode: 'plain', color: false });
    expect(resolveProgress('quiet', { isTTY: true }, {})).to.deep.equal({ mode: 'quiet', color: false });
    expect([inCi({ CI: '1' }), inCi({ CI: 'True' }), inCi({ CI: '0' }), inCi({ CI: '' }), inCi({})]).to.deep.equal([
      true,
      true,
      false,
      false,
      false,
    ]);
  });

  it('plain: one line per finished step with its duration, and the log, with no control characters', () => {
    const h = harness({ mode: 'plain', color: false });
    steps(h);
    expect(h.raw()).to.equal('');
    expect(h.lines).to.deep.equal([
      '  step 1/3   0.2s FROM builder',
      '    | Collecting\tnumpy\\x1b[31m',
      '  step 2/3   2.5s dependencies: installed',
      '  step 3/3   0.1s (cached) COPY src/ /opt/program/',
    ]);
    // Tabs too become spaces on the way out (main's output does this for every line).
    for (const l of h.lines) expect(plainText(l)).not.to.match(CONTROL);
  });

  it('tty: a live line with the running time, rewritten in place, and whole lines for finished steps', () => {
    const h = harness({ mode: 'tty', color: false });
    steps(h);
    expect(h.lines).to.deep.equal([]);
    const raw = h.raw();
    expect(raw).to.contain('\r\u001b[K  step 2/3   0.0s dependencies: installing…');
    expect(raw).to.contain('\r\u001b[K  step 2/3   1.5s dependencies: installing…');
    expect(raw).to.contain('\r\u001b[K  step 2/3   2.5s dependencies: installed\n');
    // A log line clears the live line, then the live line is drawn again under it.
    expect(raw).to.contain('\r\u001b[K    | Collecting\tnumpy\\x1b[31m\n');
    expect(raw).not.to.contain('\u001b[0m');
    // Every finished line ends on a clean line with no live line left over.
    expect(raw.endsWith('(cached) COPY src/ /opt/program/\n')).to.equal(true);
  });

  it('tty cuts the live line to the terminal width, so that a carriage return can rewrite it', () => {
    let raw = '';
    const progress = new BuildProgress({ out: () => {}, err: () => {} }, () => new Date(0), true, {
      style: { mode: 'tty', color: false },
      live: { isTTY: true, columns: 40, write: (t) => (raw += t) },
      redrawMs: 0,
    });
    progress.onEvent({ type: 'step', step: 1, total: 3, instruction: `RUN ${'x'.repeat(80)}`, dependencies: false });
    const live = raw.split('\r\u001b[K').at(-1)!;
    expect(live.length).to.be.at.most(40);
    expect(live.endsWith('…')).to.equal(true);
    progress.close();
  });

  it('tty with colour paints step numbers and the running clock; without colour, no SGR codes', () => {
    const h = harness({ mode: 'tty', color: true });
    steps(h);
    expect(h.raw()).to.contain('\u001b[2mstep 1/3\u001b[0m');
    expect(h.raw()).to.contain('\u001b[33m  1.5s\u001b[0m');
    expect(h.raw()).to.contain('\u001b[32m(cached)\u001b[0m');
  });

  it('tty without a stream to draw on prints as plain does', () => {
    const h = harness({ mode: 'tty', color: true }, false);
    steps(h);
    expect(h.lines[0]).to.equal('  step 1/3   0.2s FROM builder');
  });

  it('quiet: keeps the durations for the report and prints nothing', () => {
    const h = harness({ mode: 'quiet', color: false });
    steps(h);
    expect(h.lines).to.deep.equal([]);
    expect(h.raw()).to.equal('');
    expect(h.steps.finished.map((d) => d.step)).to.deep.equal([1, 2, 3]);
  });
});

describe('build --progress through the CLI', () => {
  let root: string;
  let model: string;
  let engine: FakeEngine;
  const builder = bundledBuilderImage('daemon', packageVersion());

  beforeEach(async () => {
    root = await writeTree(sampleProject());
    model = path.join(root, 'shop/churn');
    engine = new FakeEngine();
    engine.addImage(builder, { 'io.cortex-s2i.builder': 'daemon' });
  });
  afterEach(() => removeTree(root));

  async function run(...argv: string[]) {
    const out: string[] = [];
    const err: string[] = [];
    const code = await main(argv, {
      env: { DOCKER_CONFIG: path.join(root, 'none') },
      output: { out: (l) => out.push(l), err: (l) => err.push(l) },
      engine: () => engine,
    });
    return { code, out, err };
  }

  it('quiet prints only the result line; plain prints the plan and every step', async () => {
    const quiet = await run('build', model, 'daemon', 'churn-predict', '--progress', 'quiet');
    expect(quiet.code, quiet.err.join('\n')).to.equal(ExitCode.ok);
    expect(quiet.out).to.have.length(1);
    expect(quiet.out[0]).to.match(/^built churn-predict \(sha256:[0-9a-f]{64}\) in \d+\.\ds$/);
    // Another name: churn-predict is up to date now, and would not be built again.
    const plain = await run('build', model, 'daemon', 'churn-plain', '--progress', 'plain');
    expect(plain.code).to.equal(ExitCode.ok);
    expect(plain.out.some((l) => /^ {2}step \d+\/\d+ +\d+\.\ds /.test(l))).to.equal(true);
    expect(plain.out.at(-1)).to.match(/^built churn-plain /);
  });

  it('quiet with -q still prints the reference alone on stdout', async () => {
    const r = await run('build', model, 'daemon', 'churn-predict', '--progress', 'quiet', '-q');
    expect(r.code).to.equal(ExitCode.ok);
    expect(r.out).to.deep.equal(['churn-predict']);
    expect(r.err.filter((l) => l.startsWith('  step'))).to.deep.equal([]);
  });

  it('refuses an unknown mode with status 2', async () => {
    const r = await run('build', model, 'daemon', 'churn-predict', '--progress', 'fancy');
    expect(r.code).to.equal(ExitCode.badInput);
    expect(r.err[0]).to.contain('--progress must be auto, tty, plain, quiet');
  });
});
