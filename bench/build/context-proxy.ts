// A Unix-socket proxy in front of the engine that counts what clients send in each HTTP request:
// the bytes a build really sends to the engine, measured outside the client that sends them.

import net from 'node:net';
import { rmSync } from 'node:fs';

export interface CountedRequest {
  method: string;
  /** Request target, e.g. /v1.41/build?t=... */
  path: string;
  /** Body bytes as the server receives them once the chunked framing is removed: the build context. */
  bodyBytes: number;
  /** Every byte of the request on the wire: request line, headers, chunk framing and body. */
  wireBytes: number;
  /** When its headers had arrived, in milliseconds of process.hrtime (the clock run() uses). */
  at: number;
  /** The body itself, kept for build requests (a context) only when the proxy is asked to. */
  body?: Buffer;
}

export interface CountingProxy {
  /** DOCKER_HOST value that reaches the engine through the proxy. */
  readonly dockerHost: string;
  /** Requests completed so far, oldest first; clear it between measurements. */
  readonly requests: CountedRequest[];
  /** Why a connection's requests could not be counted, if any could not. */
  readonly unparsed: string[];
  close(): Promise<void>;
}

/** Where the engine is, as DOCKER_HOST says (unix:// or tcp://), or the local socket. */
export type EngineAddress = { path: string } | { host: string; port: number };

export function engineAddress(dockerHost: string | undefined): EngineAddress {
  if (!dockerHost) return { path: '/var/run/docker.sock' };
  if (dockerHost.startsWith('unix://')) return { path: dockerHost.slice('unix://'.length) };
  const url = new URL(dockerHost.replace(/^tcp:/, 'http:'));
  return { host: url.hostname, port: Number(url.port || 2375) };
}

/** `keepBodies`: keep each build request's body (the context), for a look inside it. */
export async function startCountingProxy(
  listenPath: string,
  engine: EngineAddress,
  keepBodies = false,
): Promise<CountingProxy> {
  const requests: CountedRequest[] = [];
  const unparsed: string[] = [];
  const sockets = new Set<net.Socket>();
  const server = net.createServer((client) => {
    const upstream = net.connect(engine);
    sockets.add(client).add(upstream);
    const parser = new RequestParser(
      (r) => requests.push(r),
      keepBodies ? (r) => /\/build(\?|$)/.test(r.path) : () => false,
    );
    // A stream the parser cannot follow is still passed on untouched; it is only not counted.
    let following = true;
    client.on('data', (chunk: Buffer) => {
      if (!following) return;
      try {
        parser.feed(chunk);
      } catch (err) {
        following = false;
        unparsed.push(err instanceof Error ? err.message : String(err));
      }
    });
    client.pipe(upstream);
    upstream.pipe(client);
    const close = () => {
      client.destroy();
      upstream.destroy();
      sockets.delete(client);
      sockets.delete(upstream);
    };
    client.on('error', close).on('close', close);
    upstream.on('error', close).on('close', close);
  });
  rmSync(listenPath, { force: true });
  await new Promise<void>((resolve, reject) => server.once('error', reject).listen(listenPath, resolve));
  return {
    dockerHost: `unix://${listenPath}`,
    requests,
    unparsed,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

/**
 * Splits a client's byte stream into HTTP/1.1 requests and counts each one's body, undoing
 * chunked transfer coding (which a streamed build context uses) so that the count is the context's.
 */
export class RequestParser {
  private state: 'head' | 'body' | 'chunk-size' | 'chunk-data' | 'chunk-end' | 'trailer' = 'head';
  private pending = Buffer.alloc(0);
  private remaining = 0;
  private current: CountedRequest | undefined;
  private kept: Buffer[] | undefined;

  constructor(
    private readonly onRequest: (r: CountedRequest) => void,
    private readonly keep: (r: CountedRequest) => boolean = () => false,
  ) {}

  feed(data: Buffer): void {
    let i = 0;
    while (i < data.length) {
      switch (this.state) {
        case 'head': {
          const combined = Buffer.concat([this.pending, data.subarray(i)]);
          const end = combined.indexOf('\r\n\r\n');
          if (end < 0) {
            this.pending = combined;
            return;
          }
          const used = end + 4 - this.pending.length;
          i += used;
          this.pending = Buffer.alloc(0);
          this.startRequest(combined.subarray(0, end).toString('latin1'), end + 4);
          break;
        }
        case 'body':
        case 'chunk-data': {
          const take = Math.min(this.remaining, data.length - i);
          this.kept?.push(data.subarray(i, i + take));
          this.current!.bodyBytes += take;
          this.current!.wireBytes += take;
          this.remaining -= take;
          i += take;
          if (this.remaining === 0) {
            if (this.state === 'body') this.finish();
            else {
              this.state = 'chunk-end';
              this.remaining = 2;
            }
          }
          break;
        }
        case 'chunk-end': {
          const take = Math.min(this.remaining, data.length - i);
          this.current!.wireBytes += take;
          this.remaining -= take;
          i += take;
          if (this.remaining === 0) this.state = 'chunk-size';
          break;
        }
        case 'chunk-size':
        case 'trailer': {
          const newline = data.indexOf(0x0a, i);
          const stop = newline < 0 ? data.length : newline + 1;
          this.pending = Buffer.concat([this.pending, data.subarray(i, stop)]);
          this.current!.wireBytes += stop - i;
          i = stop;
          if (newline < 0) break;
          const line = this.pending.toString('latin1').trim();
          this.pending = Buffer.alloc(0);
          if (this.state === 'trailer') {
            if (line === '') this.finish();
          } else {
            const size = parseInt(line.split(';')[0]!, 16);
            if (!Number.isFinite(size)) throw new Error(`malformed chunk size ${JSON.stringify(line)}`);
            if (size === 0) this.state = 'trailer';
            else {
              this.state = 'chunk-data';
              this.remaining = size;
            }
          }
          break;
        }
      }
    }
  }

  private startRequest(head: string, headBytes: number): void {
    const [requestLine = '', ...headerLines] = head.split('\r\n');
    const [method = '', path = ''] = requestLine.split(' ');
    const headers = new Map(
      headerLines.map((l) => {
        const colon = l.indexOf(':');
        return [
          l.slice(0, colon).trim().toLowerCase(),
          l
            .slice(colon + 1)
            .trim()
            .toLowerCase(),
        ] as const;
      }),
    );
    this.current = { method, path, bodyBytes: 0, wireBytes: headBytes, at: Number(process.hrtime.bigint()) / 1e6 };
    this.kept = this.keep(this.current) ? [] : undefined;
    const length = Number(headers.get('content-length') ?? '0');
    if (headers.get('transfer-encoding')?.includes('chunked')) this.state = 'chunk-size';
    else if (length > 0) {
      this.state = 'body';
      this.remaining = length;
    } else this.finish();
  }

  private finish(): void {
    if (this.kept) this.current!.body = Buffer.concat(this.kept);
    this.kept = undefined;
    this.onRequest(this.current!);
    this.current = undefined;
    this.state = 'head';
  }
}

/** Where the bytes of an uncompressed tar go: headers, file data by top-level folder, padding, end. */
export interface TarComposition {
  entries: number;
  headerBytes: number;
  /** File data by the first component of the entry's name (`Dockerfile`, `deps`, `src`). */
  dataBytes: Record<string, number>;
  paddingBytes: number;
  /** The end-of-archive blocks and anything after them. */
  endBytes: number;
}

export function tarComposition(tar: Buffer): TarComposition {
  const out: TarComposition = { entries: 0, headerBytes: 0, dataBytes: {}, paddingBytes: 0, endBytes: 0 };
  let at = 0;
  let longName: string | undefined;
  while (at + 512 <= tar.length) {
    const header = tar.subarray(at, at + 512);
    if (header.every((b) => b === 0)) break;
    const field = (from: number, to: number) => header.subarray(from, to).toString('latin1').replace(/\0.*$/s, '');
    const size = parseInt(field(124, 136).trim() || '0', 8);
    const type = field(156, 157);
    const prefix = field(345, 500);
    const name = longName ?? (prefix ? `${prefix}/${field(0, 100)}` : field(0, 100));
    const padded = Math.ceil(size / 512) * 512;
    out.entries++;
    out.headerBytes += 512;
    if (type === 'x' || type === 'L') {
      // A pax or GNU long-name record: metadata of the next entry, so all of it is overhead.
      const body = tar.subarray(at + 512, at + 512 + size).toString('utf8');
      longName = type === 'L' ? body.replace(/\0.*$/s, '') : /\d+ path=([^\n]*)\n/.exec(body)?.[1];
      out.headerBytes += padded;
    } else {
      longName = undefined;
      const top = name.split('/')[0]!;
      out.dataBytes[top] = (out.dataBytes[top] ?? 0) + size;
      out.paddingBytes += padded - size;
    }
    at += 512 + padded;
  }
  out.endBytes = tar.length - at;
  return out;
}
