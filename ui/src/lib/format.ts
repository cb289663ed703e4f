// Numbers and times as people read them ("20 %", "3 h 12 min ago"); screens show the exact
// value on hover (the `title` attribute) next to each of these.

/** Basis points (0–10000) as a percentage: 2000 → "20 %", 50 → "0.5 %". */
export function percent(basisPoints: number): string {
  const p = basisPoints / 100;
  return `${Number.isInteger(p) ? p : p.toFixed(p < 1 ? 2 : 1).replace(/0+$/, "")} %`;
}

const UNITS = ["bytes", "KB", "MB", "GB", "TB"];

/** Bytes in decimal units: 1234567 → "1.2 MB". */
export function bytes(n: number): string {
  if (n < 1000) return `${n} ${n === 1 ? "byte" : "bytes"}`;
  let v = n;
  let u = 0;
  while (v >= 1000 && u < UNITS.length - 1) {
    v /= 1000;
    u++;
  }
  return `${v >= 100 ? v.toFixed(0) : v.toFixed(1)} ${UNITS[u]}`;
}

/** The exact count, grouped: 1234567 → "1,234,567". */
export function count(n: number): string {
  return n.toLocaleString("en-US");
}

/** A duration in words, two units at most: 11520 s → "3 h 12 min". */
export function duration(seconds: number): string {
  const s = Math.max(0, Math.round(seconds));
  if (s < 60) return `${s} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m} min`;
  const h = Math.floor(m / 60);
  if (h < 48) return m % 60 ? `${h} h ${m % 60} min` : `${h} h`;
  const d = Math.floor(h / 24);
  return h % 24 ? `${d} d ${h % 24} h` : `${d} d`;
}

/** How long ago `iso` was, from `now` (ms since the epoch): "3 h 12 min ago". */
export function ago(iso: string | null | undefined, now: number = Date.now()): string {
  if (!iso) return "—";
  const t = Date.parse(iso);
  if (Number.isNaN(t)) return iso;
  const diff = (now - t) / 1000;
  // A few seconds either way is clock skew between this desktop and whoever wrote it.
  if (Math.abs(diff) < 5) return "just now";
  if (diff < 0) return `in ${duration(-diff)}`;
  return `${duration(diff)} ago`;
}

/** The exact time for hover: the ISO text, in UTC. */
export function exact(iso: string | null | undefined): string {
  return iso ?? "";
}

/** "step 2 of 4" (core numbers steps from 1). */
export function step(n: number | null | undefined, steps: number | null | undefined): string {
  if (n == null || steps == null) return "";
  return `step ${n} of ${steps}`;
}

/** Shortens a hex hash for display: the first 12 characters. */
export function shortHash(hash: string): string {
  return hash.length > 12 ? `${hash.slice(0, 12)}…` : hash;
}
