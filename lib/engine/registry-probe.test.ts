import { expect } from 'chai';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { diagnoseRegistry } from './registry-probe.js';

const basic = (user: string, password: string) => `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;

async function listen(
  handler: (req: IncomingMessage, res: ServerResponse, port: number) => void,
): Promise<{ server: Server; host: string }> {
  const server = createServer((req, res) => handler(req, res, (server.address() as AddressInfo).port));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, host: `127.0.0.1:${(server.address() as AddressInfo).port}` };
}

describe('diagnoseRegistry', () => {
  const servers: Server[] = [];
  afterEach(async () => {
    for (const s of servers.splice(0)) await new Promise((resolve) => s.close(resolve));
  });

  it('tells refused credentials from missing ones on a basic-auth registry (plain HTTP, as on 127.0.0.1)', async () => {
    const { server, host } = await listen((req, res) => {
      if (req.headers.authorization === basic('ci', 'right')) return void res.writeHead(200).end('{}');
      res.writeHead(401, { 'WWW-Authenticate': 'Basic realm="test"' }).end();
    });
    servers.push(server);
    expect(await diagnoseRegistry(host, { serverAddress: host, username: 'ci', password: 'right' })).to.equal(
      'answers',
    );
    expect(await diagnoseRegistry(host, { serverAddress: host, username: 'ci', password: 'wrong' })).to.equal(
      'refused-credentials',
    );
    expect(await diagnoseRegistry(host, undefined)).to.equal('needs-credentials');
  });

  it("asks a token registry's token endpoint whether the password is right", async () => {
    const { server, host } = await listen((req, res, port) => {
      if (req.url?.startsWith('/token')) {
        if (req.headers.authorization === basic('ci', 'right')) return void res.writeHead(200).end('{"token":"t"}');
        return void res.writeHead(401).end();
      }
      res.writeHead(401, { 'WWW-Authenticate': `Bearer realm="http://127.0.0.1:${port}/token",service="test"` }).end();
    });
    servers.push(server);
    expect(await diagnoseRegistry(host, { serverAddress: host, username: 'ci', password: 'wrong' })).to.equal(
      'refused-credentials',
    );
    expect(await diagnoseRegistry(host, { serverAddress: host, username: 'ci', password: 'right' })).to.equal(
      'unclear',
    );
  });

  it('says a registry whose port is closed is down', async () => {
    const { server, host } = await listen((_req, res) => res.end());
    await new Promise((resolve) => server.close(resolve));
    expect(await diagnoseRegistry(host, undefined)).to.equal('down');
  });
});
