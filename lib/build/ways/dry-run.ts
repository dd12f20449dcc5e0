// The way that makes nothing at all (`--dry-run`): the plan, already told, and the Dockerfile are
// the answer. With a bundled builder no engine is asked.

import { formatProblem } from '../../errors.js';
import type { Planned, Way } from './way.js';

export const dryRun: Way<Planned, true> = {
  name: 'dry run',

  async can(build) {
    return build.request.make.dryRun || undefined;
  },

  async make(build) {
    const { plan } = build;
    return {
      kind: 'dry-run',
      image: plan.image,
      dockerfile: build.dockerfile.text,
      plan: build.planLines,
      warnings: plan.warnings.map(formatProblem),
    };
  },
};
