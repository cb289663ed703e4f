#!/usr/bin/env python3
"""Reference answers for the canary judge's statistics (core/src/kpi/stats.rs), computed
independently with scipy: ln Γ and ln B (scipy.special), the per-bin likelihood ratio from
binomial log-pmfs (scipy.stats.binom), the confidence sequence's bounds by root-finding
(scipy.optimize.brentq) and the mixture e-value with numpy. Writes
core/tests/data/kpi_reference.json, which core/tests/kpi_stats.rs compares against.
Usage: tests/kpi/reference.py  (needs scipy and numpy: pip install scipy numpy)."""

import json
import math
from pathlib import Path

import numpy as np
from scipy import optimize, special, stats

GRID = 24
SPAN = (1.05, 30.0)
PASS_SPAN = (1.02, 4.0)


def grid(null, side):
    span = SPAN if side == "above" else PASS_SPAN
    m = np.exp(np.linspace(math.log(span[0]), math.log(span[1]), GRID))
    return null * m if side == "above" else null / m


def share(rho, s):
    return rho * s / (rho * s + 1 - s)


def ln_lr(bins, alt, null):
    """Each bin's candidate events given the bin's total, as a binomial: log-pmf under
    the alternative minus under the null."""
    total = 0.0
    for nc, xc, nb, xb in bins:
        if not (nc > 0 and nb > 0 and xc + xb > 0):
            continue
        s = nc / (nc + nb)
        n = int(round(xc + xb))
        total += stats.binom.logpmf(int(round(xc)), n, share(alt, s)) - stats.binom.logpmf(int(round(xc)), n, share(null, s))
    return total


def ln_e(bins, null, side):
    terms = np.array([ln_lr(bins, a, null) for a in grid(null, side)])
    return float(special.logsumexp(terms) - math.log(GRID))


def fitted_ratio(bins):
    """The rate ratio maximising the conditional binomial likelihood (scipy's bounded
    scalar minimiser on ln rho)."""
    used = [b for b in bins if b[0] > 0 and b[2] > 0]

    def nll(lr):
        rho = math.exp(lr)
        return -sum(stats.binom.logpmf(int(xc), int(xc + xb), share(rho, nc / (nc + nb))) for nc, xc, nb, xb in used)

    r = optimize.minimize_scalar(nll, bounds=(-20, 20), method="bounded", options={"xatol": 1e-12})
    return math.exp(r.x)


def dispersion(bins, group_events=10.0, min_groups=4):
    """Pearson's X² of the candidate's share of events between groups of consecutive bins
    (each closed once it holds group_events events), over its degrees of freedom when it
    exceeds scipy's chi-square 95th percentile, else 1."""
    used = [b for b in bins if b[0] > 0 and b[2] > 0]
    if sum(b[1] for b in used) == 0 or sum(b[3] for b in used) == 0:
        return 1.0
    rho = fitted_ratio(bins)
    groups, acc = [], [0.0, 0.0, 0.0, 0.0]
    for b in used:
        acc = [a + x for a, x in zip(acc, b)]
        if acc[1] + acc[3] >= group_events:
            groups.append(acc)
            acc = [0.0, 0.0, 0.0, 0.0]
    if len(groups) < min_groups:
        return 1.0
    x2 = 0.0
    for nc, xc, nb, xb in groups:
        n = xc + xb
        t = share(rho, nc / (nc + nb))
        x2 += (xc - n * t) ** 2 / (n * t * (1 - t))
    df = len(groups) - 1
    return min(max(x2 / df, 1.0), 1000.0) if x2 > stats.chi2.ppf(0.95, df) else 1.0


def ln_rate_e(x, n, p, a=0.5, b=0.5):
    lik = stats.binom.logpmf(x, n, p) - (special.gammaln(n + 1) - special.gammaln(x + 1) - special.gammaln(n - x + 1))
    return special.betaln(a + x, b + n - x) - special.betaln(a, b) - lik


def bounds(x, n, alpha):
    target = math.log(1 / alpha)
    est = x / n
    f = lambda p: ln_rate_e(x, n, p) - target
    lo = 0.0 if x == 0 else optimize.brentq(f, 1e-300, est, xtol=1e-15, rtol=1e-13)
    hi = 1.0 if x == n else optimize.brentq(f, est, 1 - 1e-16, xtol=1e-15, rtol=1e-13)
    return lo, hi


def main():
    out = {"ln_gamma": [], "ln_beta": [], "ln_lr": [], "e_value": [], "bounds": []}
    for x in [0.1, 0.5, 1.0, 1.5, 2.0, 7.3, 10.0, 100.5, 2310.5, 41200.0, 1e6]:
        out["ln_gamma"].append([x, float(special.gammaln(x))])
    for a, b in [(0.5, 0.5), (1.5, 2310.5), (67.5, 2243.5), (123.5, 41077.5), (0.5, 1e5)]:
        out["ln_beta"].append([a, b, float(special.betaln(a, b))])
    cases = [
        # (name, bins, null, side)
        ("ten times worse", [[2310, 67, 41200, 124]], 1.2, "above"),
        ("equal rates, harm", [[2000, 6, 38000, 114]], 1.2, "above"),
        ("equal rates, safety", [[20000, 60, 200000, 600]], 2.0, "below"),
        ("three bins, a spike in both", [[100, 0, 1900, 6], [100, 10, 1900, 190], [100, 1, 1900, 5]], 1.2, "above"),
        ("a bin with no events", [[500, 0, 9500, 0], [500, 3, 9500, 30]], 1.2, "above"),
        ("all events the candidate's", [[1000, 5, 1000, 0]], 1.2, "above"),
        ("one cohort only", [[0, 0, 1000, 3]], 1.2, "above"),
    ]
    for name, bins, null, side in cases:
        out["e_value"].append({"name": name, "bins": bins, "null": null, "side": side, "ln_e": ln_e(bins, null, side)})
        out["ln_lr"].append({"name": name, "bins": bins, "alt": null * 2 if side == "above" else null / 2, "null": null,
                             "ln_lr": ln_lr(bins, null * 2 if side == "above" else null / 2, null)})
    # Dispersion: Poisson-like bins (none), one hour with a crash-looping device, and every
    # count doubled (duplicated rows).
    poisson = [[500, 2, 9500, 28], [500, 1, 9500, 31], [500, 2, 9500, 27], [500, 1, 9500, 30], [500, 3, 9500, 29], [500, 1, 9500, 26]]
    looping = [list(b) for b in poisson]
    looping[2][1] += 20
    doubled = [[nc, 2 * xc, nb, 2 * xb] for nc, xc, nb, xb in
               [[500, 4, 9500, 28], [500, 0, 9500, 31], [500, 3, 9500, 27], [500, 0, 9500, 30], [500, 5, 9500, 29], [500, 0, 9500, 26], [500, 4, 9500, 30], [500, 1, 9500, 28]]]
    out["dispersion"] = []
    for name, bins in [("poisson", poisson), ("a crash-looping device", looping), ("duplicated rows", doubled)]:
        out["dispersion"].append({"name": name, "bins": bins, "fitted": fitted_ratio(bins), "phi": dispersion(bins)})
    out["chi2_95"] = [[df, float(stats.chi2.ppf(0.95, df))] for df in [3, 5, 10, 30, 100, 1000]]
    for x, n, alpha in [(67, 2310, 0.05), (124, 41200, 0.05), (3, 1000, 0.01), (0, 500, 0.05), (500, 500, 0.05), (1, 20, 0.05), (12, 12000, 0.0005)]:
        lo, hi = bounds(x, n, alpha)
        out["bounds"].append([x, n, alpha, lo, hi])
    path = Path(__file__).resolve().parents[2] / "core" / "tests" / "data" / "kpi_reference.json"
    path.write_text(json.dumps(out, indent=1) + "\n")
    print(f"wrote {path.relative_to(Path(__file__).resolve().parents[2])}")


if __name__ == "__main__":
    main()
