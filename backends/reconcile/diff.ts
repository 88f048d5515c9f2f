// Desired-vs-actual diffing of kernel entries, written once for every backend and every kind of
// entry (routes, neighbours, FDB entries). Pure: it sees plain data and returns what to create,
// replace and remove; building command lines and counting outcomes happen elsewhere.
//
// Entries are grouped by a key that names the kernel object a `replace` would overwrite (a
// route's destination and metric, a neighbour's address, an FDB entry's MAC). Under one key the
// kernel may hold several entries (an appended route, say): one that matches is kept and the
// others go; when none matches, the first is replaced in place — the kernel rewrites the first
// one it finds — and the rest go. Entries under no desired key are removed only when the
// backend owns them, so nothing that does not belong to flannel is ever touched.

export interface DiffSpec<D, A> {
  readonly desired: readonly D[];
  readonly actual: readonly A[];
  desiredKey(entry: D): string;
  actualKey(entry: A): string;
  /** True when `actual` already is `desired` (what a replace would not change). */
  matches(desired: D, actual: A): boolean;
  /** Whether an entry under no desired key is flannel's to delete (a stale or foreign-looking one is not). */
  owned(actual: A): boolean;
}

export interface EntryDiff<D, A> {
  /** Desired entries with nothing under their key. */
  readonly create: readonly D[];
  /** Desired entries whose key holds only differing entries: `actual` is the one a replace rewrites. */
  readonly replace: readonly { readonly desired: D; readonly actual: A }[];
  /** Owned entries nobody wants any more, and surplus entries under a desired key. */
  readonly remove: readonly A[];
  /** Desired entries already in place. */
  readonly unchanged: readonly D[];
}

export function diffEntries<D, A>(spec: DiffSpec<D, A>): EntryDiff<D, A> {
  const byKey = new Map<string, A[]>();
  for (const entry of spec.actual) {
    const key = spec.actualKey(entry);
    const group = byKey.get(key);
    if (group === undefined) byKey.set(key, [entry]);
    else group.push(entry);
  }
  const create: D[] = [];
  const replace: { desired: D; actual: A }[] = [];
  const remove: A[] = [];
  const unchanged: D[] = [];
  const claimed = new Set<string>();
  for (const desired of spec.desired) {
    const key = spec.desiredKey(desired);
    // Two desired entries under one key cannot both hold; the first one wins (callers report the rest).
    if (claimed.has(key)) continue;
    claimed.add(key);
    const group = byKey.get(key);
    if (group === undefined) {
      create.push(desired);
      continue;
    }
    const first = group[0]!;
    // The common case, one entry under the key, without the allocations of the general one:
    // this loop runs for every peer on every reconcile.
    if (group.length === 1) {
      if (spec.matches(desired, first)) unchanged.push(desired);
      else replace.push({ desired, actual: first });
      continue;
    }
    const matching = group.findIndex((actual) => spec.matches(desired, actual));
    if (matching >= 0) {
      unchanged.push(desired);
      for (let index = 0; index < group.length; index++) if (index !== matching) remove.push(group[index]!);
    } else {
      replace.push({ desired, actual: first });
      for (let index = 1; index < group.length; index++) remove.push(group[index]!);
    }
  }
  for (const [key, group] of byKey) {
    if (claimed.has(key)) continue;
    for (const actual of group) if (spec.owned(actual)) remove.push(actual);
  }
  return { create, replace, remove, unchanged };
}
