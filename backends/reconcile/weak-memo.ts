// Answers kept with the object they were computed from. Every reconcile asks again about every
// peer (its Peer record, its VTEP MAC); a lease and its backend data are one unchanging object for
// the lease's life (a changed lease arrives as a new object), so the first answer serves until
// the object is dropped — weakly held, it goes with it.
export function weakMemo<K extends object, V>(compute: (key: K) => V): (key: K) => V {
  const answers = new WeakMap<K, V>();
  return (key) => {
    if (answers.has(key)) return answers.get(key) as V;
    const answer = compute(key);
    answers.set(key, answer);
    return answer;
  };
}
