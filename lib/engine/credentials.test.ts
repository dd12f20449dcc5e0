import { expect } from 'chai';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { removeTree, writeTree } from '../../test/support/tree.js';
import { CortexError, ExitCode } from '../errors.js';
import { credentialsFor } from './credentials.js';

describe('registry credentials (credentialsFor)', () => {
  let dir: string;
  afterEach(() => removeTree(dir));

  const helper = (body: string) => ({ content: `#!/bin/sh\n${body}\n`, mode: 0o755 });

  it('runs docker-credential-<name> get with the server on stdin and reads Username and Secret', async () => {
    dir = await writeTree({
      'config/config.json': JSON.stringify({ credHelpers: { 'r:5000': 'test' } }),
      'bin/docker-credential-test': helper(
        `[ "$1" = get ] || exit 9\ncat > "$(dirname "$0")/asked"\necho '{"ServerURL":"r:5000","Username":"ci","Secret":"s3cret"}'`,
      ),
    });
    const found = await credentialsFor('r:5000', {
      configDir: path.join(dir, 'config'),
      helperEnv: { PATH: `${path.join(dir, 'bin')}:/usr/bin:/bin` },
    });
    expect(found.auth).to.deep.equal({ serverAddress: 'r:5000', username: 'ci', password: 's3cret' });
    expect(await readFile(path.join(dir, 'bin/asked'), 'utf8')).to.equal('r:5000');
  });

  it('takes the helper\'s "credentials not found" as no credentials, and any other failure as an error', async () => {
    dir = await writeTree({
      'config/config.json': JSON.stringify({ credsStore: 'store' }),
      'bin/docker-credential-store': helper('echo "credentials not found in native keychain"; exit 1'),
    });
    const opts = { configDir: path.join(dir, 'config'), helperEnv: { PATH: path.join(dir, 'bin') } };
    expect((await credentialsFor('r:5000', opts)).auth).to.equal(undefined);
    const broken = { configDir: path.join(dir, 'config'), helperEnv: { PATH: '/nonexistent' } };
    const err = await credentialsFor('r:5000', broken).catch((e: unknown) => e);
    expect(err).to.be.instanceOf(CortexError);
    expect((err as CortexError).exitCode).to.equal(ExitCode.registryCredentials);
    expect((err as CortexError).message).to.contain('docker-credential-store is not on PATH');
  });

  it('leaves no timer behind when the helper cannot be started: nothing keeps the process alive', async () => {
    dir = await writeTree({ 'config/config.json': JSON.stringify({ credsStore: 'absent' }) });
    const timers = () => process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;
    const before = timers();
    await credentialsFor('r:5000', { configDir: path.join(dir, 'config'), helperEnv: { PATH: '/nonexistent' } }).catch(
      () => undefined,
    );
    expect(timers()).to.equal(before);
  });

  it('needs no config.json at all', async () => {
    dir = await writeTree({});
    expect((await credentialsFor('r:5000', { configDir: path.join(dir, 'missing'), helperEnv: {} })).auth).to.equal(
      undefined,
    );
  });
});
