// The publish screen's progress: core's ProgressEvents folded into what the bars show.
import type { ProgressEvent } from "./bindings";

export type PublishProgress = {
  step: string | null;
  hashing: { filesDone: number; filesTotal: number; bytesDone: number; bytesTotal: number } | null;
  uploading: { filesDone: number; filesTotal: number; bytesDone: number; bytesTotal: number; skipped: number } | null;
  /** The seq of the release's log entry once written: from then on a cancel is too late. */
  committed: number | null;
};

export const idle: PublishProgress = { step: null, hashing: null, uploading: null, committed: null };

export function fold(p: PublishProgress, e: ProgressEvent): PublishProgress {
  switch (e.phase) {
    case "step":
      return { ...p, step: e.name };
    case "hashing":
      return { ...p, hashing: { filesDone: e.filesDone, filesTotal: e.filesTotal, bytesDone: e.bytesDone, bytesTotal: e.bytesTotal } };
    case "uploading":
      return {
        ...p,
        uploading: { filesDone: e.filesDone, filesTotal: e.filesTotal, bytesDone: e.bytesDone, bytesTotal: e.bytesTotal, skipped: e.skipped },
      };
    case "committed":
      return { ...p, committed: e.seq, step: `Committed as seq ${e.seq}: the release is logged` };
    case "waiting":
      return { ...p, step: `Waiting for ${e.what} (${e.seconds} s)` };
    case "counting":
      return p;
  }
}

/** Checks the form before anything is sent; core checks again. */
export function formProblems(f: { app: string; bundle: string | null; version: string }): string[] {
  const out: string[] = [];
  if (!/^[a-z0-9][a-z0-9._-]{0,63}$/.test(f.app.trim())) out.push("App: lowercase letters, digits, '.', '_' or '-' (e.g. shop-ios).");
  if (!f.bundle) out.push("Bundle: pick a folder, .zip or .tar.gz.");
  if (!/^\d+\.\d+\.\d+([-+][0-9A-Za-z.-]+)?$/.test(f.version.trim())) out.push("Version: a semantic version such as 1.4.0.");
  return out;
}
