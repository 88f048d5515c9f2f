// Shared pieces of the udp tests: the backend driven inside a namespace (udp-driver.ts, one
// process per node, commands over stdin), the Flannel udp peer compiled from
// test/support/flannel-udp-peer.c, and whether the native data plane is built. Not a test file.
import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { run } from "../../../deploy/lab/tools/command.ts";
import { endProcessesSync, onExitOrSignal, processStartTime } from "../../../deploy/lab/tools/exit-guard.ts";
import { runStateDir } from "../../support/run-context.ts";
import type { DriverAnswer, DriverCommand } from "./udp-driver.ts";

const projectRoot = fileURLToPath(new URL("../../../", import.meta.url));
const driverPath = fileURLToPath(new URL("./udp-driver.ts", import.meta.url));
const peerSource = fileURLToPath(new URL("../../support/flannel-udp-peer.c", import.meta.url));

/** The addon's built module, when there is one (native/dgram-native/build/Release/*.node). */
export function builtAddon(): string | undefined {
  const dir = join(projectRoot, "native/dgram-native/build/Release");
  if (!existsSync(dir)) return undefined;
  const node = readdirSync(dir).find((file) => file.endsWith(".node"));
  return node === undefined ? undefined : join(dir, node);
}

/** Pass as `skip`: the data plane tests need the dgram-native addon built (npm ci builds it). */
export const needsAddon: string | false =
  builtAddon() === undefined || !existsSync(join(projectRoot, "node_modules/dgram-native")) ? "needs the dgram-native addon built and installed (npm ci)" : false;

const living = new Set<number>();
onExitOrSignal(() => endProcessesSync([...living]));

export interface UdpDriver {
  readonly pid: number;
  send(command: DriverCommand): Promise<unknown>;
  /** The driver's log so far (JSON lines). */
  log(): string;
  /** Closes the backend (unless `kill`) and waits for the process to end. */
  stop(kill?: boolean): Promise<void>;
}

export class DriverError extends Error {
  readonly code: string | undefined;
  readonly details: unknown;
  constructor(error: { code?: string; message: string; details?: unknown }) {
    super(error.message);
    this.code = error.code;
    this.details = error.details;
  }
}

/** Starts the udp backend driver inside namespace `ns`; with `snapshotFile`, it resumes from it and keeps it (udp-driver.ts). */
export function startDriver(ns: string, snapshotFile?: string): UdpDriver {
  const env = { ...process.env, FLANNEL_TEST_SNAPSHOT: snapshotFile ?? "" };
  const child = spawn("ip", ["netns", "exec", ns, process.execPath, driverPath], { stdio: ["pipe", "pipe", "pipe"], env });
  const pid = child.pid!;
  living.add(pid);
  writeFileSync(join(runStateDir, "pids", String(pid)), `${processStartTime(pid) ?? ""}\n`);
  let stderr = "";
  child.stderr.setEncoding("utf8").on("data", (chunk: string) => (stderr += chunk));
  const exited = new Promise<void>((resolve) =>
    child.once("exit", () => {
      living.delete(pid);
      rmSync(join(runStateDir, "pids", String(pid)), { force: true });
      resolve();
    }),
  );
  const answers: ((answer: DriverAnswer) => void)[] = [];
  createInterface({ input: child.stdout }).on("line", (line) => answers.shift()?.(JSON.parse(line) as DriverAnswer));
  let queue = Promise.resolve<unknown>(undefined);
  const send = (command: DriverCommand): Promise<unknown> => {
    const result = queue.then(
      () =>
        new Promise<unknown>((resolve, reject) => {
          if (child.exitCode !== null || child.signalCode !== null) return reject(new Error(`driver in ${ns} has exited:\n${stderr}`));
          const onExit = (): void => reject(new Error(`driver in ${ns} exited during ${command.op}:\n${stderr}`));
          child.once("exit", onExit);
          answers.push((answer) => {
            child.off("exit", onExit);
            if (answer.ok) resolve(answer.result);
            else reject(new DriverError(answer.error));
          });
          child.stdin.write(`${JSON.stringify(command)}\n`);
        }),
    );
    queue = result.catch(() => undefined);
    return result;
  };
  return {
    pid,
    send,
    log: () => stderr,
    async stop(kill = false) {
      if (child.exitCode === null && child.signalCode === null) {
        if (kill) child.kill("SIGKILL");
        else await send({ op: "close" }).catch(() => child.kill("SIGKILL"));
      }
      child.stdin.end();
      await exited;
    },
  };
}

/** Compiles test/support/flannel-udp-peer.c into a temporary directory; returns the binary and a remover. */
export async function compileFlannelUdpPeer(): Promise<{ readonly binary: string; remove(): void }> {
  const dir = mkdtempSync(join(tmpdir(), "flannel-udp-peer-"));
  const binary = join(dir, "flannel-udp-peer");
  await run(["gcc", "-O2", "-Wall", "-Werror", "-o", binary, peerSource]);
  return { binary, remove: () => rmSync(dir, { recursive: true, force: true }) };
}
