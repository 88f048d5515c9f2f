// What both change feeds keep of the events their monitor printed (change-feed.ts for
// `ip monitor`, rules/ruleset-feed.ts for `nft monitor`): each filed event numbered, the last
// number per key, and the monitor's generation. A stamp vouches for the time after it only while
// the same monitor listened throughout, so that "nothing filed since" can mean "nothing changed".

/** A point in a feed's history: events after it count for changedSince(). */
export interface FeedStamp {
  readonly generation: number;
  readonly sequence: number;
  /** False when the feed could not vouch for the time after this stamp (not yet listening). */
  readonly trusted: boolean;
}

/** The key under which a line that could not be filed is kept: it changes every key. */
const anyKey = "*";

export class EventLedger {
  #generation = 0;
  #sequence = 0;
  readonly #lastOf = new Map<string, number>();

  get generation(): number {
    return this.#generation;
  }

  /** A new monitor: stamps taken while the previous one ran no longer vouch. */
  nextGeneration(): number {
    return ++this.#generation;
  }

  /** Files an event under `key`; undefined for one that could be about anything (lost, unreadable). */
  file(key: string | undefined): void {
    this.#lastOf.set(key ?? anyKey, ++this.#sequence);
  }

  stamp(trusted: boolean): FeedStamp {
    return { generation: this.#generation, sequence: this.#sequence, trusted };
  }

  /**
   * True unless the monitor of `stamp` is the one still `listening` and nothing was filed since
   * under one of `keys` or under no key.
   */
  changedSince(stamp: FeedStamp | undefined, keys: readonly string[], listening: boolean): boolean {
    if (stamp === undefined || !stamp.trusted || !listening || stamp.generation !== this.#generation) return true;
    if ((this.#lastOf.get(anyKey) ?? 0) > stamp.sequence) return true;
    return keys.some((key) => (this.#lastOf.get(key) ?? 0) > stamp.sequence);
  }
}
