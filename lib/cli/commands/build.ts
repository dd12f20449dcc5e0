// `cortex-s2i build <source-dir> <builder> <image>`: the arguments as a build request, the build's
// account on the screen as it goes, and its outcome on stdout.

import path from 'node:path';
import { dockerfileFolderLines, dryRunLines } from '../../build/account.js';
import { checkImageName, checkMakeOptions, envPair } from '../../build/checks.js';
import type { BuildEvent, BuildOutcome, BuildRequest, MakeOptions } from '../../build/index.js';
import { CortexError, ExitCode, usageError } from '../../errors.js';
import { command, readOptions } from '../command.js';
import { buildEnvironment, type CommandContext, type Output } from '../context.js';
import { BuildProgress, PROGRESS_MODES, resolveProgress, type ProgressMode } from '../progress.js';

export interface BuildArgs {
  source: string;
  builder: string;
  image: string;
  env: Array<{ key: string; value: string }>;
  project: string | undefined;
  api: string | undefined;
  allowRoot: boolean;
  make: MakeOptions;
  /** -q: stdout carries only the image reference; the engine's log is left out. */
  quiet: boolean;
  /** --json: stdout carries one JSON document at the end. */
  json: boolean;
  progress: ProgressMode;
}

export default command<BuildArgs>({
  name: 'build',
  synopsis: ['build <source-dir> <builder> <image> [options]'],
  summary: 'build a train or predict image from a model folder, or a Cortex project',
  usage: `Builds <image> from the model in <source-dir>. <builder> is train (alias model),
daemon (alias predict), or the reference of any s2i builder image.
A <source-dir> with a cortex.yaml is a Cortex project: the daemon builder makes one image
serving every API at its endpoint (deploy runs it as <project>-<api>:latest per API).

Options:
  --api NAME            build one API of cortex.yaml only (tag it <project>-<api>:latest)
  -e, --env KEY=VALUE   add to the image's environment (repeatable)
  --project DIR         the project folder around the model (default: found by looking around)
  --dry-run             print the plan and the Dockerfile; build nothing
  -q, --quiet           do not print the engine's build log; stdout carries only the image
                        reference (repo@sha256:… when pushed)
  --progress MODE       auto (default), tty, plain or quiet: live steps with a running clock
                        (tty), one line per finished step and no control characters (plain),
                        or only errors and the result (quiet); auto is tty on a terminal
                        unless CI is set, else plain. NO_COLOR turns colours off
  --no-cache            build every step afresh, as docker build --no-cache
  --compress            gzip the context sent to the engine (helps a remote DOCKER_HOST)
  --allow-root          accept an s2i builder image that runs as root
  --push                push every tag built to its registry; prints repo@sha256:… on stdout
  --json                print one JSON document on stdout at the end (logs go to stderr)
  --digest-file PATH    write the pushed digest (sha256:…) to PATH (needs --push)
  --cache-from IMAGE    reuse the dependency layer of IMAGE (pulled when missing; repeatable)
  --as-dockerfile DIR   write the Dockerfile and every file it copies into DIR (new or empty);
                        build it with docker build or buildah bud, no engine needed`,

  parse(args) {
    const { values, positionals } = readOptions('build', args, {
      env: { type: 'string', short: 'e', multiple: true },
      project: { type: 'string' },
      'dry-run': { type: 'boolean' },
      quiet: { type: 'boolean', short: 'q' },
      'no-cache': { type: 'boolean' },
      compress: { type: 'boolean' },
      'allow-root': { type: 'boolean' },
      progress: { type: 'string' },
      push: { type: 'boolean' },
      json: { type: 'boolean' },
      'digest-file': { type: 'string' },
      'cache-from': { type: 'string', multiple: true },
      'as-dockerfile': { type: 'string' },
      api: { type: 'string' },
    });
    if (positionals.length !== 3) {
      throw usageError(
        `build needs <source-dir> <builder> <image>, got ${positionals.length} argument${positionals.length === 1 ? '' : 's'}`,
      );
    }
    const [source, builder, image] = positionals as [string, string, string];
    checkImageName(image);
    const progress = values.progress ?? 'auto';
    if (!(PROGRESS_MODES as readonly string[]).includes(progress))
      throw usageError(`--progress must be ${PROGRESS_MODES.join(', ')}; got ${JSON.stringify(progress)}`);
    if (values.json && values.quiet)
      throw usageError('-q and --json both choose what stdout carries; give one of them');
    const make: MakeOptions = {
      dryRun: values['dry-run'] ?? false,
      asDockerfile: values['as-dockerfile'],
      noCache: values['no-cache'] ?? false,
      compress: values.compress ?? false,
      cacheFrom: values['cache-from'] ?? [],
      push: values.push ?? false,
      digestFile: values['digest-file'],
    };
    checkMakeOptions(make);
    return {
      source,
      builder,
      image,
      env: (values.env ?? []).map(envPair),
      project: values.project,
      api: values.api,
      allowRoot: values['allow-root'] ?? false,
      make,
      quiet: values.quiet ?? false,
      json: values.json ?? false,
      progress: progress as ProgressMode,
    };
  },

  async run(args, ctx) {
    const { build } = await import('../../build/index.js');
    const { settings } = ctx;
    const request: BuildRequest = {
      image: {
        source: path.resolve(args.source),
        builder: args.builder,
        builderRepo: settings.builderRepo,
        name: args.image,
        env: args.env,
        project: args.project === undefined ? undefined : path.resolve(args.project),
        api: args.api,
        allowRoot: args.allowRoot,
        sourceDateEpoch: settings.sourceDateEpoch,
      },
      make: args.make,
    };
    const view = new BuildView(args, ctx);
    let outcome: BuildOutcome;
    try {
      outcome = await build(request, buildEnvironment(ctx, view.onEvent));
    } catch (err) {
      throw view.failed(err);
    } finally {
      view.close();
    }
    view.outcome(outcome);
    return ExitCode.ok;
  },
});

/** Where a build's events and outcome go on the screen, as -q, --json and --progress say. */
class BuildView {
  /** The build's account: stdout as always, but stderr when stdout carries a result (-q, --json). */
  private readonly log: Output;
  /** What is shown of the account: nothing but errors and the result in quiet mode. */
  private readonly shown: Output;
  private readonly progress: BuildProgress;
  /** Whether the engine's log goes by on the screen, and how many of its lines did. */
  private readonly logShown: boolean;
  private logLines = 0;

  constructor(
    private readonly args: BuildArgs,
    private readonly ctx: CommandContext,
  ) {
    const { output, display } = ctx;
    const toStderr = args.quiet || args.json;
    this.log = toStderr ? { out: (l) => output.err(l), err: (l) => output.err(l) } : output;
    const live = toStderr ? display.err : display.out;
    const style = resolveProgress(args.progress, live ?? { isTTY: false }, {
      CI: display.ci ? 'true' : '',
      NO_COLOR: display.noColor ? '1' : '',
    });
    // A dry run and --as-dockerfile print what they were asked for, quiet or not.
    const asked = args.make.dryRun || args.make.asDockerfile !== undefined;
    this.shown = style.mode === 'quiet' && !asked ? { out: () => {}, err: this.log.err } : this.log;
    this.logShown = !args.quiet && style.mode !== 'quiet';
    this.progress = new BuildProgress(this.shown, () => ctx.now(), !args.quiet, {
      style,
      ...(live ? { live } : {}),
    });
  }

  readonly onEvent = (event: BuildEvent): void => {
    switch (event.type) {
      case 'line':
        return this.shown.out(event.text);
      case 'warning':
        return this.shown.err(`warning: ${event.text}`);
      case 'result':
        return this.log.out(event.text);
      case 'log':
        if (this.logShown) this.logLines++;
        break;
    }
    this.progress.onEvent(event);
  };

  /** The error to print: without the end of the build log when the log was on the screen as it came. */
  failed(err: unknown): unknown {
    if (err instanceof CortexError && err.logTail && this.logLines > 0)
      return new CortexError(err.message, { exitCode: err.exitCode, ...(err.hint ? { hint: err.hint } : {}) });
    return err;
  }

  outcome(outcome: BuildOutcome): void {
    const { output } = this.ctx;
    switch (outcome.kind) {
      case 'dry-run':
        for (const line of dryRunLines(outcome.dockerfile)) this.shown.out(line);
        return;
      case 'dockerfile-folder':
        for (const line of dockerfileFolderLines(outcome)) this.shown.out(line);
        return;
      case 'image':
        if (this.args.json) output.out(JSON.stringify(outcome.report, null, 2));
        else if (this.args.quiet) output.out(outcome.pushed[0]?.reference ?? outcome.report.image);
        // The pinned references alone on their lines, last: what `tail -n 1` hands to the next step.
        else for (const p of outcome.pushed) output.out(p.reference);
    }
  }

  close(): void {
    this.progress.close();
  }
}
