//! The report as one self-contained HTML page: the figures as tables and
//! SVG charts (latency histograms; operations and faults over virtual
//! time). No scripts, no outside resources.

use std::fmt::Write;

use crate::Report;

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

const PALETTE: [&str; 16] = [
    "#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948", "#b07aa1", "#ff9da7",
    "#9c755f", "#bab0ac", "#1b9e77", "#d95f02", "#7570b3", "#e7298a", "#66a61e", "#333333",
];

/// An SVG document's opening, with `title` as its title and heading.
fn svg_open(w: f64, h: f64, pad: f64, title: &str) -> String {
    format!(
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" viewBox="0 0 {w} {h}" role="img"><title>{t}</title><text x="{pad}" y="18" font-size="13" font-family="sans-serif">{t}</text>"#,
        t = esc(title)
    )
}

/// A histogram of `samples` (milliseconds) on logarithmic bins.
pub fn histogram_svg(title: &str, samples: &[f64]) -> String {
    let (w, h, pad) = (460.0, 220.0, 40.0);
    let mut svg = svg_open(w, h, pad, title);
    if samples.is_empty() {
        let _ = write!(
            svg,
            r#"<text x="{pad}" y="110" font-size="12" font-family="sans-serif">no samples</text></svg>"#
        );
        return svg;
    }
    // Bins: 1 ms up to 100 s, four per decade.
    let edges: Vec<f64> = (0..=20).map(|i| 10f64.powf(f64::from(i) / 4.0)).collect();
    let mut counts = vec![0u64; edges.len()];
    for &s in samples {
        let i = edges.iter().position(|&e| s < e).unwrap_or(edges.len() - 1);
        counts[i] += 1;
    }
    let max = counts.iter().copied().max().unwrap_or(1).max(1) as f64;
    let bw = (w - 2.0 * pad) / counts.len() as f64;
    for (i, &c) in counts.iter().enumerate() {
        let bh = (h - 2.0 * pad) * c as f64 / max;
        let x = pad + i as f64 * bw;
        let y = h - pad - bh;
        let _ = write!(
            svg,
            r#"<rect x="{x:.1}" y="{y:.1}" width="{:.1}" height="{bh:.1}" fill="{}"><title>&lt; {:.0} ms: {c}</title></rect>"#,
            bw - 1.0,
            PALETTE[0],
            edges[i]
        );
    }
    for (i, label) in [
        (0, "1 ms"),
        (4, "10 ms"),
        (8, "100 ms"),
        (12, "1 s"),
        (16, "10 s"),
        (20, "100 s"),
    ] {
        let x = pad + f64::from(i) * bw;
        let _ = write!(
            svg,
            r#"<text x="{x:.1}" y="{:.1}" font-size="10" font-family="sans-serif">{label}</text>"#,
            h - pad + 14.0
        );
    }
    let _ = write!(
        svg,
        r#"<text x="4" y="{:.1}" font-size="10" font-family="sans-serif">{max:.0}</text><line x1="{pad}" y1="{:.1}" x2="{:.1}" y2="{:.1}" stroke="black"/></svg>"#,
        pad + 4.0,
        h - pad,
        w - pad,
        h - pad
    );
    svg
}

/// Stacked bars of `series` (name, count) per time bucket.
pub fn stacked_svg(title: &str, timeline: &[(u64, Vec<(String, u64)>)]) -> String {
    let (w, h, pad) = (940.0, 260.0, 40.0);
    let mut names: Vec<String> = Vec::new();
    for (_, row) in timeline {
        for (n, _) in row {
            if !names.contains(n) {
                names.push(n.clone());
            }
        }
    }
    let mut svg = svg_open(w, h, pad, title);
    let last = timeline.iter().map(|(t, _)| *t).max().unwrap_or(0) + 1;
    let max = timeline
        .iter()
        .map(|(_, row)| row.iter().map(|(_, c)| *c).sum::<u64>())
        .max()
        .unwrap_or(1)
        .max(1) as f64;
    let bw = (w - 2.0 * pad - 160.0) / last as f64;
    for (t, row) in timeline {
        let mut y = h - pad;
        for (n, c) in row {
            let k = names.iter().position(|x| x == n).unwrap_or(0);
            let bh = (h - 2.0 * pad) * *c as f64 / max;
            y -= bh;
            let _ = write!(
                svg,
                r#"<rect x="{:.1}" y="{y:.1}" width="{:.1}" height="{bh:.1}" fill="{}"><title>{} s: {} {c}</title></rect>"#,
                pad + *t as f64 * bw,
                bw.max(1.0),
                PALETTE[k % PALETTE.len()],
                t,
                esc(n)
            );
        }
    }
    for (k, n) in names.iter().enumerate() {
        let y = 30.0 + k as f64 * 14.0;
        let x = w - pad - 150.0;
        let _ = write!(
            svg,
            r#"<rect x="{x}" y="{:.1}" width="10" height="10" fill="{}"/><text x="{:.1}" y="{y:.1}" font-size="10" font-family="sans-serif">{}</text>"#,
            y - 9.0,
            PALETTE[k % PALETTE.len()],
            x + 14.0,
            esc(n)
        );
    }
    let _ = write!(
        svg,
        r#"<line x1="{pad}" y1="{:.1}" x2="{:.1}" y2="{:.1}" stroke="black"/><text x="{pad}" y="{:.1}" font-size="10" font-family="sans-serif">0 s</text><text x="{:.1}" y="{:.1}" font-size="10" font-family="sans-serif">{last} s (virtual)</text><text x="4" y="{:.1}" font-size="10" font-family="sans-serif">{max:.0}</text></svg>"#,
        h - pad,
        pad + last as f64 * bw,
        h - pad,
        h - pad + 14.0,
        pad + last as f64 * bw - 40.0,
        h - pad + 14.0,
        pad + 4.0
    );
    svg
}

fn table(head: &[&str], rows: Vec<Vec<String>>) -> String {
    let mut t = String::from("<table><tr>");
    for h in head {
        let _ = write!(t, "<th>{}</th>", esc(h));
    }
    t.push_str("</tr>");
    for r in rows {
        t.push_str("<tr>");
        for c in r {
            let _ = write!(t, "<td>{}</td>", esc(&c));
        }
        t.push_str("</tr>");
    }
    t.push_str("</table>");
    t
}

/// The report's charts, each as (file name, SVG document).
pub fn charts(r: &Report) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for (name, samples) in &r.latency_samples_ms {
        out.push((
            format!("latency-{}.svg", name.replace(' ', "-")),
            histogram_svg(
                &format!("{name} latency (virtual ms), {} samples", samples.len()),
                samples,
            ),
        ));
    }
    out.push((
        "operations.svg".into(),
        stacked_svg("operations completed per virtual second", &r.timeline),
    ));
    out.push((
        "faults.svg".into(),
        stacked_svg("faults injected per virtual second", &r.fault_timeline),
    ));
    out
}

/// The whole page.
pub fn page(r: &Report) -> String {
    let mut p = String::from(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>keylink simulation</title><style>body{font-family:sans-serif;max-width:1000px;margin:2em auto;color:#222}table{border-collapse:collapse;margin:.5em 0 1.5em}td,th{border:1px solid #ccc;padding:2px 8px;text-align:right}th{background:#f4f4f4}td:first-child{text-align:left}.bad{color:#b00}.ok{color:#070}</style></head><body>",
    );
    let verdict = if r.violations.is_empty() {
        "<p class=\"ok\"><b>0 violations</b></p>".to_string()
    } else {
        format!(
            "<p class=\"bad\"><b>{} violations</b></p>",
            r.violations.len()
        )
    };
    let _ = write!(
        p,
        "<h1>keylink simulation, seed {}</h1>{verdict}<p>{} accounts, {} devices, {} operations over {:.0} s of virtual time in {:.1} s of wall time ({:.0} operations/s); transport {:?}; peak memory {:.0} MiB. {} accounts used production Argon2id; the rest {}.</p><p>Replay: <code>cargo run --release -p keylink-sim -- --seed {}</code>. Trace hash <code>{}</code>.</p>",
        r.seed,
        r.accounts,
        r.devices,
        r.total_ops,
        r.virtual_s,
        r.wall_s,
        r.ops_per_s,
        r.transport,
        r.peak_rss_mib,
        r.production_kdf_accounts,
        esc(&r.low_cost_kdf),
        r.seed,
        r.trace_hash
    );
    let charts = charts(r);
    let (latency, over_time) = charts.split_at(charts.len().saturating_sub(2));
    p.push_str("<h2>Latency</h2>");
    for (_, svg) in latency {
        p.push_str(svg);
    }
    p.push_str(&table(
        &["operation", "p50 ms", "p95 ms", "p99 ms", "n"],
        r.latency
            .iter()
            .map(|(n, l)| {
                vec![
                    n.clone(),
                    format!("{:.1}", l.p50_ms),
                    format!("{:.1}", l.p95_ms),
                    format!("{:.1}", l.p99_ms),
                    l.n.to_string(),
                ]
            })
            .collect(),
    ));
    p.push_str("<h2>Over time</h2>");
    for (_, svg) in over_time {
        p.push_str(svg);
    }
    p.push_str("<h2>Operations</h2>");
    p.push_str(&table(
        &["operation", "ok", "failed"],
        r.ops
            .iter()
            .map(|(n, c)| vec![n.clone(), c.ok.to_string(), c.failed.to_string()])
            .collect(),
    ));
    p.push_str("<h2>Faults</h2>");
    p.push_str(&table(
        &["fault", "count"],
        r.faults
            .iter()
            .map(|(n, c)| vec![n.clone(), c.to_string()])
            .collect(),
    ));
    p.push_str("<h2>Malicious server</h2>");
    p.push_str(&table(
        &[
            "attack",
            "armed",
            "fired",
            "detected",
            "harmless",
            "other failure",
        ],
        r.attacks
            .iter()
            .map(|(n, c)| {
                vec![
                    n.clone(),
                    c.armed.to_string(),
                    c.fired.to_string(),
                    c.detected.to_string(),
                    c.harmless.to_string(),
                    c.inconclusive.to_string(),
                ]
            })
            .collect(),
    ));
    p.push_str("<h2>Invariant checks</h2>");
    p.push_str(&table(
        &["check", "runs"],
        r.checks
            .iter()
            .map(|(n, c)| vec![n.clone(), c.to_string()])
            .collect(),
    ));
    if !r.violations.is_empty() {
        p.push_str("<h2>Violations</h2>");
        for v in r.violations.iter().take(50) {
            let _ = write!(
                p,
                "<h3 class=\"bad\">{} — {}</h3><p>{}</p><pre>{}</pre>",
                v.check.name(),
                v.place(),
                esc(&v.detail),
                esc(&v.trace.join("\n"))
            );
        }
    }
    p.push_str("</body></html>\n");
    p
}
