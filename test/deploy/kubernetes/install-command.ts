// The install steps of kube-flannel.yml's init containers, read back from their command lines:
// `/bin/sh -c 'cp -f SOURCE TEMPORARY && mv -f TEMPORARY TARGET'`. The form is matched exactly
// (plain absolute paths, no quoting) so a test can reason about the paths; the same command line
// is also run for real by init-containers.test.ts.
import type { IContainer } from "kubernetes-models/v1";

export interface InstallStep {
  /** The container's argv: command followed by args, as the kubelet execs it. */
  readonly argv: readonly string[];
  readonly source: string;
  readonly temporary: string;
  readonly target: string;
}

const path = String.raw`(/[A-Za-z0-9._/-]+)`;
const script = new RegExp(String.raw`^cp -f ${path} ${path} && mv -f ${path} ${path}$`);

export function containerArgv(container: IContainer): string[] {
  return [...(container.command ?? []), ...(container.args ?? [])];
}

export function parseInstallCommand(container: IContainer): InstallStep {
  const argv = containerArgv(container);
  const [shell, flag, text, ...rest] = argv;
  if (shell !== "/bin/sh" || flag !== "-c" || text === undefined || rest.length > 0) {
    throw new Error(`${container.name}: expected ["/bin/sh", "-c", SCRIPT], got ${JSON.stringify(argv)}`);
  }
  const match = script.exec(text);
  if (match === null) throw new Error(`${container.name}: expected "cp -f SOURCE TMP && mv -f TMP TARGET", got ${JSON.stringify(text)}`);
  const [, source, temporary, moved, target] = match as unknown as [string, string, string, string, string];
  if (moved !== temporary) throw new Error(`${container.name}: mv moves ${moved}, but cp wrote ${temporary}`);
  return { argv, source, temporary, target };
}
