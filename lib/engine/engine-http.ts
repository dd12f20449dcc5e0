// Single requests to the engine's API over node's own http: inspecting an image, its history,
// tagging it, loading an image archive. A command that needs only these (a rebuild found up to
// date, a rebuild of the source layer alone) then never loads dockerode, whose loading costs more
// than the rest of the command's start. Answers and failures come back
// in dockerode's shape (a parsed body, or an error with statusCode and json, or the socket's
// error), so that the engine adapter handles both the same way.

import type http from 'node:http';
import type https from 'node:https';
import { createRequire } from 'node:module';
import type { EngineConnection } from './connection.js';

// node:https (and with it tls) only for an engine that speaks TLS: a local socket needs neither.
const load = createRequire(import.meta.url);

/** An answer that is not 2xx, as docker-modem reports it. */
export interface EngineHttpError extends Error {
  statusCode: number;
  json: unknown;
}

/** GETs `path`: resolves with the JSON body parsed (a Buffer when it is not JSON). */
export function engineGet(connection: EngineConnection, path: string, signal: AbortSignal): Promise<unknown> {
  return engineRequest(connection, 'GET', path, signal);
}

/**
 * POSTs `body` (a tar when given, else nothing) to `path`: resolves with the JSON body parsed (a
 * Buffer when it is not JSON, as a stream of JSON lines is).
 */
export function enginePost(
  connection: EngineConnection,
  path: string,
  signal: AbortSignal,
  body?: Buffer,
): Promise<unknown> {
  return engineRequest(connection, 'POST', path, signal, body);
}

function engineRequest(
  connection: EngineConnection,
  method: 'GET' | 'POST',
  path: string,
  signal: AbortSignal,
  body?: Buffer,
): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string | number> = { Accept: 'application/json' };
    if (body) Object.assign(headers, { 'Content-Type': 'application/x-tar', 'Content-Length': body.length });
    const options: https.RequestOptions = { method, path, signal, headers };
    let request: http.ClientRequest;
    if (connection.kind === 'unix') {
      request = (load('node:http') as typeof http).request({ ...options, socketPath: connection.socketPath });
    } else if (connection.tls) {
      const { ca, cert, key } = connection.tls;
      request = (load('node:https') as typeof https).request({
        ...options,
        host: connection.host,
        port: connection.port,
        ca,
        ...(cert ? { cert } : {}),
        ...(key ? { key } : {}),
      });
    } else {
      request = (load('node:http') as typeof http).request({
        ...options,
        host: connection.host,
        port: connection.port,
      });
    }
    request.on('error', reject);
    request.on('response', (response) => {
      const chunks: Buffer[] = [];
      response.on('data', (chunk: Buffer) => chunks.push(chunk));
      response.on('error', reject);
      response.on('end', () => {
        const body = Buffer.concat(chunks);
        let json: unknown = body;
        try {
          json = JSON.parse(body.toString('utf8'));
        } catch {
          // Not JSON: the caller says so, with the bytes.
        }
        const status = response.statusCode ?? 0;
        if (status >= 200 && status < 300) return resolve(json);
        const error = new Error(`(HTTP code ${status})`) as EngineHttpError;
        error.statusCode = status;
        error.json = Buffer.isBuffer(json) ? json.toString('utf8') : json;
        reject(error);
      });
    });
    request.end(body);
  });
}
