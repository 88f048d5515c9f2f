// Reading stdin and writing stdout/stderr with plain synchronous fd calls. process.stdin/stdout/
// stderr are avoided on purpose: creating those streams for a pipe loads node:net and costs
// milliseconds at every pod start, and nothing may be left buffered in a stream when the process
// is replaced by execve. A runtime may hand us non-blocking pipes, so EAGAIN waits and retries.
import { readSync, writeSync } from "node:fs";

function pause(): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 1);
}

function isAgain(error: unknown): boolean {
  return typeof error === "object" && error !== null && "code" in error && error.code === "EAGAIN";
}

export function readStdin(): string {
  const chunks: Buffer[] = [];
  const chunk = Buffer.allocUnsafe(64 * 1024);
  for (;;) {
    let count: number;
    try {
      count = readSync(0, chunk, 0, chunk.length, null);
    } catch (error) {
      if (isAgain(error)) {
        pause();
        continue;
      }
      throw error;
    }
    if (count === 0) return Buffer.concat(chunks).toString("utf8");
    chunks.push(Buffer.from(chunk.subarray(0, count)));
  }
}

export function writeFd(fd: number, text: string): void {
  let bytes = Buffer.from(text, "utf8");
  while (bytes.length > 0) {
    try {
      bytes = bytes.subarray(writeSync(fd, bytes));
    } catch (error) {
      if (!isAgain(error)) throw error;
      pause();
    }
  }
}
