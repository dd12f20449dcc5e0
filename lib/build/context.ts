// The build context a plan makes: its Dockerfile, the dependency step's files, the source and its
// links, under the names the Dockerfile copies them by. The engine build sends it as a tar, the
// Dockerfile folder writes it out, and the source layer packs its source part.

import type { ContextEntry } from '../context/tar.js';
import type { BuildPlan } from '../plan/plan.js';

export function contextEntries(plan: BuildPlan, dockerfile: string): ContextEntry[] {
  const { setupScript, requirements, indexStage } = plan.dependencies;
  return [
    { name: 'Dockerfile', content: Buffer.from(dockerfile), size: Buffer.byteLength(dockerfile), executable: false },
    ...[...(indexStage ?? []), setupScript, requirements, ...plan.source].filter((f) => f !== undefined),
    ...plan.links.map((l) => ({ name: l.name, linkTarget: l.target, size: 0, executable: false })),
  ];
}
