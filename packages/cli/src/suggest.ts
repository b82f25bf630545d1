/** Edit distance (insertions, deletions, substitutions, adjacent swaps) between two short words. */
function distance(a: string, b: string): number {
  const d: number[][] = Array.from({ length: a.length + 1 }, (_, i) => [
    i,
    ...Array<number>(b.length).fill(0),
  ]);
  for (let j = 1; j <= b.length; j++) d[0]![j] = j;
  for (let i = 1; i <= a.length; i++)
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let best = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1])
        best = Math.min(best, d[i - 2]![j - 2]! + 1);
      d[i]![j] = best;
    }
  return d[a.length]![b.length]!;
}

/**
 * The candidate a mistyped word most likely meant (`stat` -> `stats`, `inpsect` -> `inspect`,
 * `dead` -> `dead-letters`), or undefined when none is close: a guess that is far off helps less
 * than none.
 */
export function closest(word: string, candidates: readonly string[]): string | undefined {
  const w = word.toLowerCase();
  if (w.length >= 3) {
    const prefixed = candidates.filter((c) => c.startsWith(w));
    if (prefixed.length === 1) return prefixed[0];
  }
  let best: string | undefined;
  let bestDistance = Math.max(1, Math.floor(w.length / 3));
  for (const c of candidates) {
    const dist = distance(w, c);
    if (dist <= bestDistance && (best === undefined || dist < bestDistance)) {
      best = c;
      bestDistance = dist;
    }
  }
  return best;
}

/** ` (did you mean "stats"?)`, or nothing. */
export function didYouMean(word: string, candidates: readonly string[], quote = true): string {
  const match = closest(word, candidates);
  if (match === undefined) return "";
  return ` (did you mean ${quote ? JSON.stringify(match) : match}?)`;
}
