// `cortex-s2i init <model-dir>`: the model's Makefile and, where missing, a working skeleton.

import { ExitCode, usageError } from '../../errors.js';
import type { InitRequest } from '../../generate/init.js';
import { command, readOptions } from '../command.js';

export default command<InitRequest>({
  name: 'init',
  synopsis: ['init <model-dir> [--model-name N] [--dataset D] [--container C] [--force]'],
  summary: "write a model's Makefile and, where missing, a skeleton that trains and serves",
  usage: `Writes the model's Makefile (build-train, train, build-predict, predict, test-endpoint) and,
where missing, a working skeleton: .s2i/environment, train.py, predict.py, requirements,
test/test_instances.json. A Makefile without the generator's header is kept unless --force
is given; model code and test instances are never replaced.

Options:
  --model-name N        the model's name (default: its first route's, else the folder's)
  --dataset D           the training data under data/ (default: the only .csv there)
  --container C         the images' name stem (default: the model name in kebab case)
  --force               replace a hand-written Makefile`,

  parse(args) {
    const { values, positionals } = readOptions('init', args, {
      'model-name': { type: 'string' },
      dataset: { type: 'string' },
      container: { type: 'string' },
      force: { type: 'boolean' },
    });
    if (positionals.length !== 1) throw usageError('init needs the model folder: cortex-s2i init <model-dir>');
    return {
      modelDir: positionals[0]!,
      modelName: values['model-name'],
      dataset: values.dataset,
      container: values.container,
      force: values.force ?? false,
    };
  },

  async run(args, ctx) {
    const { initModel } = await import('../../generate/init.js');
    for (const line of await initModel(args)) ctx.output.out(line);
    return ExitCode.ok;
  },
});
