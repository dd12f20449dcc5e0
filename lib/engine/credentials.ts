// Finds a registry's credentials the way the docker CLI does: DOCKER_CONFIG's config.json, then
// its credential helpers through the docker-credential-<name> protocol (`get`, the server on
// stdin, {"Username", "Secret"} on stdout). The I/O around the pure parsing of docker-config.ts.

import { spawn } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { credentialSourceFor, parseDockerConfig, parseHelperAnswer } from '../config/docker-config.js';
import { credentialHelperFailed, dockerConfigInvalid } from '../errors.js';
import type { RegistryAuth } from './engine.js';

export interface CredentialOptions {
  /** DOCKER_CONFIG, or ~/.docker: the folder holding config.json. */
  configDir: string;
  /** The environment a credential helper runs with (its PATH finds it). */
  helperEnv: NodeJS.ProcessEnv;
}

/** Credentials and where they came from ("config.json auths", "credential helper docker-credential-x"). */
export interface FoundCredentials {
  auth: RegistryAuth | undefined;
  source: string;
}

const HELPER_TIMEOUT_MS = 30_000;

export async function credentialsFor(registry: string, options: CredentialOptions): Promise<FoundCredentials> {
  const file = path.join(options.configDir, 'config.json');
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { auth: undefined, source: `no ${file}` };
    throw err;
  }
  const parsed = parseDockerConfig(text, file);
  if (!parsed.ok) throw dockerConfigInvalid(parsed.errors);
  const found = credentialSourceFor(parsed.value, registry);
  switch (found.kind) {
    case 'none':
      return { auth: undefined, source: `no entry for ${registry} in ${file}` };
    case 'inline': {
      const { kind: _, ...auth } = found;
      return { auth, source: `the "auths" entry in ${file}` };
    }
    case 'helper': {
      const program = `docker-credential-${found.helper}`;
      const answer = await runHelper(program, found.serverAddress, options.helperEnv);
      // The protocol's "not found" answer: no credentials for this server, not a failure.
      if (answer.code !== 0 && /credentials not found/i.test(answer.stdout + answer.stderr)) {
        return { auth: undefined, source: `${program} (no credentials for ${found.serverAddress})` };
      }
      if (answer.code !== 0)
        throw credentialHelperFailed(
          program,
          registry,
          (answer.stderr || answer.stdout).trim() || `exit status ${answer.code}`,
        );
      const creds = parseHelperAnswer(answer.stdout);
      if (!creds) throw credentialHelperFailed(program, registry, 'its answer is not {"Username", "Secret"} JSON');
      return { auth: { serverAddress: found.serverAddress, ...creds }, source: program };
    }
  }
}

function runHelper(
  program: string,
  serverAddress: string,
  env: NodeJS.ProcessEnv,
): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    // The limit is a timer of our own rather than spawn's `timeout`: spawn leaves its timer running
    // when the program cannot be started, which kept a process that had nothing left to do alive.
    const child = spawn(program, ['get'], { env, stdio: ['pipe', 'pipe', 'pipe'] });
    const timer = setTimeout(() => child.kill('SIGTERM'), HELPER_TIMEOUT_MS);
    timer.unref();
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (c: Buffer) => out.push(c));
    child.stderr.on('data', (c: Buffer) => err.push(c));
    child.on('error', (e: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      if (e.code === 'ENOENT') reject(credentialHelperFailed(program, serverAddress, `${program} is not on PATH`));
      else reject(credentialHelperFailed(program, serverAddress, e.message));
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({
        code: code ?? (signal ? 128 : 1),
        stdout: Buffer.concat(out).toString('utf8'),
        stderr: Buffer.concat(err).toString('utf8'),
      });
    });
    // A helper that exits without reading stdin makes this write fail with EPIPE: its exit status says more.
    child.stdin.on('error', () => {});
    child.stdin.end(serverAddress);
  });
}
