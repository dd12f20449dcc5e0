// Where the engine is and how to reach it, from DOCKER_HOST, DOCKER_TLS_VERIFY and DOCKER_CERT_PATH
// read as the docker CLI reads them. Anything the tool cannot honour is refused here, before a
// byte is sent: a connection is never quietly downgraded to plain HTTP.

import { readFileSync } from 'node:fs';
import path from 'node:path';

export const DEFAULT_SOCKET = '/var/run/docker.sock';
const DEFAULT_TCP_PORT = 2375;
const DEFAULT_TLS_PORT = 2376;

/** The environment values that say where the engine is; the CLI reads them, nothing else does. */
export interface EngineEnvironment {
  DOCKER_HOST?: string | undefined;
  DOCKER_TLS_VERIFY?: string | undefined;
  DOCKER_TLS?: string | undefined;
  DOCKER_CERT_PATH?: string | undefined;
  /** The home folder, for the default DOCKER_CERT_PATH (~/.docker). */
  home: string;
}

export type EngineConnection =
  | { kind: 'unix'; address: string; socketPath: string }
  | {
      kind: 'tcp';
      address: string;
      host: string;
      port: number;
      tls?: { ca: Buffer; cert?: Buffer; key?: Buffer; certPath: string };
    };

/** Why the engine's address cannot be used as given; the CLI turns it into a bad-input error. */
export class EngineAddressError extends Error {
  constructor(
    message: string,
    readonly hint: string,
  ) {
    super(message);
    this.name = 'EngineAddressError';
  }
}

/**
 * The connection the docker CLI would make: unix:// (or no DOCKER_HOST) is the local socket;
 * tcp:// is TLS with verification of the engine's certificate when DOCKER_TLS_VERIFY is set to
 * anything non-empty (the docker CLI's own rule, so even "0" turns it on), plain HTTP otherwise.
 */
export function resolveEngineConnection(env: EngineEnvironment): EngineConnection {
  const host = env.DOCKER_HOST ?? '';
  if (host === '') return { kind: 'unix', address: `unix://${DEFAULT_SOCKET}`, socketPath: DEFAULT_SOCKET };
  // As the docker CLI: an address without a scheme is a TCP one.
  const withScheme = host.includes('://') ? host : `tcp://${host}`;
  const scheme = withScheme.slice(0, withScheme.indexOf('://'));
  const tlsVerify = (env.DOCKER_TLS_VERIFY ?? '') !== '';
  switch (scheme) {
    case 'unix': {
      const socketPath = withScheme.slice('unix://'.length) || DEFAULT_SOCKET;
      return { kind: 'unix', address: `unix://${socketPath}`, socketPath };
    }
    case 'tcp':
      return tcpConnection(withScheme, tlsVerify, env);
    case 'ssh':
      throw new EngineAddressError(
        `DOCKER_HOST=${host}: engines over ssh:// are not supported by cortex-s2i`,
        'forward the remote socket and point DOCKER_HOST at it, e.g. ssh -NL /tmp/docker.sock:/var/run/docker.sock user@host & DOCKER_HOST=unix:///tmp/docker.sock',
      );
    default:
      throw new EngineAddressError(
        `DOCKER_HOST=${host}: the scheme ${scheme}:// is not one cortex-s2i can use`,
        'use unix:///path/to/docker.sock, or tcp://host:port (with DOCKER_TLS_VERIFY=1 and DOCKER_CERT_PATH for TLS)',
      );
  }
}

function tcpConnection(address: string, tlsVerify: boolean, env: EngineEnvironment): EngineConnection {
  let url: URL;
  try {
    url = new URL(address.replace(/^tcp:/, 'http:'));
  } catch {
    throw new EngineAddressError(
      `DOCKER_HOST=${env.DOCKER_HOST} is not a valid address`,
      'e.g. DOCKER_HOST=tcp://engine.example.com:2376',
    );
  }
  if (url.username || url.password || (url.pathname !== '/' && url.pathname !== '') || url.search) {
    throw new EngineAddressError(
      `DOCKER_HOST=${env.DOCKER_HOST}: a tcp:// address is host and port only`,
      'e.g. DOCKER_HOST=tcp://engine.example.com:2376',
    );
  }
  // URL keeps IPv6 hosts in brackets; sockets want them bare.
  const hostname = url.hostname.replace(/^\[(.*)\]$/, '$1');
  if (!tlsVerify) {
    if ((env.DOCKER_TLS ?? '') !== '') {
      // TLS without verifying the engine is what DOCKER_TLS alone asks for; the tool does not do
      // that, and plain HTTP instead would be a downgrade.
      throw new EngineAddressError(
        'DOCKER_TLS is set without DOCKER_TLS_VERIFY: cortex-s2i does not talk TLS without verifying the engine',
        "set DOCKER_TLS_VERIFY=1 and put the engine's CA in DOCKER_CERT_PATH/ca.pem",
      );
    }
    return { kind: 'tcp', address: `tcp://${url.host}`, host: hostname, port: Number(url.port || DEFAULT_TCP_PORT) };
  }
  const certPath = env.DOCKER_CERT_PATH || path.join(env.home, '.docker');
  const read = (name: string): Buffer | undefined => {
    try {
      return readFileSync(path.join(certPath, name));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw new EngineAddressError(
        `cannot read ${path.join(certPath, name)}: ${(err as Error).message}`,
        'DOCKER_CERT_PATH must hold ca.pem, cert.pem and key.pem readable by you',
      );
    }
  };
  const ca = read('ca.pem');
  const cert = read('cert.pem');
  const key = read('key.pem');
  if (!ca) {
    throw new EngineAddressError(
      `DOCKER_TLS_VERIFY is set but there is no ${path.join(certPath, 'ca.pem')} to verify the engine with`,
      "put the engine's CA certificate in ca.pem (and your client certificate and key in cert.pem and key.pem) in DOCKER_CERT_PATH (default ~/.docker)",
    );
  }
  if ((cert === undefined) !== (key === undefined)) {
    const missing = cert ? 'key.pem' : 'cert.pem';
    throw new EngineAddressError(
      `${path.join(certPath, missing)} is missing: a client certificate needs both cert.pem and key.pem`,
      `add ${missing} to DOCKER_CERT_PATH, or remove the other one`,
    );
  }
  return {
    kind: 'tcp',
    address: `tcp://${url.host}`,
    host: hostname,
    port: Number(url.port || DEFAULT_TLS_PORT),
    tls: { ca, certPath, ...(cert ? { cert } : {}), ...(key ? { key } : {}) },
  };
}
