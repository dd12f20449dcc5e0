import { expect } from 'chai';
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

/**
 * Runs `body` in a fresh Node process after loading the engine adapter and making one call that
 * needs dockerode (an inspect on a socket that is not there); returns what it prints.
 */
function afterLoadingAdapter(body: string): unknown {
  const adapter = fileURLToPath(new URL('./docker-engine.js', import.meta.url));
  const script = [
    `const { dockerEngine } = await import(${JSON.stringify(adapter)});`,
    "const dockerodeBefore = Object.keys((await import('node:module')).createRequire(import.meta.url).cache).some((f) => f.includes('/node_modules/dockerode/'));",
    "await dockerEngine('unix:///nonexistent/docker.sock').inspectImage('x').catch(() => undefined);",
    "const { createRequire } = await import('node:module');",
    `const req = createRequire(createRequire(${JSON.stringify(adapter)}).resolve('dockerode'));`,
    'const loaded = () => Object.keys(req.cache).filter((f) => /node_modules\\/(ssh2|@grpc|protobufjs)\\//.test(f)).length;',
    body,
  ].join('\n');
  return JSON.parse(execFileSync(process.execPath, ['--input-type=module', '-e', script]).toString());
}

describe('the engine adapter loads dockerode without its unused parts', () => {
  it('loads dockerode on the first call that needs it, and neither ssh2 nor gRPC until they are used', () => {
    expect(
      afterLoadingAdapter(
        "console.log(JSON.stringify({ dockerodeBefore, loaded: loaded(), dockerode: Boolean(req.cache[req.resolve('dockerode')]) }));",
      ),
    ).to.deep.equal({
      dockerodeBefore: false,
      loaded: 0,
      dockerode: true,
    });
  });

  it('loads the real SSH transport on its first use, and gives what it gives', () => {
    const out = afterLoadingAdapter(
      [
        "const agent = req('docker-modem/lib/ssh.js')({ host: '127.0.0.1', port: 1 });",
        "console.log(JSON.stringify({ loaded: loaded() > 0, agent: typeof agent.createConnection, ssh2: Boolean(req.cache[req.resolve('ssh2')]) }));",
      ].join('\n'),
    );
    expect(out).to.deep.equal({ loaded: true, agent: 'function', ssh2: true });
  });
});
