// The command table: every command of cortex-s2i, in the order the help lists them. A new command
// is a module of this folder and its line here; the help, the README's command list (a test holds
// the two together) and main.ts take it from this list.

import type { AnyCommand } from '../command.js';
import all from './all.js';
import build from './build.js';
import builders from './builders.js';
import deploy from './deploy.js';
import init from './init.js';
import job from './job.js';
import push from './push.js';

export const COMMANDS: readonly AnyCommand[] = [build, push, all, init, builders, deploy, job];
