// Runs the commands the benchmark measures, each timed from spawn to exit as a user's shell times
// it, and the docker CLI calls around them. Every docker call goes to the local engine only.

import { spawn } from 'node:child_process';
import { existsSync, readFileSync, rmSync } from 'node:fs';

export interface Finished {
  code: number | null;
  stdout: string;
  stderr: string;
  /** Wall time from spawn to exit. */
  seconds: number;
  /** Spawn and exit, in milliseconds of process.hrtime. */
  startedAt: number;
  exitedAt: number;
}

export interface RunOptions {
  env: NodeJS.ProcessEnv;
  cwd?: string;
}

export function run(cmd: string, args: string[], options: RunOptions): Promise<Finished> {
  return new Promise((resolve, reject) => {
    const started = process.hrtime.bigint();
    let exited: bigint | undefined;
    const child = spawn(cmd, args, { env: options.env, cwd: options.cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (c: Buffer) => out.push(c));
    child.stderr.on('data', (c: Buffer) => err.push(c));
    child.on('error', reject);
    // The clock stops when the process exits; 'close' (all output read) may come a little later.
    child.on('exit', () => (exited = process.hrtime.bigint()));
    child.on('close', (code) => {
      const end = exited ?? process.hrtime.bigint();
      resolve({
        code,
        stdout: Buffer.concat(out).toString(),
        stderr: Buffer.concat(err).toString(),
        seconds: Number(end - started) / 1e9,
        startedAt: Number(started) / 1e6,
        exitedAt: Number(end) / 1e6,
      });
    });
  });
}

/** Runs a command that must succeed; a failure carries the command and the end of its output. */
export async function must(cmd: string, args: string[], options: RunOptions): Promise<Finished> {
  const result = await run(cmd, args, options);
  if (result.code !== 0) {
    const tail = `${result.stdout}\n${result.stderr}`.trim().split('\n').slice(-15).join('\n');
    throw new Error(`${cmd} ${args.join(' ')} exited with ${result.code}:\n${tail}`);
  }
  return result;
}

/** GNU time, for the peak resident memory of a child; undefined where it is not installed. */
export const GNU_TIME = existsSync('/usr/bin/time') ? '/usr/bin/time' : undefined;

/** Runs a command under GNU time: wall time as run() measures it, and the peak RSS in bytes. */
export async function runMeasured(
  cmd: string,
  args: string[],
  options: RunOptions & { scratch: string },
): Promise<Finished & { peakBytes: number | undefined }> {
  if (!GNU_TIME) return { ...(await must(cmd, args, options)), peakBytes: undefined };
  rmSync(options.scratch, { force: true });
  const result = await must(GNU_TIME, ['-f', '%M', '-o', options.scratch, cmd, ...args], options);
  const kib = Number(readFileSync(options.scratch, 'utf8').trim().split('\n').pop());
  return { ...result, peakBytes: Number.isFinite(kib) ? kib * 1024 : undefined };
}

/** The docker CLI, always with the legacy builder, as the engine (Docker 20.10) builds. */
export class DockerCli {
  readonly env: NodeJS.ProcessEnv;

  constructor(env: NodeJS.ProcessEnv) {
    this.env = { ...env, DOCKER_BUILDKIT: '0' };
  }

  run(args: string[]): Promise<Finished> {
    return must('docker', args, { env: this.env });
  }

  async text(args: string[]): Promise<string> {
    return (await this.run(args)).stdout.trim();
  }

  /**
   * Timed `docker build`, tagged, as a user types it; --force-rm so that a failed step leaves no
   * container behind (a successful build removes its containers either way).
   */
  build(context: string, tag: string, extra: string[] = []): Promise<Finished> {
    return this.run(['build', '--force-rm', ...extra, '-t', tag, context]);
  }

  async imageId(ref: string): Promise<string | undefined> {
    const r = await run('docker', ['image', 'inspect', '-f', '{{.Id}}', ref], { env: this.env });
    return r.code === 0 ? r.stdout.trim() : undefined;
  }

  async imageSize(ref: string): Promise<number> {
    return Number(await this.text(['image', 'inspect', '-f', '{{.Size}}', ref]));
  }

  /** Each layer's instruction and size in bytes, newest first, as `docker history` shows them. */
  async history(ref: string): Promise<Array<{ createdBy: string; size: number }>> {
    const out = await this.text([
      'history',
      '--no-trunc',
      '--human=false',
      '--format',
      '{{.Size}}\t{{.CreatedBy}}',
      ref,
    ]);
    return out.split('\n').map((line) => {
      const tab = line.indexOf('\t');
      return { size: Number(line.slice(0, tab)), createdBy: line.slice(tab + 1) };
    });
  }

  /** Regular files under `dir` in an image, with their sizes, read by a throwaway container. */
  async filesIn(image: string, dir: string, container: string): Promise<Array<{ path: string; size: number }>> {
    const out = await this.text([
      'run',
      '--rm',
      '--name',
      container,
      '--network',
      'none',
      '--entrypoint',
      'find',
      image,
      dir,
      '-type',
      'f',
      '-printf',
      '%s\\t%P\\n',
    ]);
    return out
      .split('\n')
      .filter(Boolean)
      .map((line) => {
        const [size, path] = line.split('\t') as [string, string];
        return { path, size: Number(size) };
      })
      .sort((a, b) => (a.path < b.path ? -1 : 1));
  }
}
