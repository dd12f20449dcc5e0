// A remote engine over tcp:// as the docker CLI reaches one: TLS with verification when
// DOCKER_TLS_VERIFY is set (never plain HTTP), through a TLS proxy to the real engine that
// requires a client certificate, with certificates this test makes.

import { expect } from 'chai';
import { execFile } from 'node:child_process';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import {
  connect as netConnect,
  createServer as createNetServer,
  type AddressInfo,
  type Server,
  type Socket,
} from 'node:net';
import path from 'node:path';
import { createServer as createTlsServer, type TLSSocket } from 'node:tls';
import { promisify } from 'node:util';
import type { Engine } from '../../lib/engine/engine.js';
import { DEFAULT_SOCKET } from '../../lib/engine/connection.js';
import { ExitCode } from '../../lib/errors.js';
import { Cleanup, cliWith, PREFIX, realEngine } from './support.js';

const run = promisify(execFile);

/** A CA, a server certificate for 127.0.0.1 and a client certificate, as openssl makes them. */
async function makeCertificates(
  dir: string,
  name: string,
): Promise<{ dir: string; ca: Buffer; serverKey: Buffer; serverCert: Buffer }> {
  const d = path.join(dir, name);
  await mkdir(d, { recursive: true });
  const ssl = (...args: string[]) => run('openssl', args, { cwd: d });
  await ssl(
    'req',
    '-x509',
    '-newkey',
    'rsa:2048',
    '-nodes',
    '-keyout',
    'ca-key.pem',
    '-out',
    'ca.pem',
    '-days',
    '1',
    '-subj',
    `/CN=${name} test CA`,
  );
  await writeFile(path.join(d, 'server.ext'), 'subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n');
  await writeFile(path.join(d, 'client.ext'), 'extendedKeyUsage=clientAuth\n');
  for (const who of ['server', 'client']) {
    await ssl(
      'req',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-keyout',
      `${who}-key.pem`,
      '-out',
      `${who}.csr`,
      '-subj',
      `/CN=${who}`,
    );
    await ssl(
      'x509',
      '-req',
      '-in',
      `${who}.csr`,
      '-CA',
      'ca.pem',
      '-CAkey',
      'ca-key.pem',
      '-CAcreateserial',
      '-out',
      `${who}-cert.pem`,
      '-days',
      '1',
      '-extfile',
      `${who}.ext`,
    );
  }
  // DOCKER_CERT_PATH's names: the client's certificate and key beside the CA.
  await writeFile(path.join(d, 'cert.pem'), await readFile(path.join(d, 'client-cert.pem')));
  await writeFile(path.join(d, 'key.pem'), await readFile(path.join(d, 'client-key.pem')));
  return {
    dir: d,
    ca: await readFile(path.join(d, 'ca.pem')),
    serverKey: await readFile(path.join(d, 'server-key.pem')),
    serverCert: await readFile(path.join(d, 'server-cert.pem')),
  };
}

async function listen(server: Server): Promise<number> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return (server.address() as AddressInfo).port;
}

function closeServer(server: Server, sockets: Set<Socket>): Promise<void> {
  for (const s of sockets) s.destroy();
  return new Promise((resolve) => server.close(() => resolve()));
}

describe('a remote engine over tcp://', function () {
  this.timeout(5 * 60 * 1000);
  let engine: Engine;
  const cleanup = new Cleanup(() => engine);
  let certs: Awaited<ReturnType<typeof makeCertificates>>;
  let otherCa: Awaited<ReturnType<typeof makeCertificates>>;
  let proxy: Server;
  let proxyPort: number;
  const sockets = new Set<Socket>();
  let authorized = 0;

  before(async function () {
    engine = await realEngine(this);
    const dir = await cleanup.tempDir('tls');
    certs = await makeCertificates(dir, 'engine');
    otherCa = await makeCertificates(dir, 'other');
    // The engine's TLS port, as dockerd --tlsverify serves it: client certificates required.
    proxy = createTlsServer(
      { key: certs.serverKey, cert: certs.serverCert, ca: certs.ca, requestCert: true, rejectUnauthorized: true },
      (tls: TLSSocket) => {
        if (tls.authorized) authorized++;
        const upstream = netConnect(DEFAULT_SOCKET);
        sockets.add(upstream);
        tls.on('error', () => upstream.destroy());
        upstream.on('error', () => tls.destroy());
        tls.pipe(upstream).pipe(tls);
      },
    );
    proxy.on('connection', (s: Socket) => {
      sockets.add(s);
      s.on('close', () => sockets.delete(s));
    });
    proxy.on('tlsClientError', () => {});
    proxyPort = await listen(proxy);
  });
  after(async () => {
    if (proxy) await closeServer(proxy, sockets);
    await cleanup.run();
  });

  const tlsEnv = (certPath: string) => ({
    ...process.env,
    DOCKER_HOST: `tcp://127.0.0.1:${proxyPort}`,
    DOCKER_TLS_VERIFY: '1',
    DOCKER_CERT_PATH: certPath,
  });

  it('builds through TLS with DOCKER_TLS_VERIFY=1 and the certificates in DOCKER_CERT_PATH', async () => {
    const project = await cleanup.exampleCopy();
    const ref = cleanup.image(`${PREFIX}-over-tls:1`);
    const before = authorized;
    const r = await cliWith(tlsEnv(certs.dir), 'build', path.join(project, 'randomForest'), 'daemon', ref, '-q');
    expect(r.code, r.err).to.equal(ExitCode.ok);
    expect(authorized).to.be.above(before);
    expect(await engine.inspectImage(ref)).not.to.equal(undefined);
  });

  it('refuses an engine whose certificate does not verify against ca.pem: status 4, nothing sent', async () => {
    const ref = `${PREFIX}-over-tls-wrong-ca:1`;
    const r = await cliWith(
      tlsEnv(otherCa.dir),
      'build',
      path.join(await cleanup.exampleCopy(), 'randomForest'),
      'daemon',
      ref,
    );
    expect(r.code, r.err).to.equal(ExitCode.engineUnreachable);
    expect(r.err).to.match(/its certificate does not verify against .*ca\.pem/);
    expect(await engine.inspectImage(ref)).to.equal(undefined);
  });

  it('fails clearly when the engine refuses the client certificate', async () => {
    const dir = await cleanup.tempDir('ca-only');
    await writeFile(path.join(dir, 'ca.pem'), certs.ca);
    const r = await cliWith(
      tlsEnv(dir),
      'build',
      path.join(await cleanup.exampleCopy(), 'randomForest'),
      'daemon',
      `${PREFIX}-no-client-cert:1`,
    );
    expect(r.code, r.err).to.equal(ExitCode.engineUnreachable);
    expect(r.err).to.contain('cannot talk to the engine at tcp://127.0.0.1');
  });

  it('never sends plaintext to a tcp:// engine with DOCKER_TLS_VERIFY=1: a plain listener gets a TLS ClientHello', async () => {
    const project = await cleanup.exampleCopy();
    const received = async (env: NodeJS.ProcessEnv): Promise<{ first: Buffer; code: number }> => {
      const seen: Buffer[] = [];
      const plainSockets = new Set<Socket>();
      const plain = createNetServer((s) => {
        plainSockets.add(s);
        s.once('data', (c: Buffer) => {
          seen.push(c);
          s.destroy();
        });
      });
      const port = await listen(plain);
      try {
        const r = await cliWith(
          { ...env, DOCKER_HOST: `tcp://127.0.0.1:${port}` },
          'build',
          path.join(project, 'randomForest'),
          'daemon',
          `${PREFIX}-plain:1`,
        );
        return { first: seen[0] ?? Buffer.alloc(0), code: r.code };
      } finally {
        await closeServer(plain, plainSockets);
      }
    };
    const withTls = await received(tlsEnv(certs.dir));
    expect(withTls.code).to.equal(ExitCode.engineUnreachable);
    // 0x16: a TLS handshake record; 0x01 at offset 5: ClientHello.
    expect(withTls.first[0]).to.equal(0x16);
    expect(withTls.first[5]).to.equal(0x01);
    expect(withTls.first.toString('latin1')).not.to.match(/HTTP\/1\.1|GET \//);
    // Without DOCKER_TLS_VERIFY the same listener sees plain HTTP: the check above can fail.
    const withoutTls = await received({ ...process.env, DOCKER_TLS_VERIFY: '', DOCKER_CERT_PATH: '' });
    expect(withoutTls.first.toString('latin1')).to.match(/^GET \/images\//);
  });
});
