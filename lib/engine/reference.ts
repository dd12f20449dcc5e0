// Image references by the grammar the engine and registries use (the distribution "reference"
// package): [host[:port]/]path[:tag][@digest]. Parsed here so that a name the engine would read
// differently (`a:b:c`, `a@b`, upper case) is refused before building, with the reason.

export interface ImageReference {
  /** Everything before the tag and digest: `registry:5000/team/model`. */
  name: string;
  domain: string | undefined;
  path: string;
  tag: string | undefined;
  digest: string | undefined;
}

export type ReferenceResult = { ok: true; value: ImageReference } | { ok: false; reason: string };

const NAME_MAX = 255;
const PATH_COMPONENT = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/;
const DOMAIN_COMPONENT = /^(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])$/;
const IPV6 = /^\[[a-fA-F0-9:]+\]$/;
const TAG = /^[\w][\w.-]{0,127}$/;
const DIGEST = /^[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}$/;

export function parseImageReference(ref: string): ReferenceResult {
  const fail = (reason: string): ReferenceResult => ({ ok: false, reason });
  if (ref === '') return fail('it is empty');
  let rest = ref;
  let digest: string | undefined;
  const at = rest.indexOf('@');
  if (at >= 0) {
    digest = rest.slice(at + 1);
    rest = rest.slice(0, at);
    if (digest.includes('@')) return fail('it has more than one @ (only a digest follows an @)');
    if (!DIGEST.test(digest))
      return fail(
        `${JSON.stringify(digest)} after the @ is not a digest (algorithm:hex, e.g. sha256: and 64 hex digits)`,
      );
    if (digest.startsWith('sha256:') && !/^sha256:[0-9a-f]{64}$/.test(digest))
      return fail('a sha256 digest is 64 lower-case hex digits');
  }
  let tag: string | undefined;
  const colon = rest.lastIndexOf(':');
  if (colon > rest.lastIndexOf('/')) {
    tag = rest.slice(colon + 1);
    rest = rest.slice(0, colon);
    if (!TAG.test(tag))
      return fail(
        `the tag ${JSON.stringify(tag)} is not valid (letters, digits, _ . -, not starting with . or -, at most 128)`,
      );
  }
  const name = rest;
  if (name === '') return fail('it has no name before the tag or digest');
  if (name.length > NAME_MAX) return fail(`the name is longer than ${NAME_MAX} characters`);

  // As the engine decides: the first part is a registry when it has a dot or a port, or is
  // localhost, or has upper case (which a repository path cannot have).
  const slash = name.indexOf('/');
  const first = slash < 0 ? '' : name.slice(0, slash);
  const isDomain = slash >= 0 && (/[.:]/.test(first) || first === 'localhost' || first !== first.toLowerCase());
  const domain = isDomain ? first : undefined;
  const path = isDomain ? name.slice(slash + 1) : name;
  if (domain !== undefined) {
    const reason = domainProblem(domain);
    if (reason) return fail(reason);
  }
  for (const component of path.split('/')) {
    if (component === '') return fail(`the name ${JSON.stringify(name)} has an empty part between slashes`);
    if (PATH_COMPONENT.test(component)) continue;
    if (component !== component.toLowerCase())
      return fail(`${JSON.stringify(component)} has upper case: repository names are lower case`);
    if (component.includes(':'))
      return fail(`${JSON.stringify(component)} has a colon: a colon only separates the tag, or a registry's port`);
    return fail(
      `${JSON.stringify(component)} is not a name component (lower-case letters and digits, joined by . _ __ or -)`,
    );
  }
  return { ok: true, value: { name, domain, path, tag, digest } };
}

function domainProblem(domain: string): string | undefined {
  const portAt = domain.startsWith('[') ? domain.indexOf(']:') + 1 : domain.lastIndexOf(':');
  const host = portAt > 0 ? domain.slice(0, portAt) : domain;
  const port = portAt > 0 ? domain.slice(portAt + 1) : undefined;
  if (port !== undefined && !/^[0-9]+$/.test(port))
    return `the registry ${JSON.stringify(domain)} has a port that is not a number`;
  if (IPV6.test(host)) return undefined;
  if (!host.split('.').every((c) => DOMAIN_COMPONENT.test(c)))
    return `the registry ${JSON.stringify(domain)} is not a host name`;
  return undefined;
}
