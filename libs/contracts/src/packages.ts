/**
 * What a version's package reference may name: one exact release of one package, in the form its
 * registry's installer takes. A version is immutable, so what it launches must not move: a range
 * (`^1.2.0`), a dist-tag or `latest` would launch different code next week under the same
 * content hash — the silent change of a tool's definition the registry flags everywhere else.
 * The names follow each registry's own rules, which also keeps them from reading as an option to
 * the installer that runs them (`npx -y <name>@<version>`, `uvx`, `docker run`).
 */

export type PackageRegistryType = 'npm' | 'pypi' | 'oci';

export interface PackageProblem {
  path: 'identifier' | 'version';
  message: string;
}

/** npm's rules for a new package name: lowercase, URL-safe, an optional scope, at most 214 characters. */
const NPM_NAME_RE = /^(?:@[a-z0-9][a-z0-9._~-]*\/)?[a-z0-9][a-z0-9._~-]*$/;
/** An exact SemVer 2.0.0 version (semver.org's pattern): what npm publishes. */
const SEMVER_RE =
  /^(?:0|[1-9]\d*)\.(?:0|[1-9]\d*)\.(?:0|[1-9]\d*)(?:-(?:0|[1-9]\d*|\d*[A-Za-z-][0-9A-Za-z-]*)(?:\.(?:0|[1-9]\d*|\d*[A-Za-z-][0-9A-Za-z-]*))*)?(?:\+[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*)?$/;
/** A PyPI project name (PEP 508). */
const PYPI_NAME_RE = /^[A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?$/;
/** One PEP 440 version, as pip and uv accept it (`2025.9.25`, `1.0rc1`, `1.0.post2`, `1!2.0`): no specifier. */
const PEP440_RE =
  /^(?:\d+!)?\d+(?:\.\d+)*(?:[-_.]?(?:a|b|c|rc|alpha|beta|pre|preview)[-_.]?\d*)?(?:-\d+|[-_.]?(?:post|rev|r)[-_.]?\d*)?(?:[-_.]?dev[-_.]?\d*)?(?:\+[a-z0-9]+(?:[-_.][a-z0-9]+)*)?$/i;
/** An image repository (the distribution reference grammar): an optional registry host[:port], then lowercase path components. */
const OCI_DOMAIN =
  '(?:[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*|\\[[0-9A-Fa-f:]+\\])(?::\\d+)?';
const OCI_COMPONENT = '[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*';
const OCI_REPOSITORY_RE = new RegExp(`^(?:${OCI_DOMAIN}/)?${OCI_COMPONENT}(?:/${OCI_COMPONENT})*$`);
const OCI_TAG_RE = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/;
const OCI_DIGEST_RE = /^(?:sha256:[a-f0-9]{64}|sha512:[a-f0-9]{128})$/;

function looksLikeRange(version: string): boolean {
  return /[\s<>=^~*|]|\.x\b|\bx\./i.test(version) || /^latest$/i.test(version);
}

/**
 * An image reference split into repository and tag or digest — `ghcr.io/o/r:1.2.0` or
 * `o/r@sha256:…` — as server.json (since its 2025-10-11 schema) writes an OCI package. A `:` after
 * the last `/` is a tag; one before it is the registry's port.
 */
export function splitImageReference(reference: string): { identifier: string; version?: string } {
  const at = reference.indexOf('@');
  if (at >= 0) return { identifier: reference.slice(0, at), version: reference.slice(at + 1) };
  const colon = reference.lastIndexOf(':');
  if (colon > reference.lastIndexOf('/')) return { identifier: reference.slice(0, colon), version: reference.slice(colon + 1) };
  return { identifier: reference };
}

/** The full reference of an image at a version: a digest after `@`, a tag after `:`. */
export function imageReference(identifier: string, version: string): string {
  return `${identifier}${OCI_DIGEST_RE.test(version) ? '@' : ':'}${version}`;
}

/** What is wrong with a package reference, each problem with the field it is in; none when it names one exact release. */
export function packageProblems(p: { registry_type: PackageRegistryType; identifier: string; version: string }): PackageProblem[] {
  const problems: PackageProblem[] = [];
  const { identifier, version } = p;
  const unpinned = (example: string) =>
    `'${version}' is not one exact version: a version of a tool launches the same code every time, so name a release (e.g. ${example}), not a range or a tag that moves`;
  switch (p.registry_type) {
    case 'npm':
      if (identifier.length > 214 || !NPM_NAME_RE.test(identifier))
        problems.push({
          path: 'identifier',
          message: `'${identifier}' is not an npm package name (lowercase letters, digits, '-', '.', '_', '~', optionally under an @scope/, at most 214 characters)`,
        });
      if (!SEMVER_RE.test(version))
        problems.push({
          path: 'version',
          message: looksLikeRange(version) ? unpinned('1.4.2') : `'${version}' is not a semantic version (e.g. 1.4.2)`,
        });
      break;
    case 'pypi':
      if (!PYPI_NAME_RE.test(identifier))
        problems.push({
          path: 'identifier',
          message: `'${identifier}' is not a PyPI project name (letters, digits, '-', '.', '_', starting and ending with a letter or digit)`,
        });
      if (!PEP440_RE.test(version))
        problems.push({
          path: 'version',
          message: looksLikeRange(version) ? unpinned('2.1.0') : `'${version}' is not a PEP 440 version (e.g. 2.1.0)`,
        });
      break;
    case 'oci': {
      const split = splitImageReference(identifier);
      if (split.version !== undefined && OCI_REPOSITORY_RE.test(split.identifier))
        problems.push({
          path: 'identifier',
          message: `give the image without its tag or digest ('${split.identifier}') and put '${split.version}' in version`,
        });
      else if (identifier.length > 255 || !OCI_REPOSITORY_RE.test(identifier))
        problems.push({
          path: 'identifier',
          message: `'${identifier}' is not an image name ([registry/]path with lowercase path parts, e.g. ghcr.io/owner/server)`,
        });
      if (/^latest$/i.test(version)) problems.push({ path: 'version', message: unpinned('a tag such as v1.2.0 or a sha256: digest') });
      else if (!OCI_TAG_RE.test(version) && !OCI_DIGEST_RE.test(version))
        problems.push({
          path: 'version',
          message: `'${version}' is neither an image tag (letters, digits, '_', '.', '-', at most 128) nor a digest (sha256:<64 hex>)`,
        });
      break;
    }
    default: {
      const unreachable: never = p.registry_type;
      return unreachable;
    }
  }
  return problems;
}
