// The GitLab job of docs/ci.md, its script lines run for real on the example project: cortex-s2i
// writes the context with --as-dockerfile, buildah builds it (vfs, chroot) and pushes it with
// --digestfile to the local registry, and the reference the job hands on names what was pushed.
// The podman and curl lines (serving the image) are left out: the --as-dockerfile suite serves a
// buildah-built image already, and podman is not among the tools the tests install.

import { expect } from 'chai';
import { execFile } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { parse } from 'yaml';
import type { Engine } from '../../lib/engine/engine.js';
import { packageFile, packageVersion } from '../../lib/package-root.js';
import { bundledBuilderImage } from '../../lib/plan/builders.js';
import { Cleanup, PREFIX, realEngine } from './support.js';

const run = promisify(execFile);
// The registry without auth that 'make registry' starts.
const REGISTRY = '127.0.0.1:5301';

describe("docs/ci.md's GitLab job, run for real", function () {
  this.timeout(15 * 60 * 1000);
  let engine: Engine;
  const cleanup = new Cleanup(() => engine);
  let storage: string;
  let project: string;

  before(async function () {
    engine = await realEngine(this);
    const missing = await run('buildah', ['--version']).then(() => undefined, () => 'buildah is not installed');
    const down = await fetch(`http://${REGISTRY}/v2/`).then((r) => (r.ok ? undefined : `the registry at ${REGISTRY} answers ${r.status}`), () => `no registry answers at ${REGISTRY}`);
    const reason = missing ?? down;
    if (reason) {
      if (process.env.CI === 'true') throw new Error(`${reason}; 'make test' installs buildah and starts the registries`);
      console.warn(`\n*** GITLAB JOB SUITE SKIPPED: ${reason}. Run 'make buildah registry' (or 'make test').\n`);
      this.skip();
    }
    storage = await cleanup.tempDir('gitlab-buildah');
    project = await cleanup.exampleCopy();
  });
  after(async () => {
    if (storage) await run('sh', ['-c', `buildah --root "$1/root" --runroot "$1/run" --storage-driver vfs rmi --all --force`, 'sh', storage]).catch(() => undefined);
    await cleanup.run();
  });

  it('builds with buildah from --as-dockerfile and pushes by digest', async () => {
    const doc = await readFile(packageFile('docs', 'ci.md'), 'utf8');
    const gitlab = parse([...doc.matchAll(/^```yaml\n([\s\S]*?)^```$/gm)][1]![1]!) as Record<string, { script: string[]; variables: Record<string, string> }>;
    const job = Object.values(gitlab)[0]!;
    // The job's own lines, on the example's logisticRegression model instead of churn, with the
    // cortex-s2i of this checkout; serving (podman, curl) is left out, as said above.
    const lines = job.script
      .filter((l) => !/^(podman|curl|for )/.test(l))
      .map((l) => l.replace(/^npx cortex-s2i /, 'node "$CORTEX_S2I_BIN" ').replace(/\bchurn\b/g, 'logisticRegression'));
    expect(lines.some((l) => l.startsWith('buildah bud'))).to.equal(true);
    expect(lines.some((l) => l.startsWith('buildah push') && l.includes('--digestfile'))).to.equal(true);
    // buildah on storage of its own (nothing of anyone else's is touched), with the local registry
    // allowed over plain HTTP as a registries.conf would in a real runner.
    const conf = path.join(storage, 'registries.conf');
    await writeFile(conf, `[[registry]]\nlocation = "${REGISTRY}"\ninsecure = true\n`);
    const builder = bundledBuilderImage('daemon', packageVersion(), process.env.CORTEX_S2I_BUILDER_REPO || undefined);
    const image = `${REGISTRY}/${PREFIX}-gitlab-job`;
    const builderRepo = `${REGISTRY}/${PREFIX}-gitlab-builders`;
    const script = [
      'set -eu',
      'buildah() { command buildah --root "$STORAGE/root" --runroot "$STORAGE/run" "$@"; }',
      // The job pulls the builder from the pipeline's registry (CORTEX_S2I_BUILDER_REPO): it is
      // put there first, from the engine, as a one-off step of a real set-up would.
      `builder_id=$(buildah pull --quiet "docker-daemon:${builder}")`,
      `buildah push --quiet "$builder_id" "docker://${builderRepo}/builder-daemon:${packageVersion()}"`,
      `buildah rmi --force "$builder_id" >/dev/null`,
      ...lines,
    ].join('\n');
    const env: NodeJS.ProcessEnv = {
      ...process.env,
      ...Object.fromEntries(Object.entries(job.variables).filter(([k]) => k !== 'CORTEX_S2I_BUILDER_REPO' && k !== 'IMAGE')),
      IMAGE: image,
      CI_COMMIT_SHA: '0123456789abcdef',
      CI: 'true',
      STORAGE: storage,
      CONTAINERS_REGISTRIES_CONF: conf,
      CORTEX_S2I_BIN: packageFile('bin', 'cortex-s2i.js'),
      CORTEX_S2I_BUILDER_REPO: builderRepo,
    };
    let output: { stdout: string; stderr: string };
    try {
      output = await run('sh', ['-c', script], { cwd: project, env, maxBuffer: 64 * 1024 * 1024 });
    } catch (err) {
      const e = err as { stdout: string; stderr: string };
      throw new Error(`the job failed:\n${e.stdout.slice(-3000)}\n${e.stderr.slice(-3000)}`);
    }
    const digest = await readFile(path.join(project, 'digest.txt'), 'utf8');
    expect(digest).to.match(/^sha256:[0-9a-f]{64}$/);
    expect((await readFile(path.join(project, 'build.env'), 'utf8')).trim()).to.equal(`IMAGE_REF=${image}@${digest}`);
    // The registry holds that manifest: the reference pins what was pushed.
    const manifest = await fetch(`http://${REGISTRY}/v2/${PREFIX}-gitlab-job/manifests/${digest}`, {
      headers: { Accept: 'application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json' },
    });
    expect(manifest.status, output.stderr.slice(-2000)).to.equal(200);
    // The CLI's part printed plain lines: CI is set.
    // eslint-disable-next-line no-control-regex
    expect(output.stdout).to.match(/^wrote \S*\/ctx: \d+ files/m).and.not.match(/[\u0000-\u0009\u000b-\u001f]/);
  });
});
