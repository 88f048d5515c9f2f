// The peer probes as the daemon starts them: the raw-socket transport (loaded here, by dynamic
// import, only when --peer-probe-interval is not 0) under the prober, fed with the data plane's
// peers. What the daemon needs: start once the backend is known, hand in a getter of the peer set
// (read once per probe round, so lease events cost the probes nothing), `peers()` / `onRtt` for
// /metrics, `close()` on the way out (also done on abort).
import type { BackendType, Peer } from "../../../backends/backend.ts";
import type { Log } from "../log.ts";
import { createProber, type ProbeStats } from "./prober.ts";
import { probeTargets } from "./targets.ts";

/**
 * The agent's probe budget. Measured on the 2-vCPU test machine with 5000 peers: 50 probes a
 * second cost an idle agent 3.8 % of a core (0.27 % with probes off), so 5 a second (≈ 0.4 %)
 * keeps an idle agent under 1 %; a round over 5000 peers then takes 1000 s, over 50 peers the
 * interval itself.
 */
export const defaultProbesPerSecond = 5;

export interface PeerProbeOptions {
  readonly backend: BackendType;
  /** --peer-probe-interval in ms (> 0; 0 means: do not start the probes at all). */
  readonly intervalMs: number;
  /** --peer-probe-unreachable-after in ms. */
  readonly unreachableAfterMs: number;
  /** Probes per second at most, whatever the peer count (default `defaultProbesPerSecond`). */
  readonly maxPerSecond?: number;
  readonly log: Log;
  /** The backend's peers now (peers of another backend type left out); read once per round. */
  readonly peers: () => readonly Peer[];
}

export interface PeerProbes extends ProbeStats {
  /** Idempotent. */
  close(): Promise<void>;
}

export async function startPeerProbes(options: PeerProbeOptions, signal?: AbortSignal): Promise<PeerProbes> {
  const { openIcmpTransport } = await import("./icmp-socket.ts");
  const prober = createProber(openIcmpTransport, {
    intervalMs: options.intervalMs,
    unreachableAfterMs: options.unreachableAfterMs,
    maxPerSecond: options.maxPerSecond ?? defaultProbesPerSecond,
    log: options.log,
    targets: () => probeTargets(options.peers(), options.backend),
  });
  signal?.addEventListener("abort", () => void prober.close(), { once: true });
  return {
    peers: () => prober.peers(),
    onRtt: (listener) => prober.onRtt(listener),
    close: () => prober.close(),
  };
}
