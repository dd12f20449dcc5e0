import { expect } from 'chai';
import { Job } from 'kubernetes-models/batch/v1/Job';
import { ConfigMap } from 'kubernetes-models/v1/ConfigMap';
import { applyCommands, manifestList, renderJob, type Manifest } from './render.js';

/** Validates a manifest against the Kubernetes schemas that kubernetes-models bundles. */
function validate(m: Manifest): void {
  if (m.kind === 'Job') new Job(m as never).validate();
  else if (m.kind === 'ConfigMap') new ConfigMap(m as never).validate();
  else throw new Error(`no schema for ${m.kind}`);
}

const split = new Map([
  ['job.json', '{}\n'],
  ['batch-000000.ndjson', '1\n'],
  ['batch-000001.ndjson', '2\n'],
]);

describe('renderJob', () => {
  it('renders the split as a ConfigMap, an Indexed Job of the workers, and a suspended on_job_complete Job, all schema-valid', () => {
    const manifests = renderJob({
      jobId: 'scores-1',
      image: 'reg/scorer:1',
      workers: 3,
      timeoutSeconds: 600,
      memoryBytes: 64 * 1024 * 1024,
      splitFiles: split,
    });
    for (const m of manifests) validate(m);
    expect(manifests.map((m) => `${m.kind}/${m.metadata.name}`)).to.deep.equal([
      'ConfigMap/cortex-s2i-scores-1-split',
      'Job/cortex-s2i-scores-1',
      'Job/cortex-s2i-scores-1-complete',
    ]);
    const [configMap, workers, complete] = manifests as Array<Record<string, any>>;
    expect(configMap!.data).to.deep.equal(Object.fromEntries(split));
    expect(workers!.spec).to.include({
      completionMode: 'Indexed',
      completions: 3,
      parallelism: 3,
      activeDeadlineSeconds: 600,
    });
    const pod = workers!.spec.template.spec;
    expect(pod.restartPolicy).to.equal('Never');
    expect(pod.containers[0].env).to.deep.equal([{ name: 'BATCH_SPLIT', value: '/cortex-s2i/split' }]);
    expect(pod.containers[0].resources.limits.memory).to.equal(String(64 * 1024 * 1024));
    expect(pod.volumes).to.deep.equal([{ name: 'split', configMap: { name: 'cortex-s2i-scores-1-split' } }]);
    expect(complete!.spec.suspend).to.equal(true);
    expect(complete!.spec.template.spec.containers[0].env).to.deep.include({
      name: 'BATCH_ON_JOB_COMPLETE',
      value: '1',
    });
  });

  it('mounts a volume claim instead when the split does not fit a ConfigMap', () => {
    const manifests = renderJob({
      jobId: 'big',
      image: 'scorer',
      workers: 2,
      timeoutSeconds: undefined,
      memoryBytes: undefined,
      splitClaim: 'big-split',
    });
    for (const m of manifests) validate(m);
    expect(manifests.map((m) => m.kind)).to.deep.equal(['Job', 'Job']);
    expect((manifests[0] as any).spec.template.spec.volumes).to.deep.equal([
      { name: 'split', persistentVolumeClaim: { claimName: 'big-split', readOnly: true } },
    ]);
    expect((manifests[0] as any).spec).not.to.have.property('activeDeadlineSeconds');
  });

  it('is checked by a validator that rejects a wrong Job', () => {
    const [job] = renderJob({
      jobId: 'x',
      image: 'scorer',
      workers: 1,
      timeoutSeconds: undefined,
      memoryBytes: undefined,
      splitClaim: 'c',
    });
    const broken = { ...job!, spec: { ...(job!.spec as object), completionMode: 42 } } as Manifest;
    expect(() => validate(broken)).to.throw();
  });

  it('writes a kubectl List and the commands that resume on_job_complete after the workers', () => {
    const list = JSON.parse(
      manifestList(
        renderJob({
          jobId: 'x',
          image: 's',
          workers: 1,
          timeoutSeconds: undefined,
          memoryBytes: undefined,
          splitClaim: 'c',
        }),
      ),
    );
    expect(list).to.include({ apiVersion: 'v1', kind: 'List' });
    expect(applyCommands('x', 'k.json')).to.deep.equal([
      'kubectl apply -f k.json',
      'kubectl wait --for=condition=complete --timeout=-1s job/cortex-s2i-x',
      `kubectl patch job cortex-s2i-x-complete --type=merge -p '{"spec":{"suspend":false}}'`,
    ]);
  });
});
