import { splitImageReference, type LaunchConfig } from '#contracts';

/**
 * What a config runs or reaches, for the diff to compare: a package, an image, a command, or a
 * remote origin. Most configs imported from Claude Desktop or `.mcp.json` files are a runner and a
 * package in its arguments (`npx -y @scope/server@1.2.0`, `uvx server==1.0`, `docker run … image`),
 * so the runner alone would let a version swap the package for another one unflagged; the package
 * is read out of the arguments, its version left out (a new version of the same package is what
 * versions are for). Reading a command line is a best effort: what it cannot place it leaves as
 * the command, as before.
 */
export function launchTarget(c: LaunchConfig): string {
  if (c.type !== 'stdio') return `${c.type} server at ${URL.canParse(c.url) ? new URL(c.url).origin : c.url}`;
  return stdioTarget(c) + reaching(c.args);
}

function stdioTarget(c: Extract<LaunchConfig, { type: 'stdio' }>): string {
  if (c.package) return `${c.package.registry_type} package ${c.package.identifier}`;
  const command = c.command!;
  const runner = runnerOf(command);
  const found = packageInArgs(runner, c.args);
  if (!found) return `command '${command}'`;
  // `npx x` is the same target as the package reference x (what the export writes); a runner
  // given by its path is named, as another path is another program.
  return `${found.kind} package ${found.name}${command === runner ? '' : ` (run by '${command}')`}`;
}

/**
 * The origins of the http(s) URLs among the arguments (`mcp-remote https://…`, `--url=https://…`):
 * a local bridge to a remote server sends the user's calls there, so another host is another
 * target, as it is for a remote config.
 */
function reaching(args: string[]): string {
  const origins = new Set<string>();
  for (const [i, arg] of args.entries()) {
    // Where a package is fetched from is its source (`from`), not a server it reaches.
    if (SOURCE_OPTIONS.has(args[i - 1]) || SOURCE_OPTIONS.has(arg.split('=')[0])) continue;
    const value = /^https?:\/\//i.test(arg) ? arg : /^-[^=]*=(https?:\/\/.*)$/i.exec(arg)?.[1];
    if (value !== undefined && URL.canParse(value)) origins.add(new URL(value).origin);
  }
  return origins.size ? ` reaching ${[...origins].sort().join(', ')}` : '';
}

/** The program a command names: its file name, lower-cased, without a Windows extension (`C:\\…\\npx.cmd` → `npx`). */
function runnerOf(command: string): string {
  return /([^/\\]+?)(?:\.(?:cmd|exe|bat))?$/i.exec(command)?.[1].toLowerCase() ?? command;
}

/**
 * A `docker run` (or podman) command line: the options before the image, the image, and whether
 * `run` is docker's own subcommand (only options before it) rather than one further along.
 */
function containerRun(runner: string, args: string[]): { options: string[]; image?: string; subcommand: boolean } | undefined {
  const run = args.indexOf('run');
  if ((runner !== 'docker' && runner !== 'podman') || run < 0) return undefined;
  const subcommand = args.slice(0, run).every((a) => a.startsWith('-'));
  const op = firstOperand(args, DOCKER_VALUED, run + 1);
  return op ? { options: op.options, image: op.value, subcommand } : { options: args.slice(run + 1), subcommand };
}

type Found = { kind: 'npm' | 'pypi' | 'oci'; name: string } | undefined;

/** Options naming the registry or index a package comes from. */
const SOURCE_OPTIONS = new Set(['--registry', '--index-url', '-i', '--index', '--default-index', '--extra-index-url']);

/** A package from another registry or index than the default is another source of code: part of the target. */
const from = (source: string | undefined) => (source ? ` from ${source}` : '');

/** Options of the runners that take the next argument as their value (so it is not the package). */
const NPX_VALUED = new Set(['-p', '--package', '-c', '--call', '--registry', '--cache', '--userconfig', '-w', '--workspace']);
const UVX_VALUED = new Set([
  '--from',
  '--with',
  '--with-editable',
  '--with-requirements',
  '--python',
  '-p',
  '--index',
  '--index-url',
  '--extra-index-url',
  '--default-index',
  '-i',
  '--spec',
  '--directory',
  '--constraints',
  '--overrides',
]);
const DOCKER_VALUED = new Set([
  '-e',
  '--env',
  '--env-file',
  '-v',
  '--volume',
  '--mount',
  '--name',
  '--network',
  '--net',
  '-p',
  '--publish',
  '-w',
  '--workdir',
  '-u',
  '--user',
  '--entrypoint',
  '-l',
  '--label',
  '--platform',
  '-m',
  '--memory',
  '--cpus',
  '--add-host',
  '--cap-add',
  '--cap-drop',
  '--device',
  '--security-opt',
  '--tmpfs',
  '--ulimit',
  '--pull',
  '-h',
  '--hostname',
  '--restart',
  '--log-driver',
  '--log-opt',
  '--pid',
  '--ipc',
  '--uts',
  '--userns',
  '--cgroupns',
  '--runtime',
  '--gpus',
  '--shm-size',
  '--stop-signal',
  '--health-cmd',
  '--dns',
  '--group-add',
]);

/** The first argument that is neither an option nor an option's value, from `start`. */
function firstOperand(args: string[], valued: Set<string>, start = 0): { value: string; options: string[] } | undefined {
  const options: string[] = [];
  for (let i = start; i < args.length; i++) {
    const a = args[i];
    if (a === '--') return args[i + 1] === undefined ? undefined : { value: args[i + 1], options };
    if (!a.startsWith('-') || a === '-') return { value: a, options };
    options.push(a);
    if (valued.has(a)) options.push(args[++i] ?? '');
  }
  return undefined;
}

/** A value of an option (`--from x` or `--from=x`) among the options read. */
function optionValue(options: string[], names: string[]): string | undefined {
  for (let i = 0; i < options.length; i++) {
    if (names.includes(options[i])) return options[i + 1];
    const eq = names.find((n) => options[i].startsWith(`${n}=`));
    if (eq) return options[i].slice(eq.length + 1);
  }
  return undefined;
}

/** An npm package spec without its version: `@scope/name@1.2.0` → `@scope/name`. */
const npmName = (spec: string) => spec.replace(/^(@?[^@]+)@.*$/, '$1');
/** A PyPI requirement without its version or extras: `name[cli]==1.0` → `name`. */
const pypiName = (spec: string) => spec.split(/[[=<>~!@;\s]/)[0];

function packageInArgs(runner: string, args: string[]): Found {
  switch (runner) {
    case 'npx':
    case 'bunx':
    case 'pnpx': {
      const op = firstOperand(args, NPX_VALUED);
      // `npx -p pkg bin`: the package is the option's value, the operand a binary in it.
      const spec = (op && optionValue(op.options, ['-p', '--package'])) ?? op?.value;
      return spec ? { kind: 'npm', name: npmName(spec) + from(optionValue(op!.options, ['--registry'])) } : undefined;
    }
    case 'pnpm':
    case 'yarn':
    case 'npm': {
      const sub = args[0];
      if (!['dlx', 'exec', 'x'].includes(sub)) return undefined;
      const op = firstOperand(args, NPX_VALUED, 1);
      const spec = (op && optionValue(op.options, ['-p', '--package'])) ?? op?.value;
      return spec ? { kind: 'npm', name: npmName(spec) + from(optionValue(op!.options, ['--registry'])) } : undefined;
    }
    case 'uvx':
    case 'pipx':
    case 'uv': {
      // uvx pkg, uv tool run pkg, uv run --with … (no package: left as the command), pipx run pkg.
      const start =
        runner === 'uvx'
          ? 0
          : runner === 'pipx' && args[0] === 'run'
            ? 1
            : runner === 'uv' && args[0] === 'tool' && args[1] === 'run'
              ? 2
              : -1;
      if (start < 0) return undefined;
      const op = firstOperand(args, UVX_VALUED, start);
      const spec = (op && optionValue(op.options, ['--from', '--spec'])) ?? op?.value;
      const index = op && optionValue(op.options, ['--index-url', '-i', '--index', '--default-index', '--extra-index-url']);
      return spec ? { kind: 'pypi', name: pypiName(spec) + from(index) } : undefined;
    }
    case 'docker':
    case 'podman': {
      const run = containerRun(runner, args);
      return run?.subcommand && run.image !== undefined ? { kind: 'oci', name: splitImageReference(run.image).identifier } : undefined;
    }
    default:
      return undefined;
  }
}

/** docker run options that give a container more of the host (each with its value, as `--opt value`). */
const PRIVILEGED_FLAGS = new Set(['--privileged']);
const PRIVILEGED_VALUED = new Set(['--cap-add', '--device', '-v', '--volume', '--mount', '--security-opt', '--gpus']);
const HOST_NAMESPACES = new Set(['--network', '--net', '--pid', '--ipc', '--uts', '--userns', '--cgroupns']);

/**
 * What of the host a `docker run` (or podman) config gives its container: `--privileged`, added
 * capabilities, devices, mounts, host namespaces (`--network host`), security options, root. A
 * new version that asks for more is a change the reviewer must see like a new secret.
 */
export function containerPrivileges(c: LaunchConfig): string[] {
  if (c.type !== 'stdio' || !c.command) return [];
  const options = containerRun(runnerOf(c.command), c.args)?.options ?? [];
  const found: string[] = [];
  for (let i = 0; i < options.length; i++) {
    const eq = options[i].indexOf('=');
    const [name, inline] = eq > 0 ? [options[i].slice(0, eq), options[i].slice(eq + 1)] : [options[i], undefined];
    const value = inline ?? (DOCKER_VALUED.has(name) ? options[++i] : undefined);
    if (PRIVILEGED_FLAGS.has(name) && value !== 'false') found.push(name);
    else if (PRIVILEGED_VALUED.has(name)) found.push(`${name} ${value ?? ''}`.trim());
    else if (HOST_NAMESPACES.has(name) && value === 'host') found.push(`${name} host`);
    else if ((name === '-u' || name === '--user') && value !== undefined && /^(?:root|0)(?::|$)/.test(value))
      found.push(`${name} ${value}`);
  }
  return found;
}
