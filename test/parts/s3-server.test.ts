// The local S3 server the object-storage tests use (make s3: radosgw on 127.0.0.1:5303) does what
// the runtime's boto3 needs, signatures checked: seen by boto3 itself in a container of the offline
// base on the host's network, as the runtime will reach it.

import { expect } from 'chai';
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { packageFile } from '../../lib/package-root.js';
// As the integration suite names what it makes (test/integration/support.ts).
const PREFIX = process.env.CORTEX_S2I_TEST_PREFIX || 'cortex-s2i-test';

const PORT = process.env.CORTEX_S2I_S3_PORT || '5303';
const ENDPOINT = `http://127.0.0.1:${PORT}`;
const ACCESS_KEY = process.env.CORTEX_S2I_S3_ACCESS_KEY || 'cortex-s2i-test';
const SECRET_KEY = process.env.CORTEX_S2I_S3_SECRET_KEY || 'cortex-s2i-test-secret';
const BASE = process.env.CORTEX_LOCAL_BASE || 'cortex-s2i/python-base:bookworm';

interface Refusal {
  status: number;
  code: string | null;
}

/** What s3_observe.py prints. */
interface Seen {
  small_etag: string;
  small_md5: string;
  big_etag: string;
  big_length: number;
  big_round_trip: boolean;
  range_status: number;
  range_content_range: string;
  range_matches: boolean;
  list_pages: string[][];
  list_prefixes: string[];
  missing_key: Refusal;
  missing_bucket: Refusal;
  wrong_secret_get: Refusal;
  wrong_secret_put: Refusal;
  wrong_secret_list: Refusal;
  unknown_key: Refusal;
  unsigned_get: Refusal;
  after_delete: Refusal;
  bucket_removed: boolean;
}

/** Runs the observer script in the base image on the host's network (its source on stdin). */
function observe(bucket: string): Promise<Seen> {
  const script = readFileSync(packageFile('test', 'parts', 's3_observe.py'));
  const env = { S3_ENDPOINT: ENDPOINT, S3_ACCESS_KEY: ACCESS_KEY, S3_SECRET_KEY: SECRET_KEY, S3_BUCKET: bucket };
  // Values stay out of the argument list (and so out of `ps`): `-e NAME` takes them from here.
  const child = spawn(
    'docker',
    ['run', '--rm', '-i', '--network', 'host', ...Object.keys(env).flatMap((k) => ['-e', k]), BASE, 'python3', '-'],
    { env: { ...process.env, ...env }, stdio: ['pipe', 'pipe', 'pipe'] },
  );
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d));
  child.stderr.on('data', (d: Buffer) => (stderr += d));
  child.stdin.end(script);
  return new Promise((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (status) => {
      if (status !== 0) reject(new Error(`s3_observe.py exited ${status}: ${stderr.slice(-2000)}`));
      else resolve(JSON.parse(stdout) as Seen);
    });
  });
}

async function serverAnswers(): Promise<string | undefined> {
  try {
    await fetch(`${ENDPOINT}/`, { signal: AbortSignal.timeout(3000) });
    return undefined;
  } catch (err) {
    return `no S3 server answers at ${ENDPOINT} (${(err as Error).message})`;
  }
}

describe('the local S3 server (make s3)', function () {
  this.timeout(180_000);
  let seen: Seen;
  const bucket = `${PREFIX}-s3-${process.pid}`.toLowerCase();

  before(async function () {
    const reason = await serverAnswers();
    if (reason) {
      if (process.env.CI === 'true') throw new Error(`S3 tests cannot run under CI: ${reason}; 'make s3' starts it`);
      console.warn(`\n*** S3 SERVER TESTS SKIPPED: ${reason}.\n*** Run 'make s3' to start it.\n`);
      this.skip();
    }
    seen = await observe(bucket);
  });

  it('refuses a request signed with a wrong secret, for reads, writes and listings', () => {
    for (const refused of [seen.wrong_secret_get, seen.wrong_secret_put, seen.wrong_secret_list])
      expect(refused).to.deep.equal({ status: 403, code: 'SignatureDoesNotMatch' });
  });

  it('refuses an access key it does not know', () => {
    expect(seen.unknown_key).to.deep.equal({ status: 403, code: 'InvalidAccessKeyId' });
  });

  it('refuses an unsigned request for a private object', () => {
    expect(seen.unsigned_get).to.deep.equal({ status: 403, code: 'AccessDenied' });
  });

  it('gives a single-part upload the MD5 of its bytes as its ETag', () => {
    expect(seen.small_etag).to.equal(`"${seen.small_md5}"`);
  });

  it('takes a 20 MB upload_file in parts and gives the same bytes back', () => {
    expect(seen.big_etag).to.match(/^"[0-9a-f]{32}-[2-9]"$/);
    expect(seen.big_length).to.equal(20 * 1024 * 1024);
    expect(seen.big_round_trip).to.equal(true);
  });

  it('answers a ranged GET with 206 and just those bytes', () => {
    expect(seen.range_status).to.equal(206);
    expect(seen.range_content_range).to.equal(`bytes 1000-1999/${20 * 1024 * 1024}`);
    expect(seen.range_matches).to.equal(true);
  });

  it('lists a prefix in pages with continuation tokens, and folders with a delimiter', () => {
    expect(seen.list_pages).to.deep.equal([
      ['items/0.json', 'items/1.json'],
      ['items/2.json', 'items/3.json'],
      ['items/4.json'],
    ]);
    expect(seen.list_prefixes).to.deep.equal(['items/', 'models/']);
  });

  it('says 404 NoSuchKey and NoSuchBucket for what is not there, and after a delete', () => {
    expect(seen.missing_key).to.deep.equal({ status: 404, code: 'NoSuchKey' });
    expect(seen.missing_bucket).to.deep.equal({ status: 404, code: 'NoSuchBucket' });
    expect(seen.after_delete.status).to.equal(404);
  });

  it('leaves no bucket behind', () => {
    expect(seen.bucket_removed).to.equal(true);
  });
});
