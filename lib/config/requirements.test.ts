import { expect } from 'chai';
import { parseRequirements, redactCredentials } from './requirements.js';

describe('parseRequirements', () => {
  it('reads names (normalised), specifiers, extras, markers, URLs and options', () => {
    const r = parseRequirements(
      '# deps\nscikit-learn>=1.0,<2  # ml\nPandas\nuvicorn[standard]==0.30\nfoo; python_version<"3.12"\npkg @ https://x/pkg.whl\n--index-url https://mirror/simple\n',
      'req.txt',
    );
    expect(r.ok).to.equal(true);
    if (!r.ok) return;
    expect(r.value.requirements.map((x) => [x.name, x.line])).to.deep.equal([
      ['scikit-learn', 2],
      ['pandas', 3],
      ['uvicorn', 4],
      ['foo', 5],
      ['pkg', 6],
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

describe('requirements options', () => {
  for (const line of [
    '-rother.txt',
    '-r other.txt',
    '--requirement=other.txt',
    '-cconstraints.txt',
    '-egit+https://example.com/x.git#egg=x',
    '-e ./local',
    '--editable=./x',
  ]) {
    it(`refuses ${line}, which reads another file or a path`, () => {
      const r = parseRequirements(`numpy\n${line}\n`, 'requirements.txt');
      expect(r.ok).to.equal(false);
      if (!r.ok) expect(r.errors[0]).to.include({ file: 'requirements.txt', line: 2 });
    });
  }

  it('takes --extra-index-url and --index-url as options, not as file options', () => {
    const r = parseRequirements(
      '--extra-index-url https://a/simple\n--index-url=https://b/simple\n-i https://c/simple\n',
      'r.txt',
    );
    expect(r.ok).to.equal(true);
  });

  it('finds the option lines with credentials and writes the file without them', () => {
    const r = parseRequirements(
      'numpy\n--extra-index-url https://user:tok@h/simple\n--find-links https://tok2@h/links\n--index-url https://h/simple\n',
      'r.txt',
    );
    if (!r.ok) throw new Error('unexpected');
    expect(r.value.credentialLines).to.deep.equal([2, 3]);
    expect(r.value.withoutCredentials).not.to.contain('tok');
    expect(r.value.withoutCredentials).to.match(/^numpy\n#.*\n#.*\n--index-url https:\/\/h\/simple\n$/);
  });

  it('redacts passwords and lone tokens', () => {
    expect(redactCredentials('--extra-index-url https://user:s3cr3t@host/simple')).to.equal(
      '--extra-index-url https://user:***@host/simple',
    );
    expect(redactCredentials('-i https://tok@host/simple')).to.equal('-i https://***@host/simple');
    expect(redactCredentials('--index-url https://host/simple')).to.equal('--index-url https://host/simple');
  });
});
