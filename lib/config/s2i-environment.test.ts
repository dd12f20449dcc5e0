import { expect } from 'chai';
import { parseS2iEnvironment } from './s2i-environment.js';

describe('parseS2iEnvironment', () => {
  it('reads KEY=VALUE lines, skipping comments and blank lines', () => {
    const r = parseS2iEnvironment('# header\n\nROUTES=a/b:m:f\nTRAIN_MODULE = train \n', 'env');
    expect(r).to.deep.equal({
      ok: true,
      value: {
        file: 'env',
        entries: [
          { key: 'ROUTES', value: 'a/b:m:f', line: 3 },
          { key: 'TRAIN_MODULE', value: 'train', line: 4 },
        ],
      },
    });
  });

  it('tolerates a byte-order mark and CRLF line ends', () => {
    const r = parseS2iEnvironment('\uFEFFA=1\r\nB=2\r\n', 'env');
    expect(r.ok && r.value.entries.map((e) => [e.key, e.value, e.line])).to.deep.equal([
      ['A', '1', 1],
      ['B', '2', 2],
    ]);
  });

  it('keeps an unquoted value literally, as s2i does, and decodes a quoted one', () => {
    const r = parseS2iEnvironment('URL=http://x/#frag ; y\nGREETING="hello world"\n', 'env');
    expect(r.ok && r.value.entries.map((e) => e.value)).to.deep.equal(['http://x/#frag ; y', 'hello world']);
  });

  it('reports every bad line at once, with its line number', () => {
    const r = parseS2iEnvironment('GOOD=1\nno equals sign\n9BAD=1\n=x\nGOOD=2\n', 'model/.s2i/environment');
    expect(r.ok).to.equal(false);
    if (r.ok) return;
    expect(r.errors.map((e) => [e.file, e.line])).to.deep.equal([
      ['model/.s2i/environment', 2],
      ['model/.s2i/environment', 3],
      ['model/.s2i/environment', 4],
      ['model/.s2i/environment', 5],
    ]);
    expect(r.errors[0]!.message).to.contain('expected KEY=VALUE');
    expect(r.errors[1]!.message).to.contain('"9BAD" is not a valid variable name');
    expect(r.errors[3]!.message).to.contain('first set on line 1');
  });
  it('refuses a quoted value holding a line break or NUL, with the line', () => {
    const r = parseS2iEnvironment('A=1\nB="x\\ny"\nC="a\\u0000b"\nD=\u0000\n', 'env');
    expect(r.ok).to.equal(false);
    if (!r.ok) expect(r.errors.map((e) => e.line)).to.deep.equal([2, 3, 4]);
  });
});
