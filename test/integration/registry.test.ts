// Pushing and pulling against real registries (make registry: 127.0.0.1:5301 without auth,
// 127.0.0.1:5302 with basic auth): digests a later step can pin, the standard Docker credentials
// (config.json auths, a credential helper), one clear failure with its own exit status each for a
// wrong password, a registry that is down and an unknown host, and --cache-from on a cold engine.

import { expect } from 'chai';
import { randomUUID } from 'node:crypto';
import { appendFile, chmod, mkdir, readFile, writeFile } from 'node:fs/promises';
import { connect } from 'node:net';
import path from 'node:path';
import type { Engine } from '../../lib/engine/engine.js';
import { ExitCode } from '../../lib/errors.js';
import type { BuildReport } from '../../lib/build/publish.js';
import { Cleanup, cliWith, PREFIX, realEngine } from './support.js';

const OPEN = '127.0.0.1:5301';
const AUTH = '127.0.0.1:5302';
// In this suite's port range, and never listened on: the registry that is down.
const DOWN = '127.0.0.1:5309';
const USER = process.env.CORTEX_S2I_REGISTRY_USER || 'cortex';
const PASSWORD = process.env.CORTEX_S2I_REGISTRY_PASSWORD || 'cortex-test-password';
const MANIFEST_TYPES =
  'application/vnd.docker.distribution.manifest.v2+json, application/vnd.oci.image.manifest.v1+json';

/** The digest the registry itself holds for repo:tag, read without the engine. */
async function registryDigest(registry: string, repo: string, tag: string, auth?: string): Promise<string | null> {
  const r = await fetch(`http://${registry}/v2/${repo}/manifests/${tag}`, {
    method: 'HEAD',
    headers: {
      Accept: MANIFEST_TYPES,
      ...(auth ? { Authorization: `Basic ${Buffer.from(auth).toString('base64')}` } : {}),
    },
    signal: AbortSignal.timeout(10_000),
  });
  return r.status === 200 ? r.headers.get('docker-content-digest') : null;
}

/**
 * The id of the image a tag holds in the registry: its manifest's config digest. The manifest's own
 * digest can differ between registries for one image, as the engine reuses the compressed layers a
 * registry already has (from an earlier pull or push) and compresses afresh for another.
 */
async function registryImageId(
  registry: string,
  repo: string,
  tag: string,
  auth?: string,
): Promise<string | undefined> {
  const r = await fetch(`http://${registry}/v2/${repo}/manifests/${tag}`, {
    headers: {
      Accept: MANIFEST_TYPES,
      ...(auth ? { Authorization: `Basic ${Buffer.from(auth).toString('base64')}` } : {}),
    },
    signal: AbortSignal.timeout(10_000),
  });
  return r.status === 200 ? ((await r.json()) as { config?: { digest?: string } }).config?.digest : undefined;
}

async function registriesAnswer(): Promise<string | undefined> {
  for (const [where, status] of [
    [OPEN, 200],
    [AUTH, 401],
  ] as const) {
    try {
      const r = await fetch(`http://${where}/v2/`, { signal: AbortSignal.timeout(3000) });
      if (r.status !== status) return `${where} answered ${r.status}, not ${status}`;
    } catch (err) {
      return `no registry answers at ${where} (${(err as Error).message})`;
    }
  }
  return undefined;
}

function portIsClosed(hostPort: string): Promise<boolean> {
  const [host, port] = hostPort.split(':');
  return new Promise((resolve) => {
    const socket = connect({ host: host!, port: Number(port) });
    socket.once('connect', () => {
      socket.destroy();
      resolve(false);
    });
    socket.once('error', () => resolve(true));
  });
}

const errorLines = (err: string) => err.split('\n').filter((l) => l.startsWith('error:'));

describe('registries: push, credentials, machine-readable results, --cache-from', function () {
  this.timeout(15 * 60 * 1000);
  let engine: Engine;
  const cleanup = new Cleanup(() => engine);
  const nonce = randomUUID().slice(0, 8);
  const repo = `${PREFIX}-push`;
  const first = `${OPEN}/${repo}:${nonce}`;
  let project: string;
  let model: string;
  let dir: string;
  let imageId: string;
  let digest: string;

  async function dockerConfig(name: string, config: object): Promise<string> {
    const configDir = path.join(dir, name);
    await mkdir(configDir, { recursive: true });
    await writeFile(path.join(configDir, 'config.json'), JSON.stringify(config));
    return configDir;
  }

  const basic = (user: string, password: string) => Buffer.from(`${user}:${password}`).toString('base64');

  before(async function () {
    engine = await realEngine(this);
    const reason = await registriesAnswer();
    if (reason) {
      if (process.env.CI === 'true')
        throw new Error(`registry tests cannot run under CI: ${reason}; 'make test' starts the registries`);
      console.warn(
        `\n*** REGISTRY TESTS SKIPPED: ${reason}.\n*** Run 'make registry' (or 'make test') to start them.\n`,
      );
      this.skip();
    }
    dir = await cleanup.tempDir('registry');
    project = await cleanup.exampleCopy();
    model = path.join(project, 'logisticRegression');
    // A dependency layer no other build has: only --cache-from can bring it back once removed.
    await appendFile(path.join(model, 'requirements_predict.txt'), `# ${PREFIX} ${nonce}\n`);
  });
  after(() => cleanup.run());

  it("build --push --json pushes, prints one JSON document with the registry's digest, and writes --digest-file", async () => {
    const digestFile = path.join(dir, 'digest');
    cleanup.image(first);
    const r = await cliWith(
      { ...process.env, DOCKER_CONFIG: path.join(dir, 'none') },
      'build',
      model,
      'daemon',
      first,
      '--push',
      '--json',
      '--digest-file',
      digestFile,
    );
    expect(r.code, r.err).to.equal(ExitCode.ok);
    const report = JSON.parse(r.out) as BuildReport;
    imageId = cleanup.image(report.id);
    digest = report.digest!;
    expect(report.image).to.equal(first);
    expect(report.tags).to.deep.equal([first]);
    expect(digest).to.match(/^sha256:[0-9a-f]{64}$/);
    expect(await registryDigest(OPEN, repo, nonce)).to.equal(digest);
    expect(report.pushed).to.deep.equal([{ tag: first, digest, reference: `${OPEN}/${repo}@${digest}` }]);
    expect(await readFile(digestFile, 'utf8')).to.equal(digest);
    expect(report.size).to.be.greaterThan(1000);
    expect(report.bytesSent).to.be.greaterThan(report.sourceBytes);
    const deps = report.steps.filter((s) => s.dependencies);
    expect(deps).to.have.length(1);
    expect(deps[0]!.cached).to.equal(false);
    expect(report.steps.every((s) => typeof s.seconds === 'number' && typeof s.cached === 'boolean')).to.equal(true);
    expect(report.warnings).to.be.an('array');
    // Logs went to stderr: stdout held the document alone.
    expect(r.err).to.contain(`built ${first}`).and.contain('dependencies: installed');
  });

  it('push to a registry with basic auth, with the credentials of config.json "auths"', async () => {
    const ref = cleanup.image(`${AUTH}/${repo}:${nonce}`);
    await engine.tagImage(imageId, ref);
    const configDir = await dockerConfig('auths', { auths: { [`http://${AUTH}`]: { auth: basic(USER, PASSWORD) } } });
    const r = await cliWith({ ...process.env, DOCKER_CONFIG: configDir }, 'push', ref);
    expect(r.code, r.err).to.equal(ExitCode.ok);
    expect(r.out).to.equal(`${AUTH}/${repo}@${await registryDigest(AUTH, repo, nonce, `${USER}:${PASSWORD}`)}`);
    expect(await registryImageId(AUTH, repo, nonce, `${USER}:${PASSWORD}`)).to.equal(imageId);
  });

  it('push with the credentials a docker-credential helper gives (credHelpers)', async () => {
    const ref = cleanup.image(`${AUTH}/${repo}:${nonce}-helper`);
    await engine.tagImage(imageId, ref);
    const bin = path.join(dir, 'bin');
    await mkdir(bin, { recursive: true });
    const helper = path.join(bin, 'docker-credential-cortextest');
    await writeFile(
      helper,
      `#!/bin/sh\n[ "$1" = get ] || exit 3\ncat > "${bin}/asked"\nprintf '{"ServerURL":"%s","Username":"%s","Secret":"%s"}' "${AUTH}" "${USER}" "${PASSWORD}"\n`,
    );
    await chmod(helper, 0o755);
    const configDir = await dockerConfig('helper', { credHelpers: { [AUTH]: 'cortextest' } });
    const r = await cliWith(
      { ...process.env, DOCKER_CONFIG: configDir, PATH: `${bin}:${process.env.PATH}` },
      'push',
      ref,
    );
    expect(r.code, r.err).to.equal(ExitCode.ok);
    expect(r.out).to.equal(
      `${AUTH}/${repo}@${await registryDigest(AUTH, repo, `${nonce}-helper`, `${USER}:${PASSWORD}`)}`,
    );
    expect(await readFile(path.join(bin, 'asked'), 'utf8')).to.equal(AUTH);
    expect(await registryImageId(AUTH, repo, `${nonce}-helper`, `${USER}:${PASSWORD}`)).to.equal(imageId);
  });

  it('a wrong password fails with one line and exit status 13; no credentials at all, too', async () => {
    const ref = cleanup.image(`${AUTH}/${repo}:${nonce}-wrong`);
    await engine.tagImage(imageId, ref);
    const configDir = await dockerConfig('wrong', { auths: { [AUTH]: { auth: basic(USER, 'not-the-password') } } });
    const r = await cliWith({ ...process.env, DOCKER_CONFIG: configDir }, 'push', ref);
    expect(r.code).to.equal(ExitCode.registryCredentials);
    expect(errorLines(r.err), r.err).to.deep.equal([
      `error: registry ${AUTH} refused the credentials from the "auths" entry in ${configDir}/config.json`,
    ]);
    expect(r.out).to.equal('');
    expect(await registryDigest(AUTH, repo, `${nonce}-wrong`, `${USER}:${PASSWORD}`)).to.equal(null);

    const none = await cliWith({ ...process.env, DOCKER_CONFIG: path.join(dir, 'none') }, 'push', ref);
    expect(none.code).to.equal(ExitCode.registryCredentials);
    expect(errorLines(none.err)).to.have.length(1);
    expect(none.err).to.contain(`registry ${AUTH} asks for credentials`);
  });

  it('a registry that is down fails with one line and exit status 11', async () => {
    expect(await portIsClosed(DOWN), `${DOWN} must be closed for this test`).to.equal(true);
    const ref = cleanup.image(`${DOWN}/${repo}:${nonce}`);
    await engine.tagImage(imageId, ref);
    const r = await cliWith({ ...process.env, DOCKER_CONFIG: path.join(dir, 'none') }, 'push', ref);
    expect(r.code).to.equal(ExitCode.registryDown);
    expect(errorLines(r.err), r.err).to.deep.equal([
      `error: no registry answers at ${DOWN}; ${ref} was not transferred`,
    ]);
  });

  it('an unknown registry host fails with one line and exit status 12', async () => {
    const ref = cleanup.image(`${PREFIX}-no-such-registry.invalid:5000/${repo}:${nonce}`);
    await engine.tagImage(imageId, ref);
    const r = await cliWith({ ...process.env, DOCKER_CONFIG: path.join(dir, 'none') }, 'push', ref);
    expect(r.code).to.equal(ExitCode.registryUnknown);
    expect(errorLines(r.err), r.err).to.have.length(1);
    expect(r.err).to.contain(`registry host ${PREFIX}-no-such-registry.invalid:5000 is unknown`);
  });

  it('--cache-from pulls the pushed build onto a cold engine and skips the dependency step of an edited model; -q prints only the pinned reference', async () => {
    // Every local image of the first build goes (all its tags, and its step images with it).
    await engine.removeImage(imageId);
    expect(await engine.inspectImage(first)).to.equal(undefined);
    await appendFile(path.join(model, 'predict.py'), '\n# an edit to the model code\n');
    const second = cleanup.image(`${OPEN}/${repo}:${nonce}-2`);
    // A cache image that was never pushed (a pipeline's first run) is a warning, not a failure.
    const never = `${OPEN}/${repo}:${nonce}-never-pushed`;
    const r = await cliWith(
      { ...process.env, DOCKER_CONFIG: path.join(dir, 'none') },
      'build',
      model,
      'daemon',
      second,
      '--cache-from',
      never,
      '--cache-from',
      first,
      '--push',
      '-q',
    );
    expect(r.code, r.err).to.equal(ExitCode.ok);
    expect(r.err).to.contain(`warning: --cache-from ${never}: not used`);
    expect(r.err).to.contain(`pulling ${first}`);
    expect(r.err).to.match(/step \d+\/\d+ +[\d.]+s dependencies: cached/);
    expect(await engine.inspectImage(first), 'the cache image was pulled').not.to.equal(undefined);
    const info = await engine.inspectImage(second);
    cleanup.image(info!.id);
    expect(r.out.split('\n')).to.have.length(1);
    expect(r.out).to.match(new RegExp(`^${OPEN.replace(/\./g, '\\.')}/${repo}@sha256:[0-9a-f]{64}$`));
    expect(r.out.split('@')[1]).to.equal(await registryDigest(OPEN, repo, `${nonce}-2`));
  });
});
