// Follows the engine's build output: newline-delimited JSON objects inside an HTTP 200 response.
// A failed build is reported *inside* that stream as an {"error", "errorDetail"} line, so success
// is an image id reported by the engine, never merely the end of the stream.

import type { Readable } from 'node:stream';
import { BuildError, type BuildEvent } from './engine.js';

const KEEP_LINES = 30;
/** Longest log line kept or passed on: a 50 MiB line without a newline is noise, not evidence. */
export const LINE_CAP = 4096;
/** Longest single message taken from the engine; one longer is not an answer the API gives. */
const MESSAGE_CAP = 128 * 1024 * 1024;
const STEP = /^Step (\d+)\/(\d+) : (.*)$/;
const STEP_IMAGE = /^---> ([0-9a-f]{12,64})$/;
const BUILT = /^Successfully built ([0-9a-f]{12,64})\s*$/;

interface EngineMessage {
  stream?: string;
  status?: string;
  error?: string;
  errorDetail?: { message?: string; code?: number };
  aux?: { ID?: string };
}

export function followBuild(
  stream: Readable,
  onEvent: (e: BuildEvent) => void = () => {},
): Promise<{ imageId: string }> {
  return new Promise((resolve, reject) => {
    const lastLines: string[] = [];
    // The unfinished message, as received: joined once its newline comes, so that a long message
    // costs its length, not its length times the number of chunks it came in.
    const pending: string[] = [];
    let pendingLength = 0;
    let imageId: string | undefined;
    let currentStep = 0;
    let settled = false;
    // Images the engine committed for steps it ran (not took from its cache): a failed build's
    // caller removes them, so that nothing half-built stays behind.
    const created: string[] = [];
    let stepKeepsImage = false;

    const keep = (text: string) => {
      lastLines.push(text);
      if (lastLines.length > KEEP_LINES) lastLines.shift();
    };
    const fail = (err: Error) => {
      if (settled) return;
      settled = true;
      stream.destroy();
      if (err instanceof BuildError) err.createdImages.push(...created);
      reject(err);
    };
    const handle = (raw: string) => {
      if (raw.trim() === '') return;
      let msg: EngineMessage;
      try {
        msg = JSON.parse(raw) as EngineMessage;
      } catch {
        fail(new BuildError(`the engine sent a line that is not JSON: ${raw.slice(0, 200)}`, [...lastLines], true));
        return;
      }
      if (msg.error || msg.errorDetail) {
        fail(new BuildError((msg.errorDetail?.message ?? msg.error ?? 'unknown error').trim(), [...lastLines]));
        return;
      }
      if (msg.aux?.ID) imageId = msg.aux.ID;
      const text = msg.stream ?? msg.status;
      if (text === undefined) return;
      for (const line of text.split('\n')) {
        const trimmed = capped(line.trimEnd());
        if (trimmed === '') continue;
        const step = STEP.exec(trimmed);
        const stepImage = STEP_IMAGE.exec(trimmed.trim());
        if (step) {
          currentStep = Number(step[1]);
          // A FROM step names an image that exists already; a cached step reuses one.
          stepKeepsImage = /^FROM\s/i.test(step[3]!);
          onEvent({ type: 'step', step: currentStep, total: Number(step[2]), instruction: step[3]! });
        } else if (trimmed.trim() === '---> Using cache') {
          stepKeepsImage = true;
          onEvent({ type: 'cached', step: currentStep });
        } else if (stepImage && !stepKeepsImage) {
          created.push(stepImage[1]!);
        }
        const built = BUILT.exec(trimmed);
        if (built && !imageId) imageId = built[1];
        keep(trimmed);
        onEvent({ type: 'log', text: trimmed });
      }
    };

    stream.setEncoding('utf8');
    stream.on('data', (chunk: string) => {
      let start = 0;
      let nl: number;
      while (!settled && (nl = chunk.indexOf('\n', start)) >= 0) {
        pending.push(chunk.slice(start, nl));
        const message = pending.join('');
        pending.length = 0;
        pendingLength = 0;
        handle(message);
        start = nl + 1;
      }
      if (settled || start >= chunk.length) return;
      pending.push(start === 0 ? chunk : chunk.slice(start));
      pendingLength += chunk.length - start;
      if (pendingLength > MESSAGE_CAP)
        fail(
          new BuildError(
            `the engine sent a message longer than ${MESSAGE_CAP / 1024 / 1024} MiB without a line end`,
            [...lastLines],
            true,
          ),
        );
    });
    stream.on('end', () => {
      if (settled) return;
      handle(pending.join(''));
      if (settled) return;
      settled = true;
      if (imageId) resolve({ imageId });
      else reject(new BuildError('the engine ended the build without reporting an image', [...lastLines]));
    });
    // A stream destroyed from outside (an aborted request) closes without 'end' or 'error'.
    stream.on('close', () =>
      fail(new BuildError('the build stream closed before the engine finished the build', [...lastLines])),
    );
    stream.on('error', (err) => fail(err instanceof BuildError ? err : new BuildError(err.message, [...lastLines])));
  });
}

function capped(line: string): string {
  return line.length > LINE_CAP ? `${line.slice(0, LINE_CAP)}… (${line.length - LINE_CAP} more characters)` : line;
}
