// The settings form's checks, field by field, before anything is sent (core validates the
// whole file again and refuses with the setting named).

export function parsePlan(text: string): { plan: number[] } | { error: string } {
  const parts = text.split(/[,\s]+/).map((s) => s.replace(/%$/, "")).filter(Boolean);
  if (parts.length === 0) return { error: "give at least one step, ending at 100" };
  const plan = parts.map(Number);
  if (plan.some((p) => !Number.isFinite(p) || p <= 0 || p > 100))
    return { error: "each step is a percentage above 0 and at most 100" };
  if (plan.some((p, i) => i > 0 && p <= plan[i - 1])) return { error: "steps must rise" };
  if (plan[plan.length - 1] !== 100) return { error: "the last step must be 100" };
  return { plan };
}

export function planText(plan: number[]): string {
  return plan.join(", ");
}

export function positiveInt(text: string, what: string, min = 1, max = Number.MAX_SAFE_INTEGER): string | null {
  const n = Number(text);
  if (!Number.isInteger(n) || n < min || n > max) return `${what} must be a whole number from ${min} to ${max}`;
  return null;
}

export function signerProblem(s: string): string | null {
  const v = s.trim();
  if (v === "local" || /^local:[A-Za-z0-9._-]{1,64}$/.test(v) || /^kms:\S+$/.test(v)) return null;
  return "use local, local:<name> or kms:<key id, ARN or alias>";
}

/** A store as airlock.toml takes it: file:///absolute, s3://bucket[/prefix] or a [stores] name. */
export function storeProblem(s: string, named: string[], optional = false): string | null {
  const v = s.trim();
  if (!v) return optional ? null : "give a store: file:///absolute/folder or s3://bucket/prefix";
  if (named.includes(v)) return null;
  if (v.startsWith("file://")) return v.slice(7).startsWith("/") ? null : "a file:// store needs an absolute folder, e.g. file:///srv/ota";
  if (v.startsWith("s3://")) {
    const bucket = v.slice(5).split("/")[0];
    return /^[a-z0-9.-]{3,63}$/.test(bucket) ? null : "an S3 bucket name has 3–63 lowercase letters, digits, '-' or '.'";
  }
  return "use file:///absolute/folder, s3://bucket/prefix or a [stores] name";
}

/** What is wrong with a holdout of `percent` for `hours` (the core checks the same). */
export function holdoutProblem(percent: string, hours: string): string | null {
  const p = Number(percent.trim());
  if (percent.trim() === "" || !Number.isFinite(p) || p < 0 || p > 50)
    return "the holdout is a percentage from 0 (none) to 50";
  if (Math.abs(p * 100 - Math.round(p * 100)) > 1e-6) return "the holdout has at most two decimals";
  const h = Number(hours.trim());
  if (!Number.isInteger(h) || h < 1 || h > 336) return "the holdout lasts 1 to 336 hours (two weeks)";
  return null;
}
