import { expect } from 'chai';
import { ignoreRules } from './ignore-rules.js';

describe('ignoreRules', () => {
  const rules = ignoreRules([
    { base: '', file: '.cortexignore', text: 'notebooks/\n*.log\n!keep.log\n/scratch\n' },
    { base: 'churn', file: 'churn/.cortexignore', text: 'fixtures/\n' },
  ]);

  it('always leaves out bytecode, dot files and cortex.yaml', () => {
    for (const [p, dir] of [
      ['m/predict.pyc', false],
      ['m/__pycache__', true],
      ['.git', true],
      ['m/.s2i', true],
      ['.env', false],
      ['m/cortex.yaml', false],
      ['m/x.pyo', false],
    ] as const) {
      expect(rules.ignores(p, dir), p).to.equal(true);
    }
    expect(rules.ignores('m/predict.py', false)).to.equal(false);
  });

  it('applies the project .cortexignore with gitignore semantics', () => {
    expect(rules.ignores('churn/notebooks', true)).to.equal(true);
    expect(rules.ignores('churn/notebooks', false)).to.equal(false);
    expect(rules.ignores('churn/run.log', false)).to.equal(true);
    expect(rules.ignores('churn/keep.log', false)).to.equal(false);
    expect(rules.ignores('scratch', true)).to.equal(true);
    expect(rules.ignores('churn/scratch', true)).to.equal(false);
  });

  it('reads ./x as /x and warns about patterns that can match nothing, with file and line', () => {
    const r = ignoreRules([{ base: '', file: '.cortexignore', text: './scratch\n../outside\n[abc\nok/\n' }]);
    expect(r.ignores('scratch', true)).to.equal(true);
    expect(r.ignores('m/scratch', true)).to.equal(false);
    expect(r.warnings.map((w) => `${w.file}:${w.line}`)).to.deep.equal([
      '.cortexignore:1',
      '.cortexignore:2',
      '.cortexignore:3',
    ]);
    expect(r.ignores('ok', true)).to.equal(true);
  });

  it('applies a model .cortexignore relative to the model folder only', () => {
    expect(rules.ignores('churn/fixtures', true)).to.equal(true);
    expect(rules.ignores('upsell/fixtures', true)).to.equal(false);
  });
});
