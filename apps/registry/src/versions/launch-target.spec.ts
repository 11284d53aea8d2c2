import type { LaunchConfig } from '#contracts';
import { launchTarget } from './launch-target';
import { diffVersions } from './version-diff';

const cmd = (command: string, ...args: string[]): LaunchConfig => ({ type: 'stdio', command, args, env: [] });
const digest = 'sha256:' + 'ab'.repeat(32);

describe('launch target of a command line', () => {
  it.each([
    [cmd('npx', '-y', '@modelcontextprotocol/server-filesystem', '/Users/alice'), 'npm package @modelcontextprotocol/server-filesystem'],
    [cmd('npx', '-y', '@modelcontextprotocol/server-filesystem@2025.8.21', '/srv'), 'npm package @modelcontextprotocol/server-filesystem'],
    [cmd('npx', '--yes', 'mcp-remote@0.1.29', 'https://x.example/mcp'), 'npm package mcp-remote reaching https://x.example'],
    [
      cmd('python', 'bridge.py', '--url=https://b.example/mcp', 'http://localhost:8080/x'),
      "command 'python' reaching http://localhost:8080, https://b.example",
    ],
    [cmd('npx', '-p', '@acme/tools', 'acme-mcp'), 'npm package @acme/tools'],
    [cmd('npx', '--package=@acme/tools@2', 'acme-mcp'), 'npm package @acme/tools'],
    [cmd('pnpm', 'dlx', 'server-x@1.0.0'), 'npm package server-x'],
    [cmd('bunx', 'server-x'), 'npm package server-x'],
    [cmd('uvx', 'mcp-server-time==2025.9.25', '--local-timezone', 'UTC'), 'pypi package mcp-server-time'],
    [cmd('uvx', '--from', 'mcp-server-git[cli]>=1.0', 'mcp-server-git'), 'pypi package mcp-server-git'],
    [cmd('uv', 'tool', 'run', '--python', '3.12', 'mcp-server-fetch'), 'pypi package mcp-server-fetch'],
    [cmd('pipx', 'run', 'mcp-server-fetch'), 'pypi package mcp-server-fetch'],
    [
      cmd(
        'docker',
        'run',
        '-i',
        '--rm',
        '-e',
        'GITHUB_PERSONAL_ACCESS_TOKEN',
        '-v',
        '/data:/data',
        'ghcr.io/github/github-mcp-server:0.16.0',
      ),
      'oci package ghcr.io/github/github-mcp-server',
    ],
    [cmd('docker', 'run', '-i', '--rm', '--name=gh', `mcp/time@${digest}`), 'oci package mcp/time'],
    [cmd('/usr/local/bin/npx', '-y', 'server-x'), "npm package server-x (run by '/usr/local/bin/npx')"],
    [cmd('node', '/opt/server/index.js'), "command 'node'"],
    [cmd('npx'), "command 'npx'"],
    [cmd('npm', 'install'), "command 'npm'"],
    [cmd('docker', 'ps'), "command 'docker'"],
    [cmd('uv', 'run', 'server.py'), "command 'uv'"],
  ])('%j → %s', (config, target) => {
    expect(launchTarget(config)).toBe(target);
  });

  it('is the same for a package reference and the command line its export writes', () => {
    const pkg: LaunchConfig = {
      type: 'stdio',
      package: { registry_type: 'npm', identifier: '@acme/weather', version: '1.0.0' },
      args: [],
      env: [],
    };
    expect(launchTarget(pkg)).toBe(launchTarget(cmd('npx', '-y', '@acme/weather@1.0.0')));
  });

  it('lets the diff flag a package swapped behind the same runner, not a new version of it', () => {
    const warn = (from: LaunchConfig, to: LaunchConfig) =>
      diffVersions('1.0.0', '1.1.0', { config: from, manifest: null }, { config: to, manifest: null }).warnings;
    const fs = (spec: string) => cmd('npx', '-y', spec, '/srv');
    expect(warn(fs('@modelcontextprotocol/server-filesystem@1.0.0'), fs('@modelcontextprotocol/server-filesystem@1.1.0'))).toEqual([]);
    expect(warn(fs('@modelcontextprotocol/server-filesystem'), fs('@modelcontextprotoco1/server-filesystem'))).toEqual([
      'launch target changed: npm package @modelcontextprotocol/server-filesystem → npm package @modelcontextprotoco1/server-filesystem',
    ]);
    // A bridge to a remote server (mcp-remote) sending the calls to another host.
    expect(
      warn(cmd('npx', '-y', 'mcp-remote', 'https://mcp.example.com/sse'), cmd('npx', '-y', 'mcp-remote', 'https://mcp.example.net/sse')),
    ).toEqual([
      'launch target changed: npm package mcp-remote reaching https://mcp.example.com → npm package mcp-remote reaching https://mcp.example.net',
    ]);
    expect(
      warn(cmd('npx', '-y', 'mcp-remote', 'https://mcp.example.com/sse'), cmd('npx', '-y', 'mcp-remote', 'https://mcp.example.com/mcp')),
    ).toEqual([]);
    expect(warn(cmd('docker', 'run', '-i', 'mcp/time:1'), cmd('docker', 'run', '-i', 'evil/time:1'))).toEqual([
      'launch target changed: oci package mcp/time → oci package evil/time',
    ]);
  });
});

describe('sources and container privileges', () => {
  const warn = (from: LaunchConfig, to: LaunchConfig) =>
    diffVersions('1.0.0', '1.1.0', { config: from, manifest: null }, { config: to, manifest: null }).warnings;

  it('counts another registry or index as another source of the package', () => {
    expect(launchTarget(cmd('npx', '-y', '--registry=https://npm.evil.example', 'server-x'))).toBe(
      'npm package server-x from https://npm.evil.example',
    );
    expect(launchTarget(cmd('uvx', '--index-url', 'https://pypi.evil.example/simple', 'mcp-server-fetch'))).toBe(
      'pypi package mcp-server-fetch from https://pypi.evil.example/simple',
    );
    expect(warn(cmd('npx', '-y', 'server-x@1'), cmd('npx', '-y', '--registry', 'https://npm.evil.example', 'server-x@1'))).toEqual([
      'launch target changed: npm package server-x → npm package server-x from https://npm.evil.example',
    ]);
  });

  it('flags a container given more of the host, not one given the same or less', () => {
    const base = ['run', '-i', '--rm', '-e', 'TOKEN'];
    const image = 'ghcr.io/acme/server:1.0.0';
    const docker = (...options: string[]) => cmd('docker', ...base, ...options, image, '--verbose');
    expect(warn(docker(), docker('--read-only', '--name', 'x'))).toEqual([]);
    expect(
      warn(
        docker('-v', '/srv/data:/data'),
        docker('-v', '/srv/data:/data', '--privileged', '--volume=/:/host', '--network', 'host', '--cap-add=SYS_ADMIN', '-u', '0:0'),
      ),
    ).toEqual(['gives the container more of the host: --privileged, --volume /:/host, --network host, --cap-add SYS_ADMIN, -u 0:0']);
    expect(warn(docker('--privileged', '--pid=host'), docker())).toEqual([]);
    // A host namespace given as a separate argument is an option's value, not the image.
    expect(launchTarget(docker('--uts', 'host', '--userns', 'host'))).toBe('oci package ghcr.io/acme/server');
    expect(warn(docker(), docker('--uts', 'host'))).toEqual(['gives the container more of the host: --uts host']);
    // Options after the image are the server's own, not docker's.
    expect(warn(docker(), cmd('docker', ...base, image, '--privileged'))).toEqual([]);
  });
});
