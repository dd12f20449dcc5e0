import { expect } from 'chai';
import {
  credentialSourceFor,
  decodeAuth,
  DOCKER_HUB_KEY,
  parseDockerConfig,
  parseHelperAnswer,
  registryOf,
  repositoryOf,
  type DockerConfig,
} from './docker-config.js';

const b64 = (s: string) => Buffer.from(s).toString('base64');

function config(json: object): DockerConfig {
  const r = parseDockerConfig(JSON.stringify(json), 'config.json');
  if (!r.ok) throw new Error(JSON.stringify(r.errors));
  return r.value;
}

describe('Docker client config', () => {
  it('finds the registry of a reference as Docker does', () => {
    expect(registryOf('127.0.0.1:5301/team/model:1')).to.equal('127.0.0.1:5301');
    expect(registryOf('registry.example.com/model')).to.equal('registry.example.com');
    expect(registryOf('localhost/model')).to.equal('localhost');
    expect(registryOf('team/model:1')).to.equal('docker.io');
    expect(registryOf('model')).to.equal('docker.io');
    expect(registryOf('docker.io/library/python')).to.equal('docker.io');
  });

  it('strips the tag or digest from a reference, not a registry port', () => {
    expect(repositoryOf('127.0.0.1:5301/team/model:1')).to.equal('127.0.0.1:5301/team/model');
    expect(repositoryOf('127.0.0.1:5301/team/model')).to.equal('127.0.0.1:5301/team/model');
    expect(repositoryOf(`r:5000/m@sha256:${'a'.repeat(64)}`)).to.equal('r:5000/m');
  });

  it('reads auths entries (base64 user:password, keys written as URLs too)', () => {
    const c = config({
      auths: { 'http://127.0.0.1:5302/v2/': { auth: b64('ci:pa:ss') }, [DOCKER_HUB_KEY]: { auth: b64('hub:x') } },
    });
    expect(credentialSourceFor(c, '127.0.0.1:5302')).to.deep.equal({
      kind: 'inline',
      serverAddress: '127.0.0.1:5302',
      username: 'ci',
      password: 'pa:ss',
    });
    expect(credentialSourceFor(c, 'docker.io')).to.deep.equal({
      kind: 'inline',
      serverAddress: DOCKER_HUB_KEY,
      username: 'hub',
      password: 'x',
    });
    expect(credentialSourceFor(c, 'other:5000')).to.deep.equal({ kind: 'none' });
  });

  it('asks credHelpers first, then credsStore, as the docker CLI does', () => {
    const c = config({
      auths: { 'r:5000': { auth: b64('a:b') } },
      credsStore: 'desktop',
      credHelpers: { 'r:5000': 'ecr-login' },
    });
    expect(credentialSourceFor(c, 'r:5000')).to.deep.equal({
      kind: 'helper',
      helper: 'ecr-login',
      serverAddress: 'r:5000',
    });
    expect(credentialSourceFor(c, 'q:5000')).to.deep.equal({
      kind: 'helper',
      helper: 'desktop',
      serverAddress: 'q:5000',
    });
  });

  it('reports every malformed part at once, and refuses helper names that are paths', () => {
    const r = parseDockerConfig(
      JSON.stringify({ auths: { a: 3 }, credsStore: '../evil', credHelpers: { b: 'x y' } }),
      '/h/.docker/config.json',
    );
    expect(r.ok).to.equal(false);
    if (!r.ok) expect(r.errors.map((e) => e.message)).to.have.length(3);
    expect(parseDockerConfig('{nope', 'c.json').ok).to.equal(false);
  });

  it('decodes auth values and credential helper answers', () => {
    expect(decodeAuth(b64('user:p:w'))).to.deep.equal({ username: 'user', password: 'p:w' });
    expect(decodeAuth(b64('no-colon'))).to.equal(undefined);
    expect(parseHelperAnswer('{"ServerURL":"r","Username":"u","Secret":"s"}')).to.deep.equal({
      username: 'u',
      password: 's',
    });
    expect(parseHelperAnswer('{"Username":"<token>","Secret":"t"}')).to.deep.equal({ identityToken: 't' });
    expect(parseHelperAnswer('not json')).to.equal(undefined);
  });
});
