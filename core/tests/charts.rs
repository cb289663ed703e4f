//! The KPI panels read as a person would read them: each SVG parsed for its structure (the
//! accessible name, axis descriptions with units, each series in its colour, the limit
//! lines, the log's markers, the legend), the re-binned numbers checked against counts
//! summed by hand, and "no data" said in words.

use airlock_core::charts::data::{ChartData, sample_month};
use airlock_core::charts::panels::{draw, target_bins};
use airlock_core::charts::rebin;
use airlock_core::charts::{KpiChart, Panel, Theme};
use airlock_core::kpi::policy::KpiSettings;
use airlock_core::kpi::source::Counter;
use quick_xml::events::Event;

/// Every element of an SVG: its name, attributes and the text directly inside it.
#[derive(Debug)]
struct Element {
    name: String,
    attrs: Vec<(String, String)>,
    text: String,
}

impl Element {
    fn attr(&self, name: &str) -> Option<&str> {
        self.attrs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

fn parse(svg: &str) -> Vec<Element> {
    let mut reader = quick_xml::Reader::from_str(svg);
    let mut out: Vec<Element> = Vec::new();
    let mut open: Vec<usize> = Vec::new();
    loop {
        match reader.read_event().expect("the SVG is well-formed XML") {
            ev @ (Event::Start(_) | Event::Empty(_)) => {
                let (Event::Start(e) | Event::Empty(e)) = &ev else {
                    unreachable!()
                };
                let name = AsRef::<str>::as_ref(&e.name()).to_string();
                let attrs = e
                    .attributes()
                    .map(|a| {
                        let a = a.expect("a well-formed attribute");
                        (
                            AsRef::<str>::as_ref(&a.key).to_string(),
                            a.normalized_value(quick_xml::XmlVersion::Explicit1_0)
                                .expect("an attribute value")
                                .to_string(),
                        )
                    })
                    .collect();
                out.push(Element {
                    name,
                    attrs,
                    text: String::new(),
                });
                if matches!(ev, Event::Start(_)) {
                    open.push(out.len() - 1);
                }
            }
            Event::Text(t) => {
                if let Some(i) = open.last() {
                    out[*i].text.push_str(&t.xml10_content());
                }
            }
            Event::GeneralRef(r) => {
                if let Some(i) = open.last() {
                    if let Ok(Some(c)) = r.resolve_char_ref() {
                        out[*i].text.push(c);
                        continue;
                    }
                    let name = r.into_inner().to_string();
                    out[*i].text.push_str(match name.as_str() {
                        "lt" => "<",
                        "gt" => ">",
                        "amp" => "&",
                        "quot" => "\"",
                        "apos" => "'",
                        _ => "?",
                    });
                }
            }
            Event::End(_) => {
                open.pop();
            }
            Event::Eof => break,
            _ => {}
        }
    }
    out
}

fn texts(els: &[Element]) -> Vec<String> {
    els.iter()
        .filter(|e| e.name == "text")
        .map(|e| e.text.trim().to_string())
        .collect()
}

fn month(kpis: &[&str]) -> ChartData {
    let settings = KpiSettings {
        kpis: Some(kpis.iter().map(|k| k.to_string()).collect()),
        ..KpiSettings::default()
    };
    sample_month(settings.policy("Production").unwrap())
}

fn drawn(d: &ChartData, panel: Panel) -> (KpiChart, Vec<Element>) {
    let chart = draw(d, panel, Theme::Light, 880).unwrap();
    let els = parse(&chart.svg);
    (chart, els)
}

fn strokes(els: &[Element], color: &str) -> usize {
    els.iter()
        .filter(|e| {
            e.attr("stroke")
                .is_some_and(|s| s.eq_ignore_ascii_case(color))
        })
        .count()
}

fn assert_named(els: &[Element], name: &str) {
    let root = &els[0];
    assert_eq!(root.name, "svg");
    assert_eq!(
        root.attr("role"),
        Some("img"),
        "the chart is an image to assistive tech"
    );
    assert_eq!(
        root.attr("aria-label"),
        Some(name),
        "the accessible name names KPI and channel"
    );
    assert_eq!(els[1].name, "title");
    assert_eq!(els[1].text, name);
    assert!(
        !els.iter()
            .any(|e| e.name == "script" || e.attrs.iter().any(|(k, _)| k.starts_with("on"))),
        "an SVG chart never carries script"
    );
}

const BLUE: &str = "#0072B2";
const ORANGE: &str = "#E69F00";
const GREEN: &str = "#009E73";
const VERMILLION: &str = "#D55E00";

#[test]
fn download_success_has_its_limits_units_markers_and_zoomed_axis() {
    let d = month(&["crash-free", "download-success"]);
    let (chart, els) = drawn(&d, Panel::DownloadSuccess);
    assert_named(&els, "Download success, Production");
    let t = texts(&els);
    assert!(
        t.iter().any(|x| x == "downloads that succeeded (%)"),
        "y axis with unit: {t:?}"
    );
    assert!(t.iter().any(|x| x == "time (UTC)"), "x axis with unit");
    for line in ["target 99.00 %", "warning 98.0 %", "critical 95.0 %"] {
        assert!(
            t.iter().any(|x| x == line),
            "{line} is drawn and labelled: {t:?}"
        );
    }
    // Over a month the rollout's three entries lie within a few pixels: one group.
    assert!(
        t.iter().any(|x| x == "1.2.0 at 5 % +2"),
        "the log's entries are marked: {t:?}"
    );
    assert!(
        t.iter().any(|x| x == "download success"),
        "the legend names the series"
    );
    assert!(
        strokes(&els, GREEN) >= 1 && strokes(&els, ORANGE) >= 1 && strokes(&els, VERMILLION) >= 1
    );
    assert!(strokes(&els, BLUE) > 100, "the series is drawn, bin by bin");
    // The axis starts near the data and the critical line, not at 0 %.
    let ticks: Vec<f64> = t
        .iter()
        .filter_map(|x| x.strip_suffix(" %")?.parse().ok())
        .collect();
    let lowest = ticks.iter().copied().fold(f64::INFINITY, f64::min);
    assert!(
        lowest > 90.0,
        "the y axis is zoomed to where data and lines are: {ticks:?}"
    );
    assert!(chart.empty.is_none());
}

#[test]
fn re_binned_numbers_are_the_hand_summed_counts() {
    let d = month(&["crash-free"]);
    let (chart, _) = drawn(&d, Panel::DownloadSuccess);
    let k = rebin::factor(d.bins, target_bins(880));
    assert_eq!(chart.bin_seconds, (k as i64 * d.step) as f64);
    assert_eq!(chart.table.rows.len(), d.bins.div_ceil(k));
    // Row 100 by hand: every version's downloads and failures over its fine bins.
    let j = 100;
    let by_hand = |c: Counter| -> f64 {
        d.counts[&c]
            .values()
            .map(|s| s[j * k..(j + 1) * k].iter().sum::<f64>())
            .sum()
    };
    let (dl, failed) = (
        by_hand(Counter::Downloads),
        by_hand(Counter::DownloadFailures),
    );
    let row = &chart.table.rows[j];
    let number = |s: &str| s.replace(',', "").parse::<f64>().unwrap();
    assert_eq!(number(&row[1]), dl);
    assert_eq!(number(&row[2]), failed);
    let shown: f64 = row[3].trim_end_matches(" %").parse().unwrap();
    assert!(
        (shown - 100.0 * (1.0 - failed / dl)).abs() < 0.01,
        "{row:?} against {dl} / {failed}"
    );
    // Every hit lies inside the picture and carries the same number.
    assert_eq!(chart.hits.len(), chart.table.rows.len());
    for h in &chart.hits {
        assert!(h.x >= 0.0 && h.x <= 880.0 && h.y >= 0.0 && h.y <= f64::from(chart.height));
    }
    assert!(
        chart.hits[j].value.starts_with(&row[3]),
        "{} / {}",
        chart.hits[j].value,
        row[3]
    );
}

#[test]
fn adoption_shows_the_climb_and_the_current_split() {
    let d = month(&["crash-free"]);
    let (chart, els) = drawn(&d, Panel::Adoption);
    assert_named(&els, "Adoption, Production");
    let t = texts(&els);
    assert!(t.iter().any(|x| x == "share of sessions (%)"));
    assert!(
        t.iter().any(|x| x.starts_with("Split at")),
        "the current split: {t:?}"
    );
    assert!(
        t.iter().any(|x| x.starts_with("1.1.0  8")),
        "1.1.0 at about 80 %: {t:?}"
    );
    assert!(
        t.iter().any(|x| x.starts_with("1.2.0  2")),
        "1.2.0 at about 20 %: {t:?}"
    );
    assert!(
        strokes(&els, BLUE) > 50 && strokes(&els, ORANGE) > 50,
        "both versions' lines"
    );
    let last = chart.table.rows.last().unwrap();
    assert_eq!(
        chart.table.columns,
        ["bin ends", "1.1.0", "1.2.0", "sessions"]
    );
    let share: f64 = last[2].trim_end_matches(" %").parse().unwrap();
    assert!((share - 20.0).abs() < 1.0, "{last:?}");
}

#[test]
fn install_time_is_drawn_as_the_bucket_the_p95_lies_in() {
    let d = month(&["crash-free"]);
    let (chart, els) = drawn(&d, Panel::InstallTime);
    assert_named(&els, "Install time p95, Production");
    let t = texts(&els);
    assert!(t.iter().any(|x| x == "install time p95 (s)"));
    assert!(t.iter().any(|x| x == "target 3.0 s") && t.iter().any(|x| x == "warning 7.0 s"));
    assert!(
        !t.iter().any(|x| x.starts_with("critical")),
        "a critical line far above the data would flatten it: {t:?}"
    );
    // 95 % of installs ≤ 2.5 s and 60 % ≤ 1 s: the p95 lies in (1 s, 2.5 s].
    let row = &chart.table.rows[100];
    assert_eq!(
        (row[2].as_str(), row[3].as_str()),
        ("1.0 s", "2.5 s"),
        "{row:?}"
    );
    let bars = els
        .iter()
        .filter(|e| {
            e.name == "rect" && e.attr("fill").is_some_and(|f| f.eq_ignore_ascii_case(BLUE))
        })
        .count();
    assert!(bars >= chart.table.rows.len(), "one bar per bin: {bars}");
}

#[test]
fn crash_free_compares_both_cohorts_with_the_judges_bands() {
    let d = month(&["crash-free"]);
    let (chart, els) = drawn(&d, Panel::CrashFree);
    assert_named(&els, "Crash-free sessions, Production");
    let t = texts(&els);
    assert!(
        t.iter().any(|x| x == "time since the rollout began"),
        "{t:?}"
    );
    assert!(
        t.iter().any(|x| x == "+0 h" || x == "+0 d"),
        "relative ticks: {t:?}"
    );
    assert!(t.iter().any(|x| x == "1.2.0 (rollout)") && t.iter().any(|x| x == "1.1.0 (current)"));
    assert!(t.iter().any(|x| x == "warning 99.00 %"), "{t:?}");
    // Over the rollout's two days, the step and the gate's pass ten minutes before the
    // expansion are told apart; the pass and the expansion are grouped.
    assert!(
        t.iter().any(|x| x == "1.2.0 at 5 %") && t.iter().any(|x| x == "gate: pass +1"),
        "{t:?}"
    );
    let polygons = els.iter().filter(|e| e.name == "polygon").count();
    assert!(polygons >= 2, "a confidence band per cohort: {polygons}");
    // The last look's numbers: bounds around the value, from the judge.
    let rows: Vec<&Vec<String>> = chart
        .table
        .rows
        .iter()
        .filter(|r| r[1] == "1.2.0")
        .collect();
    let last = rows.last().unwrap();
    let n = |s: &str| s.trim_end_matches(" %").parse::<f64>().unwrap();
    assert!(
        n(&last[3]) <= n(&last[2]) && n(&last[2]) <= n(&last[4]),
        "{last:?}"
    );
    assert!(
        (n(&last[2]) - 99.5).abs() < 0.15,
        "1.2.0 crashes 0.5 %: {last:?}"
    );
}

#[test]
fn the_verdict_shows_ratio_interval_lines_and_the_decision() {
    let d = month(&["crash-free", "install-time"]);
    let (chart, els) = drawn(&d, Panel::Verdict);
    assert_named(&els, "Gate verdict over time, Production");
    let t = texts(&els);
    assert!(
        t.iter().any(|x| x == "crash rate (crash-free sessions)"),
        "{t:?}"
    );
    assert!(
        t.iter().any(|x| x == "install time p95"),
        "a row per judged KPI: {t:?}"
    );
    assert!(
        t.iter().filter(|x| x.starts_with("boundary 1.")).count() == 2
            && t.iter().any(|x| x == "boundary 1.50×"),
        "{t:?}"
    );
    assert!(t.iter().any(|x| x == "rollout ÷ current (×)"));
    let kpis: std::collections::BTreeSet<&str> =
        chart.table.rows.iter().map(|r| r[1].as_str()).collect();
    assert_eq!(
        kpis.into_iter().collect::<Vec<_>>(),
        ["crash-free", "install-time"]
    );
    // Identical install times are shown safe at some look: the decision is marked.
    assert!(
        t.iter().any(|x| x.starts_with("pass: +")),
        "the moment a decision was reached is marked: {t:?}"
    );
    assert!(chart.height > 280, "one row per KPI");
}

#[test]
fn no_data_is_said_in_words() {
    let mut d = month(&["crash-free"]);
    d.counts.clear();
    d.histograms.clear();
    for panel in Panel::ALL {
        let (chart, els) = drawn(&d, panel);
        let words = chart
            .empty
            .clone()
            .unwrap_or_else(|| panic!("{panel:?} says it has no data"));
        assert!(
            texts(&els).contains(&words),
            "{panel:?}: {words:?} is drawn"
        );
    }
    d.rollout = None;
    let (chart, _) = drawn(&d, Panel::Verdict);
    assert!(chart.empty.unwrap().contains("No rollout"));
}

#[test]
fn dark_theme_keeps_series_readable() {
    let d = month(&["crash-free"]);
    let chart = draw(&d, Panel::Adoption, Theme::Dark, 880).unwrap();
    let els = parse(&chart.svg);
    assert!(
        strokes(&els, "#56B4E9") > 50,
        "sky blue, not dark blue, on a dark background"
    );
    assert!(
        els.iter()
            .any(|e| e.name == "rect" && e.attr("fill") == Some("#181B21"))
    );
}
