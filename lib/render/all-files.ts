// Renders the files of a project's all/ folder from its plan.

import { ALL_DIR, type AllPlan } from '../plan/all-plan.js';
import { template } from './templates.js';

export interface GeneratedFile {
  /** Path relative to the project root. */
  path: string;
  content: string;
  executable: boolean;
  /**
   * generated: the generator's to replace (it carries the generator's header); skeleton: the start
   * of the user's own code (train.py, predict.py, test instances), written only where missing.
   */
  role: 'generated' | 'skeleton';
}

/** What train-all runs directly for a model without a generated Makefile. */
export interface TrainNames {
  model: string;
  modelName: string;
  datasetName: string;
  containerName: string;
}

export function renderAllFiles(plan: AllPlan, trains: TrainNames[]): GeneratedFile[] {
  const common = { models: plan.models, routes: plan.routes, project: plan.project.name };
  const files: GeneratedFile[] = [
    {
      path: `${ALL_DIR}/.s2i/environment`,
      content: template('all-environment.hbs')(common),
      executable: false,
      role: 'generated',
    },
    {
      path: `${ALL_DIR}/predict.py`,
      content: template('all-predict.py.hbs')(common),
      executable: false,
      role: 'generated',
    },
    {
      path: `${ALL_DIR}/requirements.txt`,
      content: template('all-requirements.txt.hbs')({ ...common, requirements: plan.requirements }),
      executable: false,
      role: 'generated',
    },
    {
      path: `${ALL_DIR}/Makefile`,
      content: template('all-Makefile.hbs')({
        ...common,
        containerName: plan.containerName,
        tests: plan.tests,
        trains,
      }),
      executable: false,
      role: 'generated',
    },
  ];
  if (plan.setupSteps.length) {
    const steps = plan.setupSteps.map((step, i) => ({
      models: step.models,
      script: step.script,
      delimiter: heredocDelimiter(step.script, i + 1),
    }));
    files.push({
      path: `${ALL_DIR}/setup.sh`,
      content: template('all-setup.sh.hbs')({ ...common, steps }),
      executable: true,
      role: 'generated',
    });
  }
  return files;
}

/** A here-document end marker that no line of the script equals, so the script is passed whole. */
function heredocDelimiter(script: string, n: number): string {
  const lines = new Set(script.split('\n'));
  let delimiter = `CORTEX_S2I_SETUP_${n}`;
  while (lines.has(delimiter)) delimiter += '_';
  return delimiter;
}
