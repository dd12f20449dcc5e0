// Renders a model folder's Makefile and the skeleton files `cortex-s2i init` offers.

import { readFileSync } from 'node:fs';
import { packageFile } from '../package-root.js';
import type { GeneratedFile } from './all-files.js';
import { template } from './templates.js';

export interface ModelNames {
  modelName: string;
  datasetName: string;
  containerName: string;
  /** The project folder, relative to the model folder ('..' in the usual layout). */
  projectDir: string;
}

export function renderModelFiles(names: ModelNames): GeneratedFile[] {
  const skeleton = (name: string) => readFileSync(packageFile('lib', 'render', 'templates', 'skeleton', name), 'utf8');
  return [
    { path: 'Makefile', content: template('model-Makefile.hbs')(names), executable: false, role: 'generated' },
    {
      path: '.s2i/environment',
      content: template('skeleton/environment.hbs')(names),
      executable: false,
      role: 'skeleton',
    },
    { path: 'train.py', content: template('skeleton/train.py.hbs')(names), executable: false, role: 'skeleton' },
    { path: 'predict.py', content: template('skeleton/predict.py.hbs')(names), executable: false, role: 'skeleton' },
    {
      path: 'requirements_train.txt',
      content: skeleton('requirements_train.txt'),
      executable: false,
      role: 'skeleton',
    },
    {
      path: 'requirements_predict.txt',
      content: skeleton('requirements_predict.txt'),
      executable: false,
      role: 'skeleton',
    },
    { path: 'test/test_instances.json', content: skeleton('test_instances.json'), executable: false, role: 'skeleton' },
  ];
}
