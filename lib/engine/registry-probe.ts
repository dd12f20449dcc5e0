// Tells why a registry refused a push or a pull, by asking it directly (GET /v2/, as `docker login`
// does): down, an unknown host, refused credentials. The engine reports all of these as one
// message string, so the answer comes from socket error codes and HTTP statuses instead.

import { request as httpRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { RegistryAuth } from './engine.js';

export type RegistryDiagnosis =
  | 'answers'
  | 'down'
  | 'unknown-host'
  | 'refused-credentials'
  | 'needs-credentials'
  /** Something else; the engine's own message is the best account. */
  | 'unclear';

const UNKNOWN_HOST = new Set(['ENOTFOUND', 'EAI_AGAIN', 'EAI_NONAME']);
const DOWN = new Set(['ECONNREFUSED', 'EHOSTUNREACH', 'ENETUNREACH', 'ETIMEDOUT', 'ECONNRESET', 'TIMEOUT']);
const PROBE_TIMEOUT_MS = 5000;

/** `host` as in an image reference (`registry:5000`, `docker.io`). */
export async function diagnoseRegistry(host: string, auth: RegistryAuth | undefined): Promise<RegistryDiagnosis> {
  const authority = host === 'docker.io' ? 'registry-1.docker.io' : host;
  let answer = await get(`https://${authority}/v2/`, auth);
  // A plain-HTTP registry (insecure, as the engine allows on 127.0.0.0/8) fails the TLS handshake:
  // the engine falls back to HTTP there, and so does this.
  if ('error' in answer && !UNKNOWN_HOST.has(answer.error) && answer.error !== 'ECONNREFUSED') {
    answer = await get(`http://${authority}/v2/`, auth);
  }
  if ('error' in answer) {
    if (UNKNOWN_HOST.has(answer.error)) return 'unknown-host';
    if (DOWN.has(answer.error)) return 'down';
    return 'unclear';
  }
  if (answer.status !== 401) return answer.status < 300 ? 'answers' : 'unclear';
  const challenge = answer.challenge ?? '';
  if (/^basic/i.test(challenge)) return auth ? 'refused-credentials' : 'needs-credentials';
  const bearer = /^bearer\s+(.*)$/i.exec(challenge);
  if (!bearer) return 'unclear';
  if (!auth?.username || auth.password === undefined) return auth ? 'unclear' : 'needs-credentials';
  // Token registries (Docker Hub, most clouds) check the password at their token endpoint.
  const params = Object.fromEntries([...bearer[1]!.matchAll(/(\w+)="([^"]*)"/g)].map((m) => [m[1]!, m[2]!]));
  if (!params.realm) return 'unclear';
  const url = new URL(params.realm);
  if (params.service) url.searchParams.set('service', params.service);
  const token = await get(url.toString(), auth);
  if ('error' in token) return 'unclear';
  return token.status === 401 ? 'refused-credentials' : 'unclear';
}

type Answer = { status: number; challenge: string | undefined } | { error: string };

function get(url: string, auth: RegistryAuth | undefined): Promise<Answer> {
  const u = new URL(url);
  const headers: Record<string, string> = {};
  if (auth?.username !== undefined && auth.password !== undefined) {
    headers.Authorization = `Basic ${Buffer.from(`${auth.username}:${auth.password}`).toString('base64')}`;
  }
  const send = u.protocol === 'https:' ? httpsRequest : httpRequest;
  return new Promise((resolve) => {
    const req = send(u, { method: 'GET', headers, agent: false, timeout: PROBE_TIMEOUT_MS }, (res: IncomingMessage) => {
      res.resume();
      const challenge = res.headers['www-authenticate'];
      resolve({ status: res.statusCode ?? 0, challenge: Array.isArray(challenge) ? challenge[0] : challenge });
    });
    req.on('timeout', () => req.destroy(Object.assign(new Error('timed out'), { code: 'TIMEOUT' })));
    req.on('error', (err: NodeJS.ErrnoException) => resolve({ error: err.code ?? 'UNKNOWN' }));
    req.end();
  });
}
