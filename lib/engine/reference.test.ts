import { expect } from 'chai';
import { parseImageReference } from './reference.js';

describe('parseImageReference', () => {
  it('reads names, registries with ports, tags and digests as the engine does', () => {
    const digest = `sha256:${'0123456789abcdef'.repeat(4)}`;
    expect(parseImageReference('model')).to.deep.equal({
      ok: true,
      value: { name: 'model', domain: undefined, path: 'model', tag: undefined, digest: undefined },
    });
    expect(parseImageReference('registry:5000/team/model:1.0')).to.deep.equal({
      ok: true,
      value: {
        name: 'registry:5000/team/model',
        domain: 'registry:5000',
        path: 'team/model',
        tag: '1.0',
        digest: undefined,
      },
    });
    expect(parseImageReference(`localhost/a__b-c.d:v_1@${digest}`)).to.deep.include({ ok: true });
    expect(parseImageReference(`team/model@${digest}`)).to.deep.equal({
      ok: true,
      value: { name: 'team/model', domain: undefined, path: 'team/model', tag: undefined, digest },
    });
    expect(parseImageReference('[::1]:5000/model:x')).to.deep.include({ ok: true });
  });

  const refused: Array<[string, RegExp]> = [
    ['a:b:c', /"a:b" has a colon/],
    ['a@b', /"b" after the @ is not a digest/],
    ['MyModel', /upper case/],
    ['team/Model:1', /upper case/],
    ['model@sha256:abc', /not a digest/],
    [`model@sha256:${'A'.repeat(64)}`, /64 lower-case hex/],
    ['model:-bad', /the tag "-bad" is not valid/],
    [`model:${'x'.repeat(129)}`, /at most 128/],
    ['a//b', /empty part/],
    ['a_-b', /not a name component/],
    [':tag', /no name/],
    ['registry:port/model', /port that is not a number/],
    ['a@b@c', /more than one @/],
    ['', /empty/],
  ];
  for (const [ref, reason] of refused) {
    it(`refuses ${JSON.stringify(ref.length > 40 ? `${ref.slice(0, 40)}…` : ref)} with the reason`, () => {
      const r = parseImageReference(ref);
      expect(r.ok).to.equal(false);
      if (!r.ok) expect(r.reason).to.match(reason);
    });
  }
});
