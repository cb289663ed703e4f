//! How the judge's numbers read in a verdict: percentages with the precision a rate needs,
//! counts with thousands separators, durations as a release manager says them.

/// `0.971` → `97.1 %`; under 1 % and above 99.9 % with two decimals (`0.3 %` would hide
/// 0.26 vs 0.34).
pub fn percent(x: f64) -> String {
    let p = x * 100.0;
    if p != 0.0 && p.abs() < 1.0 {
        format!("{p:.2} %")
    } else if p > 99.9 && p < 100.0 {
        // 99.96 % is not 100 %: near the top the second decimal matters too.
        format!("{p:.2} %")
    } else {
        format!("{p:.1} %")
    }
}

/// An interval of rates, with the unit once: `95.8–98.0 %`.
pub fn percent_range(lo: f64, hi: f64) -> String {
    let (a, b) = (percent(lo), percent(hi));
    format!("{}–{b}", a.trim_end_matches(" %"))
}

/// `41200.0` → `41,200` (fractions from extrapolated counters are rounded).
pub fn count(x: f64) -> String {
    let n = x.round() as i64;
    let digits = n.unsigned_abs().to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    if n < 0 { format!("-{out}") } else { out }
}

/// Hours as `2 h 40 min`, `40 min`, `under a minute`, `4 days` (from three days on, whole
/// days: callers say "about").
pub fn duration(hours: f64) -> String {
    let minutes = (hours * 60.0).round() as i64;
    if minutes < 1 {
        return "under a minute".into();
    }
    if minutes >= 72 * 60 {
        return format!("{} days", (hours / 24.0).round() as i64);
    }
    let (h, m) = (minutes / 60, minutes % 60);
    match (h, m) {
        (0, m) => format!("{m} min"),
        (h, 0) => format!("{h} h"),
        (h, m) => format!("{h} h {m} min"),
    }
}

/// Seconds as `3.5 s` or `850 ms`.
pub fn seconds(s: f64) -> String {
    if s < 1.0 {
        format!("{:.0} ms", s * 1000.0)
    } else {
        format!("{s:.1} s")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_as_people_write_it() {
        assert_eq!(percent(0.971), "97.1 %");
        assert_eq!(percent(0.003), "0.30 %");
        assert_eq!(percent(0.997), "99.7 %");
        assert_eq!(percent(0.9996), "99.96 %");
        assert_eq!(percent(0.0), "0.0 %");
        assert_eq!(percent_range(0.958, 0.98), "95.8–98.0 %");
        assert_eq!(count(41_200.0), "41,200");
        assert_eq!(count(999.6), "1,000");
        assert_eq!(count(12.0), "12");
        assert_eq!(duration(2.0 + 40.0 / 60.0), "2 h 40 min");
        assert_eq!(duration(0.5), "30 min");
        assert_eq!(duration(3.0), "3 h");
        assert_eq!(duration(100.0), "4 days");
        assert_eq!(seconds(0.85), "850 ms");
        assert_eq!(seconds(3.5), "3.5 s");
    }
}
