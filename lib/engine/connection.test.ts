import { expect } from 'chai';
import { removeTree, writeTree } from '../../test/support/tree.js';
import { EngineAddressError, resolveEngineConnection, type EngineConnection } from './connection.js';

function refusal(env: Parameters<typeof resolveEngineConnection>[0]): EngineAddressError {
  try {
    resolveEngineConnection(env);
  } catch (err) {
    if (err instanceof EngineAddressError) return err;
    throw err;
  }
  throw new Error('expected the address to be refused');
}

describe('resolveEngineConnection (DOCKER_HOST, DOCKER_TLS_VERIFY, DOCKER_CERT_PATH)', () => {
  let certs: string;
  let home: string;
  beforeEach(async () => {
    certs = await writeTree({ 'ca.pem': 'CA', 'cert.pem': 'CERT', 'key.pem': 'KEY' });
    home = await writeTree({ '.docker/ca.pem': 'HOME CA' });
  });
  afterEach(async () => {
    await removeTree(certs);
    await removeTree(home);
  });

  it('uses the local socket without DOCKER_HOST, and the socket named by unix://', () => {
    expect(resolveEngineConnection({ home })).to.deep.equal({
      kind: 'unix',
      address: 'unix:///var/run/docker.sock',
      socketPath: '/var/run/docker.sock',
    });
    expect(resolveEngineConnection({ DOCKER_HOST: 'unix:///tmp/d.sock', home })).to.deep.include({
      socketPath: '/tmp/d.sock',
    });
  });

  it('speaks plain HTTP to tcp:// without DOCKER_TLS_VERIFY, on 2375 unless told', () => {
    expect(resolveEngineConnection({ DOCKER_HOST: 'tcp://engine.example:1234', home })).to.deep.equal({
      kind: 'tcp',
      address: 'tcp://engine.example:1234',
      host: 'engine.example',
      port: 1234,
    });
    expect(resolveEngineConnection({ DOCKER_HOST: 'engine.example', home })).to.deep.include({ port: 2375 });
  });

  it('speaks TLS with the certificates in DOCKER_CERT_PATH when DOCKER_TLS_VERIFY is set, on 2376 unless told', () => {
    const c = resolveEngineConnection({
      DOCKER_HOST: 'tcp://engine.example',
      DOCKER_TLS_VERIFY: '1',
      DOCKER_CERT_PATH: certs,
      home,
    }) as Extract<EngineConnection, { kind: 'tcp' }>;
    expect(c.port).to.equal(2376);
    expect(c.tls?.ca.toString()).to.equal('CA');
    expect(c.tls?.cert?.toString()).to.equal('CERT');
    expect(c.tls?.key?.toString()).to.equal('KEY');
  });

  it('reads ~/.docker without DOCKER_CERT_PATH, and any non-empty DOCKER_TLS_VERIFY means TLS, as the docker CLI reads it', () => {
    const c = resolveEngineConnection({ DOCKER_HOST: 'tcp://127.0.0.1:2376', DOCKER_TLS_VERIFY: '0', home }) as Extract<
      EngineConnection,
      { kind: 'tcp' }
    >;
    expect(c.tls?.ca.toString()).to.equal('HOME CA');
    expect(c.tls?.cert).to.equal(undefined);
  });

  it('refuses TLS it cannot verify rather than send plain HTTP', async () => {
    expect(
      refusal({ DOCKER_HOST: 'tcp://e:2376', DOCKER_TLS_VERIFY: '1', DOCKER_CERT_PATH: home, home }).message,
    ).to.match(/no .*ca\.pem to verify the engine with/);
    expect(refusal({ DOCKER_HOST: 'tcp://e:2376', DOCKER_TLS: '1', home }).message).to.contain('without verifying');
    const half = await writeTree({ 'ca.pem': 'CA', 'cert.pem': 'CERT' });
    try {
      expect(
        refusal({ DOCKER_HOST: 'tcp://e:2376', DOCKER_TLS_VERIFY: '1', DOCKER_CERT_PATH: half, home }).message,
      ).to.contain('key.pem is missing');
    } finally {
      await removeTree(half);
    }
  });

  it('refuses ssh:// and schemes it does not know, never turning them into plain HTTP', () => {
    expect(refusal({ DOCKER_HOST: 'ssh://me@engine.example', home }).message).to.contain('ssh:// are not supported');
    expect(refusal({ DOCKER_HOST: 'ssh://me@engine.example', home }).hint).to.contain('ssh -NL');
    expect(refusal({ DOCKER_HOST: 'http://engine.example:2375', home }).message).to.contain('http://');
    expect(refusal({ DOCKER_HOST: 'fd://', home }).message).to.contain('fd://');
    expect(refusal({ DOCKER_HOST: 'tcp://user:pw@engine:1/path', home }).message).to.contain('host and port only');
  });
});
