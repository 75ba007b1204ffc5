//! A scenario's timeline as a self-contained SVG (no scripts, no external fonts or images):
//! time runs left to right, 0 at the event; the drill's and the nodes' events as vertical
//! markers with their labels on top; each node's VRRP state as a band per instance; each
//! router's paths per prefix; requests per 10 ms (answered grey, failed red); broken
//! connections as purple ticks; a legend at the bottom.

use std::fmt::Write;

use super::timeline::{Band, MarkKind, Shade, Timeline, BUCKET_US};

pub const MASTER: &str = "#2e7d32";
pub const BACKUP: &str = "#1565c0";
pub const FAULT: &str = "#ef6c00";
pub const INITIALIZE: &str = "#9e9e9e";
pub const DOWN: &str = "#424242";
pub const ANSWERED: &str = "#90a4ae";
pub const FAILED: &str = "#d50000";
pub const BROKEN: &str = "#6a1b9a";
/// The routers' paths: through the first node, the second, several, others, none.
pub const ROUTE_NODE: [&str; 2] = ["#00838f", "#ad1457"];
pub const ROUTE_MANY: &str = "#f9a825";
pub const ROUTE_NONE: &str = "#ffcdd2";

const WIDTH: f64 = 1280.0;
const LEFT: f64 = 200.0;
const RIGHT: f64 = 24.0;
const BAND: f64 = 22.0;
const GAP: f64 = 5.0;
const LABEL_ROWS: usize = 5;
const LABEL_ROW: f64 = 15.0;
const CHART: f64 = 110.0;

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn vrrp_colour(state: &str) -> &'static str {
    match state {
        "master" => MASTER,
        "backup" => BACKUP,
        "fault" => FAULT,
        "down" => DOWN,
        _ => INITIALIZE,
    }
}

fn route_colour(nodes: &[usize], other: usize) -> &'static str {
    match (nodes, other) {
        ([], 0) => ROUTE_NONE,
        ([n], 0) => ROUTE_NODE[*n % 2],
        _ => ROUTE_MANY,
    }
}

/// Whether white text reads on `colour`.
fn dark(colour: &str) -> bool {
    !matches!(colour, c if c == ROUTE_NONE || c == ROUTE_MANY || c == INITIALIZE)
}

struct Axis {
    from: i64,
    to: i64,
}

impl Axis {
    fn x(&self, t: i64) -> f64 {
        let span = (self.to - self.from).max(1) as f64;
        LEFT + (t.clamp(self.from, self.to) - self.from) as f64 / span * (WIDTH - LEFT - RIGHT)
    }
}

/// A chart of requests per 10 ms: answered grey, failed red on top.
fn chart(body: &mut String, y: &mut f64, ax: &Axis, title: &str, buckets: &[(u32, u32)]) {
    let max = buckets.iter().map(|(a, f)| a + f).max().unwrap_or(0).max(1) as f64;
    let answered: u32 = buckets.iter().map(|b| b.0).sum();
    let failed: u32 = buckets.iter().map(|b| b.1).sum();
    let _ = writeln!(
        body,
        r##"<text x="16" y="{:.1}" font-size="12" font-weight="bold" fill="#455a64">{}: {answered} answered, {failed} failed</text>"##,
        *y + 11.0,
        esc(title)
    );
    *y += 16.0;
    let _ = writeln!(
        body,
        r##"<rect x="{LEFT}" y="{:.1}" width="{:.1}" height="{CHART}" fill="#fafafa" stroke="#cfd8dc"/>"##,
        *y,
        WIDTH - LEFT - RIGHT
    );
    let _ = writeln!(
        body,
        r#"<text x="{:.1}" y="{:.1}" font-size="11" text-anchor="end">{max:.0}</text>"#,
        LEFT - 8.0,
        *y + 10.0
    );
    let bw = (ax.x(ax.from + BUCKET_US) - ax.x(ax.from)).max(0.6);
    for (i, (ok, bad)) in buckets.iter().enumerate() {
        let x = ax.x(ax.from + i as i64 * BUCKET_US);
        let base = *y + CHART;
        let h_ok = *ok as f64 / max * (CHART - 4.0);
        let h_bad = *bad as f64 / max * (CHART - 4.0);
        if *ok > 0 {
            let _ = writeln!(
                body,
                r#"<rect x="{x:.2}" y="{:.2}" width="{bw:.2}" height="{h_ok:.2}" fill="{ANSWERED}"/>"#,
                base - h_ok
            );
        }
        if *bad > 0 {
            // Failed requests stand out: at least a few pixels high and wide.
            let h = h_bad.max(6.0);
            let _ = writeln!(
                body,
                r#"<rect x="{x:.2}" y="{:.2}" width="{:.2}" height="{h:.2}" fill="{FAILED}"/>"#,
                base - h_ok - h,
                bw.max(2.0)
            );
        }
    }
    *y += CHART + GAP + 6.0;
}

/// A row of ticks, one per broken connection.
fn ticks(body: &mut String, y: &mut f64, ax: &Axis, title: &str, at: &[i64]) {
    let _ = writeln!(
        body,
        r##"<text x="16" y="{:.1}" font-size="12" font-weight="bold" fill="#455a64">{}: {}</text>"##,
        *y + 11.0,
        esc(title),
        at.len()
    );
    *y += 16.0;
    let _ = writeln!(
        body,
        r##"<rect x="{LEFT}" y="{:.1}" width="{:.1}" height="{BAND}" fill="#fafafa" stroke="#cfd8dc"/>"##,
        *y,
        WIDTH - LEFT - RIGHT
    );
    for &t in at {
        let _ = writeln!(
            body,
            r#"<rect x="{:.2}" y="{:.1}" width="2.5" height="{:.1}" fill="{BROKEN}"/>"#,
            ax.x(t) - 1.0,
            *y + 3.0,
            BAND - 6.0
        );
    }
    *y += BAND + GAP + 4.0;
}

/// The picture of `tl`; `event_us` is time 0 of the axis.
pub fn render(tl: &Timeline, event_us: i64) -> String {
    let ax = Axis {
        from: tl.from_us,
        to: tl.to_us,
    };
    let mut body = String::new();
    let mut y = 28.0;
    let _ = writeln!(
        body,
        r#"<text x="16" y="{y}" font-size="17" font-weight="bold">{}</text>"#,
        esc(&tl.title)
    );
    y += 8.0;
    for line in &tl.summary {
        y += 16.0;
        let _ = writeln!(
            body,
            r#"<text x="16" y="{y}" font-size="12.5">{}</text>"#,
            esc(line)
        );
    }
    y += 14.0;

    // Event labels, in rows so neighbours do not overlap; their lines are drawn last.
    let labels_top = y;
    let mut row_end = [f64::MIN; LABEL_ROWS];
    let mut lines = Vec::new();
    for e in &tl.events {
        let x = ax.x(e.t_us);
        let w = e.label.len() as f64 * 6.2 + 8.0;
        let row = (0..LABEL_ROWS)
            .find(|&r| row_end[r] < x)
            .unwrap_or_else(|| {
                (0..LABEL_ROWS)
                    .min_by(|a, b| row_end[*a].total_cmp(&row_end[*b]))
                    .unwrap_or(0)
            });
        row_end[row] = x + w;
        let colour = match e.kind {
            MarkKind::Drill => "#b71c1c",
            MarkKind::Node => "#37474f",
            MarkKind::Route => "#e65100",
        };
        let ly = labels_top + LABEL_ROW * (row as f64 + 1.0) - 3.0;
        let _ = writeln!(
            body,
            r#"<text x="{:.1}" y="{ly:.1}" font-size="11" fill="{colour}">{}</text>"#,
            x + 3.0,
            esc(&e.label)
        );
        lines.push((x, ly - 9.0, colour, e.kind));
    }
    y = labels_top + LABEL_ROW * LABEL_ROWS as f64 + 6.0;
    let plot_top = y;

    let section = |body: &mut String, y: &mut f64, title: &str, bands: &[Band]| {
        if bands.is_empty() {
            return;
        }
        let _ = writeln!(
            body,
            r##"<text x="16" y="{:.1}" font-size="12" font-weight="bold" fill="#455a64">{}</text>"##,
            *y + 11.0,
            esc(title)
        );
        *y += 16.0;
        for b in bands {
            let _ = writeln!(
                body,
                r#"<text x="{:.1}" y="{:.1}" font-size="12" text-anchor="end">{}</text>"#,
                LEFT - 8.0,
                *y + BAND * 0.7,
                esc(&b.label)
            );
            for s in &b.spans {
                let colour = match &s.shade {
                    Shade::Vrrp(st) => vrrp_colour(st),
                    Shade::Route { nodes, other } => route_colour(nodes, *other),
                };
                let (x0, x1) = (ax.x(s.from_us), ax.x(s.to_us));
                let _ = writeln!(
                    body,
                    r#"<rect x="{x0:.2}" y="{:.1}" width="{:.2}" height="{BAND}" fill="{colour}"/>"#,
                    *y,
                    (x1 - x0).max(0.5)
                );
                if x1 - x0 > s.text.len() as f64 * 7.0 + 6.0 {
                    let _ = writeln!(
                        body,
                        r#"<text x="{:.1}" y="{:.1}" font-size="11.5" fill="{}">{}</text>"#,
                        x0 + 4.0,
                        *y + BAND * 0.7,
                        if dark(colour) { "#ffffff" } else { "#212121" },
                        esc(&s.text)
                    );
                }
            }
            *y += BAND + GAP;
        }
        *y += 6.0;
    };
    section(&mut body, &mut y, "VRRP state", &tl.vrrp);
    section(&mut body, &mut y, "router's paths", &tl.routes);

    chart(&mut body, &mut y, &ax, "requests per 10 ms", &tl.buckets);
    ticks(&mut body, &mut y, &ax, "broken connections", &tl.breaks);
    if let Some(b) = &tl.snat_buckets {
        chart(
            &mut body,
            &mut y,
            &ax,
            "through the SNAT gateway: requests per 10 ms",
            b,
        );
        ticks(
            &mut body,
            &mut y,
            &ax,
            "through the SNAT gateway: broken connections",
            &tl.snat_breaks,
        );
    }
    let plot_bottom = y;

    // The time axis, 0 at the event.
    let span_ms = (tl.to_us - tl.from_us) as f64 / 1000.0;
    let step_ms = [100.0, 250.0, 500.0, 1000.0, 2000.0, 5000.0]
        .into_iter()
        .find(|s| span_ms / s <= 16.0)
        .unwrap_or(10_000.0);
    let first = ((tl.from_us - event_us) as f64 / 1000.0 / step_ms).ceil() as i64;
    let last = ((tl.to_us - event_us) as f64 / 1000.0 / step_ms).floor() as i64;
    for k in first..=last {
        let ms = k as f64 * step_ms;
        let x = ax.x(event_us + (ms * 1000.0) as i64);
        let _ = writeln!(
            body,
            r##"<line x1="{x:.1}" y1="{plot_top:.1}" x2="{x:.1}" y2="{plot_bottom:.1}" stroke="#eceff1"/>"##
        );
        let _ = writeln!(
            body,
            r#"<text x="{x:.1}" y="{:.1}" font-size="11" text-anchor="middle">{}{:.2} s</text>"#,
            plot_bottom + 14.0,
            if ms > 0.0 { "+" } else { "" },
            ms / 1000.0
        );
    }
    for (x, top, colour, kind) in lines {
        let dash = if kind == MarkKind::Drill {
            ""
        } else {
            r#" stroke-dasharray="4 3""#
        };
        let _ = writeln!(
            body,
            r#"<line x1="{x:.1}" y1="{top:.1}" x2="{x:.1}" y2="{plot_bottom:.1}" stroke="{colour}" stroke-width="1.3"{dash}/>"#
        );
    }
    y = plot_bottom + 34.0;

    // The legend.
    let mut x = 16.0;
    let names = &tl.node_names;
    let mut legend: Vec<(String, &str)> = vec![
        ("master".into(), MASTER),
        ("backup".into(), BACKUP),
        ("fault".into(), FAULT),
        ("initialize".into(), INITIALIZE),
        ("daemon not running".into(), DOWN),
    ];
    if !tl.routes.is_empty() {
        for (i, n) in names.iter().enumerate().take(2) {
            legend.push((format!("route via {n}"), ROUTE_NODE[i]));
        }
        legend.push(("via several".into(), ROUTE_MANY));
        legend.push(("no route".into(), ROUTE_NONE));
    }
    legend.push(("answered".into(), ANSWERED));
    legend.push(("failed".into(), FAILED));
    legend.push(("broken connection".into(), BROKEN));
    for (label, colour) in legend {
        let _ = writeln!(
            body,
            r##"<rect x="{x:.1}" y="{:.1}" width="12" height="12" fill="{colour}" stroke="#90a4ae" stroke-width="0.5"/>"##,
            y - 10.0
        );
        let _ = writeln!(
            body,
            r#"<text x="{:.1}" y="{y:.1}" font-size="11.5">{}</text>"#,
            x + 16.0,
            esc(&label)
        );
        x += 16.0 + label.len() as f64 * 6.6 + 18.0;
    }
    let height = y + 16.0;
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n\
         <svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{WIDTH}\" height=\"{height:.0}\" \
         viewBox=\"0 0 {WIDTH} {height:.0}\" font-family=\"sans-serif\">\n\
         <title>{}</title>\n<rect width=\"100%\" height=\"100%\" fill=\"#ffffff\"/>\n{body}</svg>\n",
        esc(&tl.title)
    )
}

#[cfg(test)]
mod tests {
    use super::super::timeline::{Event, Span};
    use super::*;

    fn sample() -> Timeline {
        let span = |a, b, s: &str| Span {
            from_us: a,
            to_us: b,
            shade: Shade::Vrrp(s.into()),
            text: s.into(),
        };
        Timeline {
            title: "crash <lb1> & co".into(),
            summary: vec!["failover 350.0 ms".into()],
            from_us: 0,
            to_us: 2_000_000,
            vrrp: vec![
                Band {
                    label: "lb1 front".into(),
                    spans: vec![
                        span(0, 1_000_000, "master"),
                        span(1_000_000, 2_000_000, "down"),
                    ],
                },
                Band {
                    label: "lb2 front".into(),
                    spans: vec![
                        span(0, 1_350_000, "backup"),
                        span(1_350_000, 2_000_000, "master"),
                    ],
                },
            ],
            routes: vec![Band {
                label: "r1 198.18.0.10/32".into(),
                spans: vec![Span {
                    from_us: 0,
                    to_us: 2_000_000,
                    shade: Shade::Route {
                        nodes: vec![0],
                        other: 0,
                    },
                    text: "via lb1".into(),
                }],
            }],
            buckets: vec![(2, 0), (1, 1), (0, 2)],
            breaks: vec![1_200_000],
            snat_buckets: Some(vec![(1, 0)]),
            snat_breaks: Vec::new(),
            events: vec![Event {
                t_us: 1_000_000,
                label: "SIGKILL".into(),
                kind: MarkKind::Drill,
            }],
            node_names: vec!["lb1".into(), "lb2".into()],
        }
    }

    /// Every element opened is closed, in order (a well-formedness check without a parser).
    fn balanced(svg: &str) -> bool {
        let mut stack: Vec<String> = Vec::new();
        let mut rest = svg;
        while let Some(i) = rest.find('<') {
            rest = &rest[i + 1..];
            let end = rest.find('>').unwrap_or(rest.len());
            let tag = &rest[..end];
            if tag.starts_with('?') || tag.ends_with('/') {
            } else if let Some(name) = tag.strip_prefix('/') {
                if stack.pop().as_deref() != Some(name) {
                    return false;
                }
            } else {
                stack.push(tag.split_whitespace().next().unwrap_or("").to_string());
            }
        }
        stack.is_empty()
    }

    #[test]
    fn renders_a_self_contained_picture() {
        let svg = render(&sample(), 1_000_000);
        assert!(svg.starts_with("<?xml"), "{svg}");
        assert!(balanced(&svg), "{svg}");
        for c in [
            MASTER,
            BACKUP,
            DOWN,
            FAILED,
            BROKEN,
            ROUTE_NODE[0],
            ANSWERED,
        ] {
            assert!(svg.contains(c), "{c}");
        }
        assert!(svg.contains("crash &lt;lb1&gt; &amp; co"));
        assert!(!svg.contains("<script") && !svg.contains("href"));
        assert!(
            svg.contains(">+0.50 s<") && svg.contains(">-0.50 s<"),
            "{svg}"
        );
    }
}
