//! The report: rows `{"scenario","server","metric","value","unit"}`, a table per scenario with
//! Roomwire/peer ratios, `report.json`, and a bar chart `report.png`.

use std::collections::BTreeSet;
use std::path::Path;

use anyhow::Context as _;
use serde::{Deserialize, Serialize};

use crate::servers::{ServerKind, ALL_SERVERS};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Row {
    pub scenario: String,
    pub server: String,
    pub metric: String,
    pub value: f64,
    pub unit: String,
}

impl Row {
    pub fn new(scenario: &str, server: ServerKind, metric: &str, value: f64) -> Row {
        Row {
            scenario: scenario.into(),
            server: server.name().into(),
            metric: metric.into(),
            value,
            unit: unit_of(metric).into(),
        }
    }
}

pub const SCENARIOS: [&str; 5] = ["idle", "fanout", "rooms", "signalling", "connect"];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Better {
    Higher,
    Lower,
    /// Context, not a score (e.g. the generator's own CPU).
    Neither,
}

/// (metric, unit, which way is better, shown in the chart)
const METRICS: &[(&str, &str, Better, bool)] = &[
    ("rss_bytes_per_conn", "bytes", Better::Lower, true),
    ("cpu_ns_per_conn_per_sec", "ns", Better::Lower, true),
    ("deliveries_per_sec", "1/s", Better::Higher, true),
    ("latency_p50_ms", "ms", Better::Lower, true),
    ("latency_p99_ms", "ms", Better::Lower, true),
    ("latency_p999_ms", "ms", Better::Lower, true),
    ("common_latency_p50_ms", "ms", Better::Lower, false),
    ("common_latency_p99_ms", "ms", Better::Lower, true),
    ("common_server_cpu_percent", "%", Better::Lower, false),
    ("connects_per_sec", "1/s", Better::Higher, true),
    ("connect_p50_ms", "ms", Better::Lower, false),
    ("connect_p99_ms", "ms", Better::Lower, true),
    ("server_cpu_percent", "%", Better::Neither, false),
    ("server_cpu_ns_per_delivery", "ns", Better::Lower, true),
    ("server_cpu_ns_per_connect", "ns", Better::Lower, false),
    ("generator_cpu_percent", "%", Better::Neither, false),
    ("other_cpu_percent", "%", Better::Neither, false),
    ("generator_timer_lag_p99_ms", "ms", Better::Neither, false),
    ("rss_baseline_bytes", "bytes", Better::Neither, false),
    ("connections", "count", Better::Neither, false),
    ("saturation_rate", "msg/s", Better::Higher, false),
    ("latency_rate", "msg/s", Better::Neither, false),
    ("common_rate", "msg/s", Better::Neither, false),
    ("fixed_rate", "msg/s", Better::Neither, false),
    ("fixed_deliveries_per_sec", "1/s", Better::Neither, false),
    ("fixed_server_cpu_percent", "%", Better::Lower, false),
    ("lost_deliveries", "count", Better::Lower, false),
    ("disconnects", "count", Better::Lower, false),
    ("failed_connects", "count", Better::Lower, false),
    ("join_retries", "count", Better::Lower, false),
    ("errors", "count", Better::Lower, false),
];

pub fn unit_of(metric: &str) -> &'static str {
    METRICS
        .iter()
        .find(|m| m.0 == metric)
        .map(|m| m.1)
        .unwrap_or("")
}

pub fn better_of(metric: &str) -> Better {
    METRICS
        .iter()
        .find(|m| m.0 == metric)
        .map(|m| m.2)
        .unwrap_or(Better::Neither)
}

fn charted(metric: &str) -> bool {
    METRICS.iter().any(|m| m.0 == metric && m.3)
}

fn metric_order(metric: &str) -> usize {
    METRICS
        .iter()
        .position(|m| m.0 == metric)
        .unwrap_or(METRICS.len())
}

fn scenario_order(s: &str) -> usize {
    SCENARIOS
        .iter()
        .position(|x| *x == s)
        .unwrap_or(SCENARIOS.len())
}

fn server_order(s: &str) -> usize {
    ALL_SERVERS
        .iter()
        .position(|k| k.name() == s)
        .unwrap_or(ALL_SERVERS.len())
}

pub fn value(rows: &[Row], scenario: &str, server: &str, metric: &str) -> Option<f64> {
    rows.iter()
        .rev()
        .find(|r| r.scenario == scenario && r.server == server && r.metric == metric)
        .map(|r| r.value)
}

/// Roomwire's value over the peer's; `None` when either is missing or the peer's is zero.
pub fn ratio(roomwire: Option<f64>, peer: Option<f64>) -> Option<f64> {
    match (roomwire, peer) {
        (Some(r), Some(p)) if p != 0.0 && r.is_finite() && p.is_finite() => Some(r / p),
        _ => None,
    }
}

pub fn to_json(rows: &[Row]) -> String {
    serde_json::to_string_pretty(rows).expect("rows serialize")
}

pub fn from_json(text: &str) -> anyhow::Result<Vec<Row>> {
    Ok(serde_json::from_str(text)?)
}

pub fn write_json(rows: &[Row], path: &Path) -> anyhow::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(path, to_json(rows) + "\n")
        .with_context(|| format!("cannot write {}", path.display()))
}

/// Rows of `new` replace the rows of the same (scenario, server) in `old`.
pub fn merge(old: Vec<Row>, new: &[Row]) -> Vec<Row> {
    let cells: BTreeSet<(&str, &str)> = new
        .iter()
        .map(|r| (r.scenario.as_str(), r.server.as_str()))
        .collect();
    let mut out: Vec<Row> = old
        .into_iter()
        .filter(|r| !cells.contains(&(r.scenario.as_str(), r.server.as_str())))
        .collect();
    out.extend(new.iter().cloned());
    out
}

/// A number for a table cell: integers without decimals, small values with 2-3 significant
/// decimals.
pub fn fmt_value(v: f64) -> String {
    if !v.is_finite() {
        return "-".into();
    }
    let a = v.abs();
    if a >= 1000.0 {
        let s = format!("{:.0}", v);
        // Thousands separators for readability.
        let (sign, digits) = s.strip_prefix('-').map(|d| ("-", d)).unwrap_or(("", &s));
        let mut out = String::new();
        for (i, c) in digits.chars().enumerate() {
            if i > 0 && (digits.len() - i) % 3 == 0 {
                out.push(',');
            }
            out.push(c);
        }
        format!("{sign}{out}")
    } else if a >= 100.0 {
        format!("{v:.1}")
    } else if a >= 1.0 {
        format!("{v:.2}")
    } else if a == 0.0 {
        "0".into()
    } else {
        format!("{v:.3}")
    }
}

/// The table of one scenario: a line per metric, a column per server, then Roomwire/peer.
pub fn table(rows: &[Row], scenario: &str) -> Option<String> {
    let mine: Vec<&Row> = rows.iter().filter(|r| r.scenario == scenario).collect();
    if mine.is_empty() {
        return None;
    }
    let mut servers: Vec<&str> = mine.iter().map(|r| r.server.as_str()).collect();
    servers.sort_by_key(|s| server_order(s));
    servers.dedup();
    let mut metrics: Vec<&str> = mine.iter().map(|r| r.metric.as_str()).collect();
    metrics.sort_by_key(|m| metric_order(m));
    metrics.dedup();
    let has_rw = servers.contains(&"roomwire");
    let peers: Vec<&str> = servers
        .iter()
        .copied()
        .filter(|s| *s != "roomwire")
        .collect();

    let mut header = vec!["metric".to_string(), "unit".to_string()];
    header.extend(servers.iter().map(|s| s.to_string()));
    if has_rw {
        header.extend(peers.iter().map(|p| format!("rw/{}", short(p))));
    }
    header.push("better".into());
    let mut lines = vec![header];
    for m in &metrics {
        let mut line = vec![m.to_string(), unit_of(m).to_string()];
        for s in &servers {
            line.push(
                value(rows, scenario, s, m)
                    .map(fmt_value)
                    .unwrap_or_else(|| "-".into()),
            );
        }
        if has_rw {
            let rw = value(rows, scenario, "roomwire", m);
            for p in &peers {
                line.push(
                    ratio(rw, value(rows, scenario, p, m))
                        .map(|x| format!("{x:.2}x"))
                        .unwrap_or_else(|| "-".into()),
                );
            }
        }
        line.push(
            match better_of(m) {
                Better::Higher => "higher",
                Better::Lower => "lower",
                Better::Neither => "",
            }
            .into(),
        );
        lines.push(line);
    }
    let cols = lines[0].len();
    let widths: Vec<usize> = (0..cols)
        .map(|c| lines.iter().map(|l| l[c].len()).max().unwrap_or(0))
        .collect();
    let mut out = format!("== {scenario} ==\n");
    for (i, l) in lines.iter().enumerate() {
        let cells: Vec<String> = l
            .iter()
            .enumerate()
            .map(|(c, s)| {
                if c < 2 || c == cols - 1 {
                    format!("{s:<w$}", w = widths[c])
                } else {
                    format!("{s:>w$}", w = widths[c])
                }
            })
            .collect();
        out.push_str(cells.join("  ").trim_end());
        out.push('\n');
        if i == 0 {
            out.push_str(&"-".repeat(widths.iter().sum::<usize>() + 2 * (cols - 1)));
            out.push('\n');
        }
    }
    Some(out)
}

fn short(server: &str) -> &str {
    match server {
        "node-socket.io" => "node",
        "socketioxide" => "sioxide",
        "tungstenite-floor" => "floor",
        s => s,
    }
}

/// Every scenario's table, in scenario order.
pub fn tables(rows: &[Row]) -> String {
    let mut scenarios: Vec<&str> = rows.iter().map(|r| r.scenario.as_str()).collect();
    scenarios.sort_by_key(|s| scenario_order(s));
    scenarios.dedup();
    scenarios
        .iter()
        .filter_map(|s| table(rows, s))
        .collect::<Vec<_>>()
        .join("\n")
}

pub const FONT_PATH: &str = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf";

fn server_color(server: &str) -> plotters::style::RGBColor {
    use plotters::style::RGBColor;
    match server {
        "roomwire" => RGBColor(230, 100, 20),
        "node-socket.io" => RGBColor(60, 150, 60),
        "socketioxide" => RGBColor(50, 100, 200),
        "tungstenite-floor" => RGBColor(120, 120, 120),
        _ => RGBColor(160, 60, 160),
    }
}

/// Draws `report.png`: one panel per (scenario, charted metric), a bar per server, Roomwire
/// first. Needs the DejaVu Sans font for text.
pub fn chart(rows: &[Row], path: &Path) -> anyhow::Result<()> {
    use plotters::prelude::*;

    let font = std::fs::read(FONT_PATH).with_context(|| {
        format!(
            "font {FONT_PATH} not found: install it with `apt-get install fonts-dejavu-core` \
             (report.json is written regardless)"
        )
    })?;
    let font: &'static [u8] = Box::leak(font.into_boxed_slice());
    plotters::style::register_font("sans-serif", FontStyle::Normal, font)
        .map_err(|_| anyhow::anyhow!("{FONT_PATH} is not a usable font"))?;

    let mut panels: Vec<(String, String)> = Vec::new();
    for r in rows {
        if charted(&r.metric) && !panels.contains(&(r.scenario.clone(), r.metric.clone())) {
            panels.push((r.scenario.clone(), r.metric.clone()));
        }
    }
    panels.sort_by_key(|(s, m)| (scenario_order(s), metric_order(m)));
    if panels.is_empty() {
        anyhow::bail!("nothing to chart");
    }
    let cols = 4usize;
    let nrows = panels.len().div_ceil(cols);
    let (pw, ph) = (420u32, 330u32);
    let title_h = 60u32;
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let root = BitMapBackend::new(path, (pw * cols as u32, ph * nrows as u32 + title_h))
        .into_drawing_area();
    root.fill(&WHITE)?;
    let (title, body) = root.split_vertically(title_h);
    title.draw(&Text::new(
        "Roomwire vs peers: same handlers, same generator, one machine (absolute values; \
         orange = Roomwire)",
        (20, 18),
        ("sans-serif", 22).into_font().color(&BLACK),
    ))?;
    let areas = body.split_evenly((nrows, cols));
    for ((scenario, metric), area) in panels.iter().zip(areas.iter()) {
        let mut servers: Vec<&str> = rows
            .iter()
            .filter(|r| &r.scenario == scenario && &r.metric == metric)
            .map(|r| r.server.as_str())
            .collect();
        servers.sort_by_key(|s| server_order(s));
        servers.dedup();
        let values: Vec<f64> = servers
            .iter()
            .map(|s| value(rows, scenario, s, metric).unwrap_or(0.0))
            .collect();
        let max = values.iter().cloned().fold(0.0f64, f64::max);
        let top = if max > 0.0 { max * 1.25 } else { 1.0 };
        let n = servers.len();
        let better = match better_of(metric) {
            Better::Higher => " (higher is better)",
            Better::Lower => " (lower is better)",
            Better::Neither => "",
        };
        let unit = unit_of(metric);
        let mut chart = ChartBuilder::on(area)
            .caption(caption(scenario, metric), ("sans-serif", 16).into_font())
            .margin(8)
            .x_label_area_size(34)
            .y_label_area_size(62)
            .build_cartesian_2d(-0.5f64..(n as f64 - 0.5), 0f64..top)?;
        let names: Vec<String> = servers.iter().map(|s| s.to_string()).collect();
        chart
            .configure_mesh()
            .disable_x_mesh()
            .x_labels(n.max(1) * 2 + 1)
            .x_label_formatter(&|x| {
                let i = x.round();
                if (x - i).abs() < 1e-6 && i >= 0.0 && (i as usize) < names.len() {
                    names[i as usize].clone()
                } else {
                    String::new()
                }
            })
            .y_labels(5)
            .y_label_formatter(&|y| compact(*y))
            .y_desc(format!("{unit}{better}"))
            .label_style(("sans-serif", 12))
            .axis_desc_style(("sans-serif", 12))
            .draw()?;
        for (i, (s, v)) in servers.iter().zip(&values).enumerate() {
            let x = i as f64;
            chart.draw_series(std::iter::once(Rectangle::new(
                [(x - 0.32, 0.0), (x + 0.32, *v)],
                server_color(s).filled(),
            )))?;
            chart.draw_series(std::iter::once(Text::new(
                compact(*v),
                (x - 0.3, *v + top * 0.03),
                ("sans-serif", 13).into_font(),
            )))?;
        }
    }
    root.present()?;
    Ok(())
}

fn caption(scenario: &str, metric: &str) -> String {
    match (scenario, metric) {
        ("fanout", "latency_p50_ms" | "latency_p99_ms" | "latency_p999_ms") => {
            format!("fanout: {metric} (at 1/2 own saturation)")
        }
        ("fanout", "common_latency_p99_ms") => "fanout: latency_p99_ms (same rate for all)".into(),
        ("fanout", "server_cpu_ns_per_delivery") => {
            "fanout: server_cpu_ns_per_delivery (same rate)".into()
        }
        ("rooms" | "signalling", "deliveries_per_sec") => {
            format!("{scenario}: deliveries_per_sec (saturation)")
        }
        ("rooms" | "signalling", "latency_p50_ms" | "latency_p99_ms" | "latency_p999_ms") => {
            format!("{scenario}: {metric} (at the fixed rate)")
        }
        _ => format!("{scenario}: {metric}"),
    }
}

/// 1234567 -> "1.23M", 0.0123 -> "0.0123".
pub fn compact(v: f64) -> String {
    let a = v.abs();
    if a >= 1e9 {
        format!("{:.2}G", v / 1e9)
    } else if a >= 1e6 {
        format!("{:.2}M", v / 1e6)
    } else if a >= 1e4 {
        format!("{:.1}k", v / 1e3)
    } else if a >= 100.0 {
        format!("{v:.0}")
    } else if a >= 1.0 {
        format!("{v:.2}")
    } else if a == 0.0 {
        "0".into()
    } else {
        format!("{v:.3}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rows() -> Vec<Row> {
        vec![
            Row::new("idle", ServerKind::Roomwire, "rss_bytes_per_conn", 5000.0),
            Row::new("idle", ServerKind::Node, "rss_bytes_per_conn", 20000.0),
            Row::new(
                "fanout",
                ServerKind::Roomwire,
                "deliveries_per_sec",
                300000.0,
            ),
            Row::new(
                "fanout",
                ServerKind::Socketioxide,
                "deliveries_per_sec",
                150000.0,
            ),
        ]
    }

    #[test]
    fn rows_serialize_to_the_documented_shape() {
        let r = Row::new("fanout", ServerKind::Node, "latency_p99_ms", 1.5);
        let v: serde_json::Value =
            serde_json::from_str(&serde_json::to_string(&r).unwrap()).unwrap();
        assert_eq!(
            v,
            serde_json::json!({"scenario":"fanout","server":"node-socket.io",
                "metric":"latency_p99_ms","value":1.5,"unit":"ms"})
        );
        let text = to_json(&rows());
        assert_eq!(from_json(&text).unwrap(), rows());
        assert!(text.trim_start().starts_with('['));
    }

    #[test]
    fn ratios_and_tables() {
        let rows = rows();
        assert_eq!(ratio(Some(5000.0), Some(20000.0)), Some(0.25));
        assert_eq!(ratio(Some(1.0), Some(0.0)), None);
        assert_eq!(ratio(None, Some(1.0)), None);
        let t = table(&rows, "idle").unwrap();
        assert!(t.contains("rw/node"), "{t}");
        assert!(t.contains("0.25x"), "{t}");
        assert!(t.contains("lower"), "{t}");
        let t = table(&rows, "fanout").unwrap();
        assert!(t.contains("2.00x"), "{t}");
        assert!(t.contains("300,000"), "{t}");
        assert!(table(&rows, "connect").is_none());
    }

    #[test]
    fn merge_replaces_whole_cells() {
        let old = rows();
        let new = vec![Row::new(
            "idle",
            ServerKind::Roomwire,
            "cpu_ns_per_conn_per_sec",
            1.0,
        )];
        let merged = merge(old, &new);
        assert_eq!(merged.len(), 4);
        assert!(!merged
            .iter()
            .any(|r| r.server == "roomwire" && r.metric == "rss_bytes_per_conn"));
    }

    #[test]
    fn number_formats() {
        assert_eq!(fmt_value(1234567.0), "1,234,567");
        assert_eq!(fmt_value(-1234.0), "-1,234");
        assert_eq!(fmt_value(12.345), "12.35");
        assert_eq!(fmt_value(0.01234), "0.012");
        assert_eq!(compact(1_234_567.0), "1.23M");
        assert_eq!(compact(45_600.0), "45.6k");
    }
}
