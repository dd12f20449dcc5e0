import { expect } from 'chai';
import path from 'node:path';
import { readProject } from '../../config/project.js';
import { ok } from '../../config/result.js';
import { CortexError, ExitCode } from '../../errors.js';
import { removeTree, sampleProject, writeTree } from '../../../test/support/tree.js';
import { planImage } from '../build-plan.js';
import { SERVING_STYLES, servingStyleOf, type ServingRequest, type ServingStyle, type SourceFolder } from './index.js';

/** A source folder over an inline tree, as the build's reading gives one. */
function folder(dir: string, files: Record<string, string>): SourceFolder {
  return { dir, readText: async (rel) => files[rel], files: async () => Object.keys(files).sort() };
}

const daemon: ServingRequest = { builder: 'daemon', kind: 'daemon', image: 'x', project: undefined, api: undefined };

describe('serving styles', () => {
  it('takes a folder with cortex.yaml as Cortex APIs, and any other as ROUTES models', async () => {
    const yaml = '- name: iris\n  predictor: {path: predictor.py}\n';
    const cortex = await servingStyleOf(folder('/p', { 'cortex.yaml': yaml, 'predictor.py': '' }), daemon);
    expect(cortex.style.name).to.equal('Cortex APIs');
    const routes = await servingStyleOf(folder('/p', { '.s2i/environment': 'ROUTES=a:b:c\n' }), daemon);
    expect(routes.style.name).to.equal('ROUTES models');
  });

  it('refuses what a style cannot take: --api without cortex.yaml, a Cortex project for the train builder', async () => {
    const refusal = async (files: Record<string, string>, request: ServingRequest) =>
      servingStyleOf(folder('/p', files), request).then(
        () => expect.fail('taken'),
        (err: unknown) => err as CortexError,
      );
    const api = await refusal({}, { ...daemon, api: 'iris' });
    expect(api.exitCode).to.equal(ExitCode.badInput);
    expect(api.message).to.equal('--api iris: /p has no cortex.yaml');
    const yaml = '- name: iris\n  predictor: {path: predictor.py}\n';
    const train = await refusal(
      { 'cortex.yaml': yaml, 'predictor.py': '' },
      { ...daemon, builder: 'train', kind: 'train' },
    );
    expect(train.message).to.contain('builds with the daemon builder, not train');
  });

  it('lets a new style take its sources and plan its images with no other change: a style is one module', async () => {
    const root = await writeTree(sampleProject());
    try {
      // A style of its own: a folder holding SERVES names the one route its image serves.
      const serves: ServingStyle<{ route: string }> = {
        name: 'SERVES models',
        declared: async (source) => {
          const text = await source.readText('SERVES');
          return text === undefined ? undefined : { route: text.trim() };
        },
        reading: () => ({ projectDir: undefined }),
        plan: (req, { route }) => {
          const { plan } = planImage(req);
          return ok({ ...plan, serves: [['serves', route]], labels: [...plan.labels, ['test.serves', route]] });
        },
      };
      const styles = [serves, ...SERVING_STYLES] as ReadonlyArray<ServingStyle<unknown>>;
      const model = path.join(root, 'shop/churn');
      const found = await servingStyleOf(folder(model, { SERVES: 'churn/score\n' }), daemon, styles);
      expect(found.style).to.equal(serves);
      const project = await readProject(model);
      if (!project.ok) throw new Error(JSON.stringify(project.errors));
      const planned = found.style.plan(
        {
          project: project.value,
          image: 'churn:1',
          builder: { style: 'bundled', image: 'b:1', kind: 'daemon' },
          extraEnv: [],
          revision: undefined,
          created: '2024-01-01T00:00:00.000Z',
          toolVersion: '1',
        },
        found.declared,
      );
      if (!planned.ok) throw new Error(JSON.stringify(planned.errors));
      expect(planned.value.serves).to.deep.equal([['serves', 'churn/score']]);
      expect(planned.value.labels).to.deep.include(['test.serves', 'churn/score']);
      // Without its file, the folder is what it was: ROUTES models.
      expect((await servingStyleOf(folder(model, {}), daemon, styles)).style.name).to.equal('ROUTES models');
    } finally {
      await removeTree(root);
    }
  });
});
