// What `cortex-s2i --help` and `cortex-s2i <command> --help` print, made from the command table,
// and the command list the README shows (test/readme.test.ts holds it to this one).

import type { AnyCommand } from './command.js';

const PROGRAM = 'cortex-s2i';

/** The overall usage: every command's synopsis and line, the exit statuses, the environment. */
export function overallHelp(commands: readonly AnyCommand[]): string {
  return `${PROGRAM}: build container images for Python machine-learning models

Usage:
${commandList(commands)}
  ${PROGRAM} help <command>    (or ${PROGRAM} <command> --help): that command's usage and options
  ${PROGRAM} --help | --version

${EXIT_STATUS}
${ENVIRONMENT}`;
}

/** `cortex-s2i <command> --help`: its synopsis, then its usage. */
export function commandHelp(c: AnyCommand): string {
  return `Usage:\n${c.synopsis.map((s) => `  ${PROGRAM} ${s}`).join('\n')}\n\n${c.usage}`;
}

/** Every command, its synopsis and what it does in a line: the list the README shows too. */
export function commandList(commands: readonly AnyCommand[]): string {
  return commands
    .map((c) => [...c.synopsis.map((s) => `  ${PROGRAM} ${s}`), `      ${c.summary}`].join('\n'))
    .join('\n');
}

const EXIT_STATUS = `Exit status: 0 success, 2 bad input, 3 build failed (also: a file changed while it was sent),
4 no engine answers, or it stopped answering (see the timeouts below), 5 the engine refused a
request or gave an answer the tool cannot read, 6 a batch job did not succeed,
129/130/143 stopped by SIGHUP/SIGINT/SIGTERM;
registries: 10 refused (the engine's reason), 11 down, 12 unknown host, 13 credentials refused or missing.`;

const ENVIRONMENT = `Environment: DOCKER_HOST (engine address: unix://, or tcp:// as the docker CLI reads it),
DOCKER_TLS_VERIFY and DOCKER_CERT_PATH (TLS to a tcp:// engine: ca.pem, cert.pem, key.pem,
default ~/.docker), DOCKER_CONFIG (registry credentials), SOURCE_DATE_EPOCH (fixed image timestamps),
CORTEX_S2I_BUILDER_REPO (repository of the bundled builder images, default cortex-s2i),
CORTEX_S2I_ENGINE_TIMEOUT (seconds an engine call may take, default 60),
CORTEX_S2I_BUILD_SILENCE_TIMEOUT (seconds a build may go without a byte from the engine, default 1800),
CI (set to anything but false or 0: --progress auto prints plain lines), NO_COLOR (non-empty: no colours).`;
