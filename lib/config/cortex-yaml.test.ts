import { expect } from 'chai';
import { parseCortexYaml, type CortexApi } from './cortex-yaml.js';
import type { Problem } from './result.js';

const FILES = ['iris/predictor.py', 'iris/lib/util.py', 'regress.py'];

function parse(text: string): CortexApi[] {
  const r = parseCortexYaml(text, 'cortex.yaml', FILES);
  if (!r.ok) throw new Error(`unexpected problems: ${JSON.stringify(r.errors)}`);
  return r.value;
}

function problems(text: string): Problem[] {
  const r = parseCortexYaml(text, 'cortex.yaml', FILES);
  if (r.ok) throw new Error('expected problems, got none');
  return r.errors;
}

describe('parseCortexYaml', () => {
  it('reads the kind: api form with Cortex defaults', () => {
    const [api] = parse(
      [
        '- kind: api',
        '  name: iris',
        '  predictor:',
        '    path: iris/predictor.py',
        '    metadata: {k: 3}',
        '  tracker:',
        '    key: label',
        '    model_type: classification',
      ].join('\n'),
    );
    expect(api).to.deep.include({ name: 'iris', endpoint: '/iris', line: 1 });
    expect(api!.predictor).to.deep.include({
      type: 'python',
      path: 'iris/predictor.py',
      config: { k: 3 },
      configKey: 'metadata',
      processesPerReplica: 1,
      threadsPerProcess: 1,
    });
    expect(api!.monitoring).to.deep.equal({ key: 'label', modelType: 'classification' });
    expect(api!.compute).to.deep.equal({ cpu: '200m', mem: undefined, gpu: 0 });
    expect(api!.autoscaling).to.deep.equal({
      minReplicas: 1,
      maxReplicas: 100,
      initReplicas: 1,
      targetCpuUtilization: 80,
    });
    expect(api!.updateStrategy).to.deep.equal({ maxSurge: '25%', maxUnavailable: '25%' });
  });

  it('reads the no-kind form with compute scaling, and init defaulting to min', () => {
    const [api] = parse(
      [
        '- name: regress',
        '  endpoint: /v1/regress',
        '  predictor: {type: python, path: ./regress.py, model: regress/1, python_path: iris}',
        '  compute: {cpu: 1, mem: 1Gi, gpu: 1, min_replicas: 2, max_replicas: 4, max_surge: 1, max_unavailable: 0}',
      ].join('\n'),
    );
    expect(api).to.deep.include({ endpoint: '/v1/regress' });
    expect(api!.predictor).to.deep.include({
      path: 'regress.py',
      model: 'regress/1',
      pythonPath: 'iris',
      configKey: 'config',
    });
    expect(api!.compute).to.deep.equal({ cpu: '1', mem: '1Gi', gpu: 1 });
    expect(api!.autoscaling).to.deep.include({ minReplicas: 2, maxReplicas: 4, initReplicas: 2 });
    expect(api!.updateStrategy).to.deep.equal({ maxSurge: 1, maxUnavailable: 0 });
  });

  it('reads the kind: RealtimeAPI form into the same model', () => {
    const [api] = parse(
      [
        '- name: iris',
        '  kind: RealtimeAPI',
        '  predictor:',
        '    type: python',
        '    path: iris/predictor.py',
        '    config: {threshold: 0.5}',
        '    env: {LOG_LEVEL: debug, RETRIES: 3}',
        '    processes_per_replica: 2',
        '    threads_per_process: 8',
        '  networking: {endpoint: /classify}',
        '  compute: {cpu: 500m, mem: 2G}',
        '  autoscaling: {min_replicas: 1, max_replicas: 3, init_replicas: 2, target_replica_concurrency: 4}',
        '  update_strategy: {max_surge: 50%, max_unavailable: 0%}',
        '  monitoring: {model_type: regression}',
      ].join('\n'),
    );
    expect(api).to.deep.include({ name: 'iris', endpoint: '/classify' });
    expect(api!.predictor).to.deep.include({
      config: { threshold: 0.5 },
      env: { LOG_LEVEL: 'debug', RETRIES: '3' },
      processesPerReplica: 2,
      threadsPerProcess: 8,
    });
    expect(api!.autoscaling).to.deep.equal({
      minReplicas: 1,
      maxReplicas: 3,
      initReplicas: 2,
      targetCpuUtilization: 80,
    });
    expect(api!.updateStrategy).to.deep.equal({ maxSurge: '50%', maxUnavailable: '0%' });
    expect(api!.monitoring).to.deep.equal({ key: undefined, modelType: 'regression' });
  });

  const bad: Array<[string, string[], number, RegExp]> = [
    [
      'an unknown key',
      ['- name: iris', '  predictor: {path: regress.py}', '  replicas: 3'],
      3,
      /unknown key "replicas" in the API/,
    ],
    [
      'an unknown key of the other shape',
      ['- name: iris', '  kind: RealtimeAPI', '  predictor: {path: regress.py}', '  endpoint: /x'],
      4,
      /unknown key "endpoint"/,
    ],
    [
      'an unknown predictor key',
      ['- name: iris', '  predictor:', '    path: regress.py', '    modle: x'],
      4,
      /unknown key "modle" in predictor/,
    ],
    [
      'a wrong type',
      ['- name: iris', '  predictor: {path: regress.py}', '  compute:', '    min_replicas: two'],
      4,
      /min_replicas must be a whole number/,
    ],
    [
      'a number where a string belongs',
      ['- name: 12', '  predictor: {path: regress.py}'],
      1,
      /name must be a non-empty string/,
    ],
    [
      'a bad cpu quantity',
      ['- name: iris', '  predictor: {path: regress.py}', '  compute: {cpu: lots}'],
      3,
      /compute.cpu must be a quantity/,
    ],
    [
      'min above max',
      ['- name: iris', '  predictor: {path: regress.py}', '  compute:', '    min_replicas: 5', '    max_replicas: 2'],
      4,
      /min_replicas \(5\) is greater than max_replicas \(2\)/,
    ],
    [
      'init above max',
      ['- name: iris', '  predictor: {path: regress.py}', '  compute: {max_replicas: 2, init_replicas: 3}'],
      3,
      /init_replicas \(3\) must be between/,
    ],
    [
      'init below min',
      [
        '- name: iris',
        '  kind: RealtimeAPI',
        '  predictor: {path: regress.py}',
        '  autoscaling:',
        '    min_replicas: 2',
        '    init_replicas: 1',
      ],
      6,
      /autoscaling.init_replicas \(1\) must be between min_replicas \(2\)/,
    ],
    [
      'a name that is not DNS-1035',
      ['- name: Iris_Classifier', '  predictor: {path: regress.py}'],
      1,
      /not a DNS-1035 label/,
    ],
    ['a name starting with a digit', ['- name: 1iris', '  predictor: {path: regress.py}'], 1, /not a DNS-1035 label/],
    [
      'a name over 42 characters',
      [`- name: ${'a'.repeat(43)}`, '  predictor: {path: regress.py}'],
      1,
      /43 characters long; at most 42/,
    ],
    [
      'a model_type that is neither value',
      ['- name: iris', '  predictor: {path: regress.py}', '  monitoring:', '    model_type: clustering'],
      4,
      /model_type must be classification or regression, got "clustering"/,
    ],
    [
      'a tracker without model_type',
      ['- name: iris', '  predictor: {path: regress.py}', '  tracker: {key: label}'],
      3,
      /tracker needs model_type/,
    ],
    [
      'a predictor path that does not exist',
      ['- name: iris', '  predictor:', '    path: iris/missing.py'],
      3,
      /predictor.path iris\/missing.py does not exist/,
    ],
    [
      'a predictor path leaving the project',
      ['- name: iris', '  predictor:', '    path: ../other/predictor.py'],
      3,
      /must stay inside the project/,
    ],
    [
      'a python_path that is not a folder',
      ['- name: iris', '  predictor: {path: regress.py, python_path: nowhere}'],
      2,
      /python_path nowhere is not a folder/,
    ],
    ['a missing predictor', ['- name: iris', '  endpoint: /iris'], 1, /has no predictor/],
    ['a missing name', ['- predictor: {path: regress.py}'], 1, /has no name/],
    [
      'a predictor type that is unknown',
      ['- name: iris', '  predictor: {type: pytorch, path: regress.py}'],
      2,
      /predictor.type must be python, tensorflow or onnx/,
    ],
    [
      'a signature_key on a python predictor',
      ['- name: iris', '  predictor:', '    path: regress.py', '    signature_key: serving'],
      4,
      /signature_key is for tensorflow/,
    ],
    [
      'an unsupported kind',
      ['- name: iris', '  kind: BatchAPI', '  predictor: {path: regress.py}'],
      2,
      /kind BatchAPI is not supported/,
    ],
    [
      'a target outside 1..100',
      ['- name: iris', '  predictor: {path: regress.py}', '  compute: {target_cpu_utilization: 120}'],
      3,
      /from 1 to 100/,
    ],
    [
      'a bad max_surge',
      ['- name: iris', '  predictor: {path: regress.py}', '  compute: {max_surge: lots}'],
      3,
      /max_surge must be a whole number of replicas or a percentage/,
    ],
    [
      'a relative endpoint',
      ['- name: iris', '  endpoint: iris', '  predictor: {path: regress.py}'],
      2,
      /must be a path starting with \//,
    ],
    [
      'a duplicate name',
      [
        '- name: iris',
        '  predictor: {path: regress.py}',
        '- name: iris',
        '  endpoint: /other',
        '  predictor: {path: regress.py}',
      ],
      3,
      /already used on line 1/,
    ],
    [
      'a duplicate endpoint',
      [
        '- name: a',
        '  endpoint: /x',
        '  predictor: {path: regress.py}',
        '- name: b',
        '  endpoint: /x',
        '  predictor: {path: regress.py}',
      ],
      4,
      /endpoint \/x is already served/,
    ],
    ['a document that is not a list', ['name: iris'], 1, /must be a list of APIs/],
    ['YAML that does not parse', ['- name: iris', '  predictor: {path: regress.py', ''], 3, /./],
    [
      'a non-string env value',
      ['- name: iris', '  predictor:', '    path: regress.py', '    env: {A: [1, 2]}'],
      4,
      /predictor.env.A must be a string/,
    ],
  ];
  for (const [what, lines, line, message] of bad) {
    it(`reports ${what} with file and line`, () => {
      const found = problems(lines.join('\n'));
      const match = found.find((p) => message.test(p.message));
      expect(match, JSON.stringify(found)).to.not.equal(undefined);
      expect(match).to.include({ file: 'cortex.yaml', line });
    });
  }

  it('reports every problem at once, across APIs', () => {
    const found = problems(
      [
        '- name: Bad_Name',
        '  predictor: {path: nope.py}',
        '  compute: {min_replicas: 3, max_replicas: 1}',
        '- name: ok',
        '  predictor: {path: regress.py}',
        '  monitoring: {model_type: other}',
        '  extra: 1',
      ].join('\n'),
    );
    expect(found.map((p) => p.line)).to.have.members([1, 2, 3, 6, 7]);
  });
});
