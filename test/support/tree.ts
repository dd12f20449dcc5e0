// Writes an inline fixture tree ({ 'a/b.py': 'text' }) into a fresh temporary folder.

import { chmod, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';

export type Tree = Record<string, string | Buffer | { content: string; mode: number }>;

export async function writeTree(tree: Tree, parent?: string): Promise<string> {
  const root = parent ?? (await mkdtemp(path.join(tmpdir(), 'cortex-s2i-test-')));
  for (const [rel, value] of Object.entries(tree)) {
    const file = path.join(root, rel);
    await mkdir(path.dirname(file), { recursive: true });
    if (typeof value === 'string' || Buffer.isBuffer(value)) {
      await writeFile(file, value);
    } else {
      await writeFile(file, value.content);
      await chmod(file, value.mode);
    }
  }
  return root;
}

export async function removeTree(root: string): Promise<void> {
  await rm(root, { recursive: true, force: true });
}

/** A small project in the layout cortex-s2i expects, with two models and shared code. */
export function sampleProject(overrides: Tree = {}): Tree {
  return {
    'shop/.cortexignore': 'notebooks/\n*.log\n',
    'shop/.env': 'API_TOKEN=do-not-bake-me\n',
    'shop/common/__init__.py': '',
    'shop/common/features.py': 'def encode(x):\n    return x\n',
    'shop/docs/guide.md': '# not code\n',
    'shop/data/sales.csv': 'a,b\n1,2\n',
    'shop/models/old.pkl': 'binary',
    'shop/churn/.s2i/environment': [
      '# churn model',
      'ROUTES=churn/predict:shop.churn.predict:predict',
      'TRAIN_MODULE=train',
      'TRAIN_FUNCTION=train',
      'LOG_LEVEL=info',
    ].join('\n'),
    'shop/churn/predict.py': 'def predict(msg):\n    return msg\n',
    'shop/churn/train.py': 'def train(msg):\n    return {}\n',
    'shop/churn/requirements_predict.txt': 'scikit-learn>=1.0\n',
    'shop/churn/requirements_train.txt': 'scikit-learn>=1.0\npandas\n',
    'shop/churn/setup.sh': { content: '#!/bin/sh\necho setup\n', mode: 0o755 },
    'shop/churn/__pycache__/predict.cpython-311.pyc': 'bytecode',
    'shop/churn/notebooks/explore.ipynb': '{}',
    'shop/churn/debug.log': 'log',
    'shop/upsell/.s2i/environment': 'ROUTES=upsell/predict:predict:predict\n',
    'shop/upsell/predict.py': 'def predict(msg):\n    return msg\n',
    ...overrides,
  };
}
