// The KPI charts' interaction, pure so it is unit-tested: which point of a chart's hit map a
// pointer or an arrow key lands on, and how a verdict or health reads as a tone.

import type { Health, Hit } from "./bindings";

/** The hit under a pointer at (x, y) in the chart's own pixels: the nearest in time, and
 * among points drawn at that time (within 3 px) the nearest in height; `null` when none. */
export function nearestHit(hits: Hit[], x: number, y: number): number | null {
  if (hits.length === 0) return null;
  const dx = Math.min(...hits.map((h) => Math.abs(h.x - x)));
  let best: number | null = null;
  let bestDy = Infinity;
  hits.forEach((h, i) => {
    if (Math.abs(h.x - x) <= dx + 3 && Math.abs(h.y - y) < bestDy) {
      bestDy = Math.abs(h.y - y);
      best = i;
    }
  });
  return best;
}

/** Hits in reading order: by time, then from the top of the picture. */
export function ordered(hits: Hit[]): Hit[] {
  return [...hits].sort((a, b) => a.x - b.x || a.y - b.y);
}

/** The next index after `key` (ArrowLeft/Right, Home, End) among `n` points. */
export function step(index: number | null, key: string, n: number): number | null {
  if (n === 0) return null;
  const at = index ?? -1;
  switch (key) {
    case "ArrowRight":
    case "ArrowDown":
      return Math.min(n - 1, at + 1);
    case "ArrowLeft":
    case "ArrowUp":
      return index === null ? n - 1 : Math.max(0, at - 1);
    case "Home":
      return 0;
    case "End":
      return n - 1;
  }
  return index;
}

export type Tone = "ok" | "warn" | "danger" | "muted";

/** How a KPI verdict or a health state reads. */
export function tone(state: string): Tone {
  switch (state) {
    case "pass":
      return "ok";
    case "warn":
    case "warning":
    case "waiting":
    case "inconclusive":
      return "warn";
    case "fail":
      return "danger";
  }
  return "muted";
}

/** A health state in words for its badge. */
export function healthWord(state: string): string {
  switch (state) {
    case "pass":
      return "Healthy";
    case "warning":
      return "Warning";
    case "fail":
      return "Failing";
    case "waiting":
      return "Waiting for data";
  }
  return "No data";
}

/** Whether a channel's health asks for someone to look. */
export function needsAttention(h: Health | undefined): boolean {
  return !!h && (h.state === "fail" || h.state === "warning");
}
