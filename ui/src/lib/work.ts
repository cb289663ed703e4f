// Progress of the work behind an action or a sync, from core's ProgressEvents: the current
// step, the count under way (copying, checking, reading, deleting), the commit (the point of
// no return) and any wait on a CDN — folded into what a dialog shows, and said in words.
import type { ProgressEvent, Task } from "./bindings";
import { count } from "./format";

export type WorkProgress = {
  step: string | null;
  count: { task: Task; subject: string; done: number; total: number } | null;
  committed: { app: string; seq: number } | null;
  waiting: { what: string; seconds: number } | null;
};

export const idleWork: WorkProgress = { step: null, count: null, committed: null, waiting: null };

export function foldWork(p: WorkProgress, e: ProgressEvent): WorkProgress {
  switch (e.phase) {
    case "step":
      return { ...p, step: e.name, count: null, waiting: null };
    case "counting":
      return { ...p, count: { task: e.task, subject: e.subject, done: e.done, total: e.total } };
    case "committed":
      return { ...p, committed: { app: e.app, seq: e.seq } };
    case "waiting":
      return { ...p, waiting: { what: e.what, seconds: e.seconds } };
    case "hashing":
    case "uploading":
      return p;
  }
}

const verbs: Record<Task, string> = {
  copying: "Copying the files of",
  checking: "Checking the files of",
  reading: "Reading new log entries of",
  deleting: "Deleting unreferenced files in",
  ingesting: "Reading the CDN logs in",
};

/** The progress in words, one line each, for a live region. */
export function describeWork(p: WorkProgress): string[] {
  const out: string[] = [];
  if (p.step) out.push(p.step[0].toUpperCase() + p.step.slice(1));
  if (p.count) out.push(`${verbs[p.count.task]} ${p.count.subject}: ${count(p.count.done)} of ${count(p.count.total)}`);
  if (p.committed) out.push(`Committed as seq ${p.committed.seq} of ${p.committed.app}: the change has happened.`);
  if (p.waiting) out.push(`Waiting for ${p.waiting.what} (${p.waiting.seconds} s so far)`);
  return out;
}
