// The settings cortex-s2i takes from environment variables, read from the environment its caller
// gives (the command's process.env, or the library's `environment` option) and checked here: a
// malformed one is a usage error that names the variable and shows a value that works.

import { homedir } from 'node:os';
import path from 'node:path';
import type { EngineLimits } from './engine/docker-engine.js';
import type { CredentialOptions } from './engine/credentials.js';
import type { EngineEnvironment } from './engine/connection.js';
import type { Engine } from './engine/engine.js';
import { CortexError, ExitCode } from './errors.js';
import { DEFAULT_BUILDER_REPO } from './plan/builders.js';

export interface Settings {
  /** CORTEX_S2I_BUILDER_REPO: the repository of the bundled builder images. */
  builderRepo: string;
  /** SOURCE_DATE_EPOCH, when set: fixes image timestamps for reproducible builds. */
  sourceDateEpoch: number | undefined;
  /** HOME: a project's root is never searched for at or above it. */
  home: string | undefined;
  /** Where registry credentials are read (DOCKER_CONFIG), and the environment credential helpers run with. */
  credentials: CredentialOptions;
  /** DOCKER_HOST and its TLS settings, as the docker CLI reads them. */
  engine: EngineEnvironment;
  /** CORTEX_S2I_ENGINE_TIMEOUT and CORTEX_S2I_BUILD_SILENCE_TIMEOUT, when set. */
  engineLimits: Partial<EngineLimits>;
}

/** Every setting of `env`; throws the usage error of the first malformed one. */
export function readSettings(env: NodeJS.ProcessEnv): Settings {
  return {
    builderRepo: readBuilderRepo(env.CORTEX_S2I_BUILDER_REPO),
    sourceDateEpoch: readEpoch(env.SOURCE_DATE_EPOCH),
    home: env.HOME || undefined,
    credentials: { configDir: dockerConfigDir(env), helperEnv: env },
    engine: {
      DOCKER_HOST: env.DOCKER_HOST,
      DOCKER_TLS_VERIFY: env.DOCKER_TLS_VERIFY,
      DOCKER_TLS: env.DOCKER_TLS,
      DOCKER_CERT_PATH: env.DOCKER_CERT_PATH,
      home: env.HOME || homedir(),
    },
    engineLimits: readEngineLimits(env),
  };
}

/**
 * The engine the settings name. Loaded on first use: the engine adapter and dockerode take longer
 * to load than --help or a dry run take altogether.
 */
export async function connectEngine(settings: Settings, interrupt: AbortSignal): Promise<Engine> {
  const [{ dockerEngine }, { resolveEngineConnection }] = await Promise.all([
    import('./engine/docker-engine.js'),
    import('./engine/connection.js'),
  ]);
  return dockerEngine(resolveEngineConnection(settings.engine), { limits: settings.engineLimits, interrupt });
}

function readBuilderRepo(value: string | undefined): string {
  if (value === undefined || value === '') return DEFAULT_BUILDER_REPO;
  if (!/^[a-z0-9]+([._:/-][a-z0-9]+)*$/.test(value)) {
    throw new CortexError(`CORTEX_S2I_BUILDER_REPO=${JSON.stringify(value)} is not an image repository`, {
      exitCode: ExitCode.badInput,
      hint: 'e.g. CORTEX_S2I_BUILDER_REPO=registry.example.com/ml (lower case, no tag)',
    });
  }
  return value;
}

/** DOCKER_CONFIG, as the docker CLI reads it: the folder of config.json, ~/.docker by default. */
function dockerConfigDir(env: NodeJS.ProcessEnv): string {
  if (env.DOCKER_CONFIG) return env.DOCKER_CONFIG;
  return path.join(env.HOME || homedir(), '.docker');
}

/** The latest time a tar header holds (11 octal digits of seconds): 2242-03-16T12:56:31Z. */
const EPOCH_MAX = 0o77777777777;

function readEpoch(value: string | undefined): number | undefined {
  if (value === undefined || value === '') return undefined;
  const hint = 'e.g. SOURCE_DATE_EPOCH=$(git log -1 --format=%ct)';
  if (!/^\d+$/.test(value)) {
    throw new CortexError(`SOURCE_DATE_EPOCH=${JSON.stringify(value)} is not a whole number of seconds`, {
      exitCode: ExitCode.badInput,
      hint,
    });
  }
  const seconds = Number(value);
  if (seconds > EPOCH_MAX) {
    throw new CortexError(
      `SOURCE_DATE_EPOCH=${value} is out of range: image timestamps go from 0 to ${EPOCH_MAX} (${new Date(EPOCH_MAX * 1000).toISOString()})`,
      { exitCode: ExitCode.badInput, hint },
    );
  }
  return seconds;
}

/** How long to wait for the engine: CORTEX_S2I_ENGINE_TIMEOUT and CORTEX_S2I_BUILD_SILENCE_TIMEOUT, in seconds. */
function readEngineLimits(env: NodeJS.ProcessEnv): Partial<EngineLimits> {
  const read = (name: string): number | undefined => {
    const value = env[name];
    if (value === undefined || value === '') return undefined;
    if (!/^\d+$/.test(value) || Number(value) < 1 || Number(value) > 7 * 24 * 3600) {
      throw new CortexError(`${name}=${JSON.stringify(value)} is not a number of seconds from 1 to 604800`, {
        exitCode: ExitCode.badInput,
        hint: `e.g. ${name}=600`,
      });
    }
    return Number(value);
  };
  const callSeconds = read('CORTEX_S2I_ENGINE_TIMEOUT');
  const buildSilenceSeconds = read('CORTEX_S2I_BUILD_SILENCE_TIMEOUT');
  return { ...(callSeconds ? { callSeconds } : {}), ...(buildSilenceSeconds ? { buildSilenceSeconds } : {}) };
}
