import { expect } from 'chai';
import { parseRequirements } from './requirements.js';

describe('parseRequirements', () => {
  it('reads names (normalised), specifiers, extras, markers, URLs and options', () => {
    const r = parseRequirements(
      '# deps\nscikit-learn>=1.0,<2  # ml\nPandas\nuvicorn[standard]==0.30\nfoo; python_version<"3.12"\npkg @ https://x/pkg.whl\n--index-url https://mirror/simple\n',
      'req.txt',
    );
    expect(r.ok).to.equal(true);
    if (!r.ok) return;
    expect(r.value.requirements.map((x) => [x.name, x.line])).to.deep.equal([
      ['scikit-learn', 2], ['pandas', 3], ['uvicorn', 4], ['foo', 5], ['pkg', 6],
    ]);
    expect(r.value.options).to.deep.equal(['--index-url https://mirror/simple']);
  });

  it('refuses what cannot work in a one-file dependency layer, naming each line', () => {
    const r = parseRequirements('-r other.txt\n-e .\n./local-pkg\nnumpy=1.2\n!bad\n', 'm/requirements.txt');
    expect(r.ok).to.equal(false);
    if (r.ok) return;
    expect(r.errors.map((e) => e.line)).to.deep.equal([1, 2, 3, 4, 5]);
    expect(r.errors[3]!.message).to.contain('is not a version specifier');
  });
});
