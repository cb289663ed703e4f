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
