// A build plan for tests of what is made from one (the Dockerfile, a source-only rebuild): a
// daemon model with a requirements file and one setting; each test overrides what it is about.

import type { BuildPlan } from '../../lib/plan/plan.js';

export function testPlan(overrides: Partial<BuildPlan> = {}): BuildPlan {
  return {
    image: 'm',
    builder: { style: 'bundled', image: 'cortex-s2i/builder-daemon:1', kind: 'daemon' },
    project: { root: '/p', name: 'p', standalone: false, why: '' },
    model: { path: 'm', name: 'm' },
    pythonPath: ['/opt/program/p/m', '/opt/program/p', '/opt/program'],
    sharedFolders: [],
    skippedFolders: [],
    includedModels: [],
    leftOut: [],
    links: [],
    importCheck: { strict: [], lenient: [], where: {} },
    ignoreFiles: [],
    ignored: [],
    dependencies: {
      setupScript: undefined,
      requirements: { name: 'deps/requirements.txt', from: '/p/m/requirements.txt', size: 1, executable: false },
    },
    sourceDir: 'src',
    source: [],
    sourceBytes: 0,
    env: [{ key: 'GREETING', value: 'say "hi" for $5 \\o/', from: 'x' }],
    labels: [['org.opencontainers.image.title', 'm']],
    user: '1001',
    routes: [],
    train: undefined,
    runtimeVariables: undefined,
    serves: [],
    warnings: [],
    ...overrides,
  };
}
