import { expect } from 'chai';
import { parseDotenvFile } from './dotenv-file.js';

describe('parseDotenvFile', () => {
  it('returns the variable names and never their values', () => {
    const r = parseDotenvFile('# creds\nAPI_TOKEN=s3cret-value\n\nREGION=eu\n', '.env');
    expect(r.ok).to.equal(true);
    if (!r.ok) return;
    expect(r.value.keys).to.deep.equal(['API_TOKEN', 'REGION']);
    expect(JSON.stringify(r.value)).not.to.contain('s3cret-value');
  });

  it('reports lines that are not assignments, and an unclosed quote', () => {
    const r = parseDotenvFile('A=1\njust words\nB="open\n', 'project/.env');
    expect(r.ok).to.equal(false);
    if (r.ok) return;
    expect(r.errors.map((e) => [e.file, e.line])).to.deep.equal([
      ['project/.env', 2],
      ['project/.env', 3],
    ]);
  });

  it('warns where docker run --env-file would read a value differently from dotenv', () => {
    const r = parseDotenvFile('export A=1\nB="quoted"\nC=plain\n', '.env');
    expect(r.ok && r.value.warnings.map((w) => w.line)).to.deep.equal([1, 2]);
  });
});
