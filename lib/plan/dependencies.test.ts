import { expect } from 'chai';
import path from 'node:path';
import { readProject, type ProjectSource } from '../config/project.js';
import { removeTree, sampleProject, writeTree, type Tree } from '../../test/support/tree.js';
import { packContext } from '../context/tar.js';
import { contextEntries } from '../build/context.js';
import { renderDockerfile } from '../render/dockerfile.js';
import type { BuildPlan } from './plan.js';
import { planRoutes as planBuild } from './serving/routes.js';
import type { Builder } from './builders.js';
import { describePlan } from './describe.js';

const daemon: Builder = { style: 'bundled', image: 'cortex-s2i/builder-daemon:1', kind: 'daemon' };
const TOKEN = 's3cr3t-token';
const WITH_INDEX = `# predict\r\n--extra-index-url https://user:${TOKEN}@pkgs.example.com/simple\r\n-i https://${TOKEN}@mirror.example.com/simple  # mirror\r\n--trusted-host pkgs.example.com\r\nnumpy\r\n`;

describe('the dependency step', () => {
  const roots: string[] = [];
  after(async () => Promise.all(roots.map(removeTree)));

  async function plan(overrides: Tree): Promise<BuildPlan> {
    const root = await writeTree(sampleProject(overrides));
    roots.push(root);
    const read = await readProject(path.join(root, 'shop/churn'));
    if (!read.ok) throw new Error(JSON.stringify(read.errors));
    const p: ProjectSource = read.value;
    const r = planBuild({
      project: p,
      image: 'churn-predict',
      builder: daemon,
      extraEnv: [],
      revision: undefined,
      created: '2024-01-01T00:00:00.000Z',
      toolVersion: '1.2.3',
    });
    if (!r.ok) throw new Error(JSON.stringify(r.errors));
    return r.value;
  }

  async function contextText(p: BuildPlan): Promise<string> {
    const packed = packContext(contextEntries(p, renderDockerfile(p, '1.2.3').text), {
      mtime: new Date(0),
      compress: false,
    });
    const chunks: Buffer[] = [];
    for await (const c of packed.stream) chunks.push(c as Buffer);
    return Buffer.concat(chunks).toString('latin1');
  }

  it('sends the dependency layer and the source layer the requirements file without credentials, line for line', async () => {
    const p = await plan({ 'shop/churn/requirements_predict.txt': WITH_INDEX });
    const deps = p.dependencies.requirements!.content!.toString();
    expect(deps).not.to.contain(TOKEN);
    expect(deps.split('\n')).to.have.length(WITH_INDEX.split('\n').length);
    expect(deps).to.contain('--trusted-host pkgs.example.com\r\nnumpy\r\n');
    const inSource = p.source.find((f) => f.name.endsWith('churn/requirements_predict.txt'))!;
    expect(inSource.content!.toString()).to.equal(deps);
    // Only the separate stage gets the file as written.
    expect(p.dependencies.indexStage!.map((f) => f.name)).to.deep.equal([
      'deps-index/setup.sh',
      'deps-index/requirements.txt',
    ]);
    expect(p.dependencies.indexStage![1]!.content!.toString()).to.equal(WITH_INDEX);
    const dockerfile = renderDockerfile(p, '1.2.3').text;
    expect(dockerfile).to.match(
      /FROM \S+ AS cortex-s2i-index\nUSER root\nCOPY deps-index\/ \/tmp\/cortex-s2i-deps\/\nRUN .*assemble --dependencies .*\nFROM \S+\nCOPY --from=cortex-s2i-index \/opt\/venv \/opt\/venv\n/,
    );
    // The token is in the context once, in the index stage's copy.
    expect((await contextText(p)).split(TOKEN)).to.have.length(3);
  });

  it('shows the index options in the plan, credentials as ***', async () => {
    const lines = describePlan(await plan({ 'shop/churn/requirements_predict.txt': WITH_INDEX })).join('\n');
    expect(lines)
      .to.contain('https://user:***@pkgs.example.com/simple')
      .and.contain('-i https://***@mirror.example.com/simple')
      .and.contain('--trusted-host pkgs.example.com');
    expect(lines).not.to.contain(TOKEN);
  });

  it('keeps one stage and the file as it is when no option carries credentials', async () => {
    const text = '--index-url https://mirror.example.com/simple\nnumpy\n';
    const p = await plan({ 'shop/churn/requirements_predict.txt': text });
    expect(p.dependencies.indexStage).to.equal(undefined);
    expect(p.dependencies.requirements!.content!.toString()).to.equal(text);
    expect(renderDockerfile(p, '1.2.3').text).not.to.contain('AS cortex-s2i-index');
    expect(describePlan(p).join('\n')).to.contain('--index-url https://mirror.example.com/simple');
  });

  it('sends a requirements file that .cortexignore leaves out with its real size', async () => {
    const p = await plan({
      'shop/.cortexignore': 'requirements_*.txt\n',
      'shop/churn/requirements_predict.txt': 'numpy\npandas\n',
    });
    expect(p.warnings.map((w) => w.message)).to.include(
      'ignored by .cortexignore, but still used to install dependencies',
    );
    expect(p.dependencies.requirements!.size).to.equal('numpy\npandas\n'.length);
    expect(await contextText(p)).to.contain('numpy\npandas\n');
  });
});
