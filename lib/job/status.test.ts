import { expect } from 'chai';
import { describeStatus, progressLine, type JobStatus } from './status.js';

const status: JobStatus = {
  job_id: 'j1',
  image: 'scorer',
  status: 'running',
  total: 10,
  succeeded: 4,
  failed: 1,
  batches_in_queue: 5,
  retries: 2,
  workers: [{ index: 0, container: 'c0', state: 'running', exit_code: null, succeeded: 4, failed: 1 }],
  on_job_complete: 'pending',
  start_time: '2026-01-01T00:00:00.000Z',
  end_time: null,
  dead_letter_file: 'jobs/j1.dead-letter.ndjson',
};

describe('job status', () => {
  it('draws a bar in proportion to the batches done', () => {
    expect(progressLine(status, 10)).to.equal('[#####.....] 5/10 batches, 4 ok, 1 failed  running');
    expect(progressLine({ ...status, total: 0, succeeded: 0, failed: 0 }, 4)).to.equal(
      '[####] 0/0 batches, 0 ok, 0 failed  running',
    );
  });

  it('describes the counts, the workers and where the dead letters are', () => {
    const text = describeStatus(status).join('\n');
    expect(text)
      .to.contain('job j1: running')
      .and.contain('10 total, 4 succeeded, 1 failed, 5 in queue (2 retried)')
      .and.contain('0 running')
      .and.contain('dead letters: jobs/j1.dead-letter.ndjson');
    expect(describeStatus({ ...status, failed: 0 }).join('\n')).not.to.contain('dead letters');
  });
});
