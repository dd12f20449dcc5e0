import { expect } from 'chai';
import { parseSubmission } from './submission.js';

function problems(text: string): string[] {
  const r = parseSubmission(text, 'job.json');
  if (r.ok) throw new Error('expected problems');
  return r.errors.map((e) => e.message);
}

describe('parseSubmission', () => {
  it("reads Cortex's shape with defaults: one worker, one try, no timeout", () => {
    const r = parseSubmission('{"item_list": {"items": [1, 2, 3], "batch_size": 2}}', 'job.json');
    expect(r).to.deep.equal({
      ok: true,
      value: {
        workers: 1,
        config: {},
        timeoutSeconds: undefined,
        maxReceiveCount: 1,
        input: { kind: 'item_list', items: [1, 2, 3], batchSize: 2 },
      },
    });
  });

  it("reads delimited_files with local paths (or Cortex's s3_paths name) and the dead-letter queue's max_receive_count", () => {
    const r = parseSubmission(
      JSON.stringify({
        workers: 3,
        timeout: 60,
        config: { a: 1 },
        sqs_dead_letter_queue: { max_receive_count: 2 },
        delimited_files: { s3_paths: ['data/*.ndjson'], excludes: ['**/skip*'], batch_size: 10 },
      }),
      'job.json',
    );
    expect(r.ok && r.value).to.deep.equal({
      workers: 3,
      config: { a: 1 },
      timeoutSeconds: 60,
      maxReceiveCount: 2,
      input: { kind: 'delimited_files', paths: ['data/*.ndjson'], includes: [], excludes: ['**/skip*'], batchSize: 10 },
    });
  });

  it('reports every problem at once', () => {
    const got = problems(
      JSON.stringify({
        workers: 0,
        timeout: 'soon',
        max_receive_count: 0,
        colour: 'red',
        item_list: { items: [], batch_size: 0 },
      }),
    );
    expect(got).to.have.length(6);
    expect(got.join('\n'))
      .to.contain('unknown field "colour"')
      .and.contain('workers')
      .and.contain('timeout')
      .and.contain('max_receive_count')
      .and.contain('batch_size')
      .and.contain('items');
  });

  it('needs exactly one input, and local paths', () => {
    expect(problems('{"workers": 1}')).to.deep.equal(['needs one of item_list, delimited_files, file_path_lister']);
    expect(
      problems(
        '{"item_list": {"items": [1], "batch_size": 1}, "file_path_lister": {"paths": ["x"], "batch_size": 1}}',
      )[0],
    ).to.contain('give exactly one');
    expect(problems('{"delimited_files": {"paths": ["s3://bucket/a.json"], "batch_size": 1}}')[0]).to.contain(
      'is not a local path',
    );
    expect(problems('not json')[0]).to.contain('is not JSON');
  });
});
