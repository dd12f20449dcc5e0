// Reads the standard Docker client configuration (config.json) into where a registry's credentials
// come from: an inline `auths` entry, a credential helper (`credHelpers`), or the store
// (`credsStore`). Pure: the caller reads the file and runs the helper.

import { failed, ok, type Result } from './result.js';

/** The key Docker Hub's credentials are stored under, as the docker CLI writes it. */
export const DOCKER_HUB_KEY = 'https://index.docker.io/v1/';
const DOCKER_HUB_HOSTS = new Set(['docker.io', 'index.docker.io', 'registry-1.docker.io']);

export interface DockerConfig {
  auths: Record<string, { auth?: string; username?: string; password?: string; identitytoken?: string }>;
  credsStore: string | undefined;
  credHelpers: Record<string, string>;
}

export interface InlineCredentials {
  username: string;
  password: string;
}

/** Where one registry's credentials come from. */
export type CredentialSource =
  | { kind: 'inline'; serverAddress: string; username?: string; password?: string; identityToken?: string }
  | { kind: 'helper'; helper: string; serverAddress: string }
  | { kind: 'none' };

/**
 * The registry host of an image reference, as Docker reads it: the first path component when it
 * has a `.` or a `:` or is `localhost`, Docker Hub otherwise (`docker.io`).
 */
export function registryOf(ref: string): string {
  const slash = ref.indexOf('/');
  if (slash < 0) return 'docker.io';
  const first = ref.slice(0, slash);
  if (first.includes('.') || first.includes(':') || first === 'localhost')
    return DOCKER_HUB_HOSTS.has(first) ? 'docker.io' : first;
  return 'docker.io';
}

/** `registry:5000/team/model:1` (or `…@sha256:…`) → `registry:5000/team/model`. */
export function repositoryOf(ref: string): string {
  const at = ref.indexOf('@');
  const named = at >= 0 ? ref.slice(0, at) : ref;
  const colon = named.lastIndexOf(':');
  return colon > named.lastIndexOf('/') ? named.slice(0, colon) : named;
}

/** `https://registry:5000/v1/` → `registry:5000`: config keys may be URLs, as `docker login` once wrote them. */
export function hostOfKey(key: string): string {
  const host = key.replace(/^[a-z]+:\/\//i, '').split('/')[0]!;
  return DOCKER_HUB_HOSTS.has(host) ? 'docker.io' : host;
}

export function parseDockerConfig(text: string, file: string): Result<DockerConfig> {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    return failed([{ file, message: `not JSON: ${(err as Error).message}` }]);
  }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw))
    return failed([{ file, message: 'not a JSON object' }]);
  const o = raw as Record<string, unknown>;
  const problems: string[] = [];
  const auths: DockerConfig['auths'] = {};
  if (o.auths !== undefined) {
    if (typeof o.auths !== 'object' || o.auths === null) problems.push('"auths" is not an object');
    else {
      for (const [key, entry] of Object.entries(o.auths as Record<string, unknown>)) {
        if (typeof entry !== 'object' || entry === null) {
          problems.push(`"auths" entry ${JSON.stringify(key)} is not an object`);
          continue;
        }
        const e = entry as Record<string, unknown>;
        const pick = (k: string) => (typeof e[k] === 'string' && e[k] !== '' ? (e[k] as string) : undefined);
        auths[key] = {
          ...(pick('auth') ? { auth: pick('auth') } : {}),
          ...(pick('username') ? { username: pick('username') } : {}),
          ...(pick('password') ? { password: pick('password') } : {}),
          ...(pick('identitytoken') ? { identitytoken: pick('identitytoken') } : {}),
        };
      }
    }
  }
  let credsStore: string | undefined;
  if (o.credsStore !== undefined && o.credsStore !== '') {
    if (typeof o.credsStore !== 'string' || !HELPER_NAME.test(o.credsStore))
      problems.push(`"credsStore" ${JSON.stringify(o.credsStore)} is not a helper name`);
    else credsStore = o.credsStore;
  }
  const credHelpers: Record<string, string> = {};
  if (o.credHelpers !== undefined) {
    if (typeof o.credHelpers !== 'object' || o.credHelpers === null) problems.push('"credHelpers" is not an object');
    else {
      for (const [key, helper] of Object.entries(o.credHelpers as Record<string, unknown>)) {
        if (typeof helper !== 'string' || !HELPER_NAME.test(helper))
          problems.push(`"credHelpers" entry ${JSON.stringify(key)} is not a helper name`);
        else credHelpers[key] = helper;
      }
    }
  }
  if (problems.length) return failed(problems.map((message) => ({ file, message })));
  return ok({ auths, credsStore, credHelpers });
}

// A helper's name becomes part of a program name (docker-credential-<name>): no paths, no spaces.
const HELPER_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;

/** Where the credentials of `registry` come from, in the docker CLI's order: credHelpers, credsStore, auths. */
export function credentialSourceFor(config: DockerConfig, registry: string): CredentialSource {
  const serverAddress = registry === 'docker.io' ? DOCKER_HUB_KEY : registry;
  const helperKey = Object.keys(config.credHelpers).find((k) => hostOfKey(k) === registry);
  if (helperKey) return { kind: 'helper', helper: config.credHelpers[helperKey]!, serverAddress };
  if (config.credsStore) return { kind: 'helper', helper: config.credsStore, serverAddress };
  const authKey = Object.keys(config.auths).find((k) => hostOfKey(k) === registry);
  if (!authKey) return { kind: 'none' };
  const entry = config.auths[authKey]!;
  const decoded = entry.auth ? decodeAuth(entry.auth) : undefined;
  const username = decoded?.username ?? entry.username;
  const password = decoded?.password ?? entry.password;
  if (!username && !entry.identitytoken) return { kind: 'none' };
  return {
    kind: 'inline',
    serverAddress,
    ...(username ? { username } : {}),
    ...(password ? { password } : {}),
    ...(entry.identitytoken ? { identityToken: entry.identitytoken } : {}),
  };
}

/** An `auth` value: base64 of `user:password` (the password may itself hold colons). */
export function decodeAuth(auth: string): InlineCredentials | undefined {
  const text = Buffer.from(auth, 'base64').toString('utf8');
  const colon = text.indexOf(':');
  if (colon <= 0) return undefined;
  return { username: text.slice(0, colon), password: text.slice(colon + 1) };
}

/**
 * A credential helper's answer to `get` ({"ServerURL", "Username", "Secret"}). A Username of
 * `<token>` means the Secret is an identity token, as the docker CLI reads it.
 */
export function parseHelperAnswer(
  text: string,
): { username?: string; password?: string; identityToken?: string } | undefined {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (typeof raw !== 'object' || raw === null) return undefined;
  const { Username, Secret } = raw as { Username?: unknown; Secret?: unknown };
  if (typeof Secret !== 'string') return undefined;
  if (Username === '<token>') return { identityToken: Secret };
  if (typeof Username !== 'string') return undefined;
  return { username: Username, password: Secret };
}
