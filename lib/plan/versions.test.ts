import { expect } from 'chai';
import { compareVersions, compatible, parseVersion } from './versions.js';

describe('version specifiers', () => {
  it('orders versions as PEP 440 does for release, pre-, post- and dev-releases', () => {
    const order = ['1.0.dev1', '1.0a1', '1.0b2', '1.0rc1', '1.0', '1.0.post1', '1.0.1', '1.2', '1.10'];
    const parsed = order.map((v) => parseVersion(v)!);
    for (let i = 1; i < parsed.length; i++)
      expect(compareVersions(parsed[i - 1]!, parsed[i]!), `${order[i - 1]} < ${order[i]}`).to.be.lessThan(0);
    expect(compareVersions(parseVersion('1.2')!, parseVersion('1.2.0')!)).to.equal(0);
  });

  it('finds ranges that overlap compatible', () => {
    for (const [a, b] of [
      ['>=1.0,<2', '>=1.2'],
      ['==1.2.1', '>=1.0,<2'],
      ['~=1.4.2', '<1.5'],
      ['==1.2.*', '>=1.2.3'],
      ['', '==3'],
      ['>=1.0', '<=1.0'],
    ]) {
      expect(compatible(a!, b!), `${a} with ${b}`).to.equal(true);
    }
  });

  it('finds pins and ranges that cannot both hold', () => {
    for (const [a, b] of [
      ['==1.2', '==1.3'],
      ['==1.2', '>=1.3'],
      ['<1.0', '>=1.0'],
      ['~=1.4.2', '>=1.5'],
      ['==1.2.*', '==1.3.*'],
      ['>1.0', '<=1.0'],
      ['==2.0', '!=2.0'],
    ]) {
      expect(compatible(a!, b!), `${a} with ${b}`).to.equal(false);
    }
  });
});
