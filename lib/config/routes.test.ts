import { expect } from 'chai';
import { readEntryPoints } from './routes.js';
import { parseS2iEnvironment } from './s2i-environment.js';

function read(text: string) {
  const env = parseS2iEnvironment(text, 'm/.s2i/environment');
  if (!env.ok) throw new Error('bad fixture');
  return readEntryPoints(env.value);
}

function messages(text: string): string[] {
  const r = read(text);
  if (r.ok) throw new Error('expected problems');
  return r.errors.map((e) => `${e.line}: ${e.message}`);
}

describe('readEntryPoints', () => {
  it('reads route triples, bare and package-qualified, and the train entry point', () => {
    const r = read(
      'ROUTES= a/predict:predict:run , /b/v1/predict:proj.b.predict:predict_b\nTRAIN_MODULE=proj.a.train\nTRAIN_FUNCTION=train_a\n',
    );
    expect(r.ok).to.equal(true);
    if (!r.ok) return;
    expect(r.value.routes.map((x) => [x.path, x.module, x.function, x.line])).to.deep.equal([
      ['a/predict', 'predict', 'run', 1],
      ['b/v1/predict', 'proj.b.predict', 'predict_b', 1],
    ]);
    expect(r.value.train).to.include({ module: 'proj.a.train', function: 'train_a', line: 2 });
  });

  it('refuses malformed triples, bad names and keywords, naming the line', () => {
    const found = messages('\nROUTES=a:b,c/d:os; import x:f,e:mod:class,f:mod.2x:g,g/../h:m:f\n');
    expect(found).to.have.length(5);
    expect(found.every((m) => m.startsWith('2: '))).to.equal(true);
    expect(found[0]).to.contain('is not route:module:function');
    expect(found[1]).to.contain('not a Python identifier');
    expect(found[2]).to.contain('"class" is a Python keyword');
    expect(found[3]).to.contain('"2x" is not a Python identifier');
    expect(found[4]).to.contain('must be path segments');
  });

  it('refuses two routes with the same path, and paths the server answers itself', () => {
    const found = messages('ROUTES=a/p:m:f,/a/p:n:g,health:m:f\n');
    expect(found[0]).to.contain('route a/p is listed twice in ROUTES (m:f and n:g)');
    expect(found[1]).to.contain('answered by the server itself');
  });

  it('needs both halves of the train entry point', () => {
    expect(messages('TRAIN_FUNCTION=train\n')[0]).to.contain('TRAIN_FUNCTION is set but TRAIN_MODULE is not');
    expect(messages('TRAIN_MODULE=train\nTRAIN_FUNCTION=def\n')[0]).to.equal(
      '2: TRAIN_FUNCTION: "def" is a Python keyword',
    );
  });
});
