import { expect } from 'chai';
import { parseRequirements } from '../config/requirements.js';
import { mergeRequirements } from './requirements-merge.js';

function source(model: string, text: string) {
  const r = parseRequirements(text, `${model}/requirements_predict.txt`);
  if (!r.ok) throw new Error('bad fixture');
  return { model, file: r.value };
}

describe('mergeRequirements', () => {
  it('lists a shared requirement once, combining compatible ranges, sorted by name', () => {
    const { value, errors } = mergeRequirements([
      source('lr', 'scikit-learn>=1.0,<2\nnumpy\n--extra-index-url https://mirror/simple\n'),
      source('rf', 'Scikit_Learn>=1.1\nnumpy\n'),
      source('xgb', 'xgboost==1.7.4\nnumpy\n--extra-index-url https://mirror/simple\n'),
    ]);
    expect(errors).to.deep.equal([]);
    expect(value.requirements).to.deep.equal([
      { text: 'numpy', models: ['lr', 'rf', 'xgb'] },
      { text: 'scikit-learn>=1.0,<2,>=1.1', models: ['lr', 'rf'] },
      { text: 'xgboost==1.7.4', models: ['xgb'] },
    ]);
    expect(value.options).to.deep.equal(['--extra-index-url https://mirror/simple']);
  });

  it('refuses conflicting pins, naming both models and both lines', () => {
    const { errors } = mergeRequirements([
      source('lr', 'numpy\nscikit-learn==1.2\n'),
      source('rf', 'scikit-learn==1.3\n'),
    ]);
    expect(errors).to.have.length(1);
    expect(errors[0]!.message)
      .to.contain('lr and rf need scikit-learn')
      .and.contain('"scikit-learn==1.2" (lr/requirements_predict.txt:2)')
      .and.contain('"scikit-learn==1.3" (rf/requirements_predict.txt:1)');
    expect(errors[0]).to.include({ file: 'rf/requirements_predict.txt', line: 1 });
  });

  it('refuses different markers or direct references for one package', () => {
    expect(
      mergeRequirements([source('a', 'pkg; python_version<"3.12"\n'), source('b', 'pkg\n')]).errors,
    ).to.have.length(1);
    expect(
      mergeRequirements([source('a', 'pkg @ https://x/a.whl\n'), source('b', 'pkg @ https://x/b.whl\n')]).errors,
    ).to.have.length(1);
    expect(
      mergeRequirements([source('a', 'pkg @ https://x/a.whl\n'), source('b', 'pkg @ https://x/a.whl\n')]).errors,
    ).to.have.length(0);
  });
});
