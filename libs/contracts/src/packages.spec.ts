import { imageReference, packageProblems, splitImageReference, type PackageRegistryType } from './packages';
import { publishVersionSchema } from './registry';

const problems = (registry_type: PackageRegistryType, identifier: string, version: string) =>
  packageProblems({ registry_type, identifier, version }).map((p) => `${p.path}: ${p.message}`);

describe('package references', () => {
  it.each([
    ['npm', '@modelcontextprotocol/server-filesystem', '2025.8.21'],
    ['npm', 'mcp-server-kubernetes', '1.0.0-beta.2+build.7'],
    ['npm', '@0livia/fs', '1.1.0'],
    ['pypi', 'mcp-server-time', '2025.9.25'],
    ['pypi', 'Django_MCP.server', '1.0rc1'],
    ['pypi', 'x', '1!2.0.post3.dev1'],
    ['oci', 'ghcr.io/github/github-mcp-server', 'v0.16.0'],
    ['oci', 'docker.io/mcp/postgres', 'sha256:' + 'ab12'.repeat(16)],
    ['oci', 'localhost:5000/team/server', '1.2'],
    ['oci', 'mcp/time', 'nightly_2025-12-01'],
  ] as const)('takes %s %s at %s', (type, identifier, version) => {
    expect(problems(type, identifier, version)).toEqual([]);
  });

  it('refuses what would launch different code later, saying to name a release', () => {
    for (const [type, version] of [
      ['npm', 'latest'],
      ['npm', '^1.2.0'],
      ['npm', '1.x'],
      ['npm', '>=1.0.0 <2'],
      ['pypi', '>=2.0'],
      ['pypi', '~=1.4'],
      ['pypi', '*'],
      ['oci', 'latest'],
      ['oci', 'LATEST'],
    ] as const) {
      const [problem] = problems(type, type === 'oci' ? 'mcp/time' : 'server', version);
      expect(problem).toMatch(
        new RegExp(`^version: '${version.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}' is not one exact version: .*name a release`),
      );
    }
  });

  it('names what each registry takes, for names and versions that are neither', () => {
    expect(problems('npm', 'Server', 'next')).toEqual([
      "identifier: 'Server' is not an npm package name (lowercase letters, digits, '-', '.', '_', '~', optionally under an @scope/, at most 214 characters)",
      "version: 'next' is not a semantic version (e.g. 1.4.2)",
    ]);
    // Read as an option by the installer that runs it (npx -y <name>@<version>).
    expect(problems('npm', '--registry=https://evil.example', '1.0.0')[0]).toMatch(/^identifier: .* is not an npm package name/);
    expect(problems('npm', 'v1', 'v1.0.0')).toEqual(["version: 'v1.0.0' is not a semantic version (e.g. 1.4.2)"]);
    expect(problems('pypi', '-e git+https://x.example/r', '1.0')[0]).toMatch(/^identifier: .* is not a PyPI project name/);
    expect(problems('pypi', 'mcp', 'one')).toEqual(["version: 'one' is not a PEP 440 version (e.g. 2.1.0)"]);
    expect(problems('oci', 'ghcr.io/Owner/Server', '1.0')[0]).toMatch(/^identifier: .* is not an image name/);
    expect(problems('oci', '--privileged', '1.0')[0]).toMatch(/^identifier: .* is not an image name/);
    expect(problems('oci', 'mcp/time', 'sha256:abc')).toEqual([
      "version: 'sha256:abc' is neither an image tag (letters, digits, '_', '.', '-', at most 128) nor a digest (sha256:<64 hex>)",
    ]);
  });

  it('asks for an image without its tag, with the tag in version', () => {
    expect(problems('oci', 'ghcr.io/github/github-mcp-server:v0.16.0', 'v0.16.0')).toEqual([
      "identifier: give the image without its tag or digest ('ghcr.io/github/github-mcp-server') and put 'v0.16.0' in version",
    ]);
    expect(problems('oci', 'localhost:5000/team/server', '1.2')).toEqual([]);
  });

  it('splits and joins image references: a tag after the last slash, a digest after @, a port before', () => {
    const digest = 'sha256:' + 'c0ffee00'.repeat(8);
    expect(splitImageReference('ghcr.io/o/r:1.2.0')).toEqual({ identifier: 'ghcr.io/o/r', version: '1.2.0' });
    expect(splitImageReference(`o/r@${digest}`)).toEqual({ identifier: 'o/r', version: digest });
    expect(splitImageReference('localhost:5000/o/r')).toEqual({ identifier: 'localhost:5000/o/r' });
    expect(splitImageReference('localhost:5000/o/r:2')).toEqual({ identifier: 'localhost:5000/o/r', version: '2' });
    expect(imageReference('o/r', '1.2.0')).toBe('o/r:1.2.0');
    expect(imageReference('o/r', digest)).toBe(`o/r@${digest}`);
  });

  it('are checked where a version is published, each problem at its field', () => {
    const r = publishVersionSchema.safeParse({
      version: '1.0.0',
      config: { type: 'stdio', package: { registry_type: 'npm', identifier: '@acme/server', version: 'latest' } },
    });
    expect(r.error?.issues.map((i) => i.path.join('.'))).toEqual(['config.package.version']);
  });
});
