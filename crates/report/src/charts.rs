//! The charts, drawn with plotters' SVG backend (text as SVG `<text>`: no font files). The
//! fragment timeline gets one `<rect data-fragment>` per fragment on top of the chart
//! plotters draws, placed with the chart's own coordinate mapping.

use std::fmt::Write as _;

use plotters::coord::Shift;
use plotters::prelude::*;

use crate::ReportRow;

/// Chart width, px.
pub(crate) const WIDTH: u32 = 1200;
/// The most points a series is drawn with (one `<polyline>` per series).
const MAX_POINTS: usize = 2000;

const PALETTE: [RGBColor; 6] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(23, 190, 207),
];

/// A colour of the palette, by series number.
pub(crate) fn colour(i: usize) -> RGBColor {
    PALETTE.get(i.checked_rem(PALETTE.len()).unwrap_or(0)).copied().unwrap_or(BLUE)
}

/// One line of a chart.
pub(crate) struct Series {
    pub label: String,
    pub colour: RGBColor,
    pub points: Vec<(f64, f64)>,
}

/// The time axis: seconds from `origin_ms`, over `[lo, hi]` seconds.
#[derive(Clone, Copy)]
pub(crate) struct Axis {
    pub origin_ms: i64,
    pub lo: f64,
    pub hi: f64,
}

impl Axis {
    pub(crate) fn of(rows: &[&ReportRow]) -> Axis {
        let origin_ms = rows.iter().map(|r| r.at_ms).min().unwrap_or(0);
        let mut hi: f64 = 0.0;
        for r in rows {
            let end = r.at_ms.saturating_sub(origin_ms).saturating_add(r.row.duration_ms());
            hi = hi.max(end as f64 / 1000.0);
        }
        Axis { origin_ms, lo: 0.0, hi: if hi > 0.001 { hi } else { 1.0 } }
    }

    pub(crate) fn x(&self, ms: i64) -> f64 {
        ms.saturating_sub(self.origin_ms) as f64 / 1000.0
    }
}

/// Averages runs of points so a series has at most [`MAX_POINTS`].
pub(crate) fn downsample(points: Vec<(f64, f64)>) -> Vec<(f64, f64)> {
    if points.len() <= MAX_POINTS {
        return points;
    }
    let per = points.len().div_ceil(MAX_POINTS);
    points
        .chunks(per)
        .map(|c| {
            let n = c.len() as f64;
            let (sx, sy) = c.iter().fold((0.0, 0.0), |(a, b), (x, y)| (a + x, b + y));
            (sx / n, sy / n)
        })
        .collect()
}

fn blank(root: &DrawingArea<SVGBackend<'_>, Shift>, title: &str, why: &str) {
    let _ = root.fill(&WHITE);
    let style = TextStyle::from(("sans-serif", 14).into_font()).color(&BLACK);
    let _ = root.draw_text(&format!("{title}: {why}"), &style, (10, 10));
    let _ = root.present();
}

/// A line chart over the time axis.
/// `from_zero`: the y axis starts at 0 (else it fits the data).
pub(crate) fn lines(title: &str, y_desc: &str, axis: Axis, series: Vec<Series>, from_zero: bool) -> String {
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (WIDTH, 220)).into_drawing_area();
        let series: Vec<Series> = series
            .into_iter()
            .filter(|s| !s.points.is_empty())
            .map(|s| Series { points: downsample(s.points), ..s })
            .collect();
        let ys = series.iter().flat_map(|s| s.points.iter().map(|p| p.1));
        let (mut lo, mut hi) = ys.fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), y| (a.min(y), b.max(y)));
        if series.is_empty() || !lo.is_finite() || !hi.is_finite() {
            blank(&root, title, "no data");
            drop(root);
            return svg;
        }
        if from_zero && lo > 0.0 {
            lo = 0.0;
        }
        let pad = ((hi - lo) * 0.08).max(0.001);
        hi += pad;
        if lo < 0.0 || !from_zero {
            lo -= pad;
        }
        if draw_lines(&root, title, y_desc, axis, lo..hi, &series).is_err() {
            blank(&root, title, "could not be drawn");
        }
    }
    svg
}

type DrawResult = Result<(), Box<dyn std::error::Error>>;

fn draw_lines(
    root: &DrawingArea<SVGBackend<'_>, Shift>,
    title: &str,
    y_desc: &str,
    axis: Axis,
    y: std::ops::Range<f64>,
    series: &[Series],
) -> DrawResult {
    root.fill(&WHITE)?;
    let mut chart = ChartBuilder::on(root)
        .caption(title, ("sans-serif", 15))
        .margin(8)
        .x_label_area_size(28)
        .y_label_area_size(64)
        .build_cartesian_2d(axis.lo..axis.hi, y)?;
    chart
        .configure_mesh()
        .x_desc("seconds")
        .y_desc(y_desc)
        .light_line_style(RGBColor(238, 238, 238))
        .label_style(("sans-serif", 11))
        .draw()?;
    for s in series {
        let c = s.colour;
        chart
            .draw_series(LineSeries::new(s.points.iter().copied(), c.stroke_width(1)))?
            .label(s.label.as_str())
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x.saturating_add(16), y)], c.stroke_width(2))
            });
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperRight)
        .background_style(WHITE.mix(0.85))
        .border_style(RGBColor(200, 200, 200))
        .label_font(("sans-serif", 11))
        .draw()?;
    root.present()?;
    Ok(())
}

/// The fragment timeline: a producer lane (one mark per fragment, gaps shaded, restarts
/// marked) and a server lane (arrival ticks, the server clock shifted by the first
/// fragment's clock offset so the lanes line up and drift shows as a slant).
pub(crate) fn timeline(rows: &[&ReportRow], axis: Axis, thumbs: &[(usize, i64)]) -> String {
    let mut svg = String::new();
    let mut marks = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (WIDTH, 190)).into_drawing_area();
        if rows.is_empty() {
            blank(&root, "Fragments", "none");
            drop(root);
            return svg;
        }
        if draw_timeline(&root, rows, axis, thumbs, &mut marks).is_err() {
            blank(&root, "Fragments", "could not be drawn");
            marks.clear();
        }
    }
    match svg.rfind("</svg>") {
        Some(at) => svg.insert_str(at, &marks),
        None => svg.push_str(&marks),
    }
    svg
}

fn draw_timeline(
    root: &DrawingArea<SVGBackend<'_>, Shift>,
    rows: &[&ReportRow],
    axis: Axis,
    thumbs: &[(usize, i64)],
    marks: &mut String,
) -> DrawResult {
    root.fill(&WHITE)?;
    let mut chart = ChartBuilder::on(root)
        .caption("Fragments on the producer and server clocks", ("sans-serif", 15))
        .margin(8)
        .x_label_area_size(28)
        .y_label_area_size(64)
        .build_cartesian_2d(axis.lo..axis.hi, 0.0..2.2)?;
    chart
        .configure_mesh()
        .x_desc("seconds (producer clock)")
        .y_labels(0)
        .disable_y_mesh()
        .light_line_style(RGBColor(238, 238, 238))
        .label_style(("sans-serif", 11))
        .draw()?;
    let lane = ("sans-serif", 12).into_font().color(&RGBColor(80, 80, 80));
    chart.draw_series([
        Text::new("producer", (axis.lo, 1.98), lane.clone()),
        Text::new("server", (axis.lo, 0.88), lane),
    ])?;
    // Gaps and restarts: few, drawn by plotters.
    let gap_fill = RGBColor(214, 39, 40).mix(0.25).filled();
    let mut gaps = Vec::new();
    let mut restarts = Vec::new();
    for r in rows {
        let x = axis.x(r.at_ms);
        if let Some(ms) = r.row.gap_ms() {
            gaps.push(Rectangle::new([(x - ms as f64 / 1000.0, 1.1), (x, 1.9)], gap_fill));
        }
        if r.row.restarts() {
            restarts
                .push(PathElement::new(vec![(x, 0.05), (x, 2.0)], RGBColor(255, 127, 14).stroke_width(2)));
        }
    }
    chart.draw_series(gaps)?;
    chart.draw_series(restarts)?;
    // Thumbnails' times: small ticks under the producer lane.
    chart.draw_series(
        thumbs.iter().map(|&(_, at)| PathElement::new(vec![(axis.x(at), 1.02), (axis.x(at), 1.1)], BLACK)),
    )?;
    // The server lane: one path of arrival ticks.
    let offset0 = rows.iter().find_map(|r| r.row.clock_offset_ms());
    let mut ticks = String::new();
    for r in rows {
        let (Some(server), Some(off)) = (r.row.server_timestamp_ms, offset0) else { continue };
        let (px, top) = chart.backend_coord(&(axis.x(server.saturating_sub(off)), 0.85));
        let (_, bottom) = chart.backend_coord(&(0.0, 0.15));
        let _ = write!(ticks, "M{px} {top}V{bottom}");
    }
    if !ticks.is_empty() {
        let _ = write!(
            marks,
            r##"<path class="server" d="{ticks}" stroke="#777" stroke-width="1" fill="none"/>"##
        );
    }
    // The producer lane: one mark per fragment.
    for (i, r) in rows.iter().enumerate() {
        let x0 = axis.x(r.at_ms);
        let x1 = x0 + r.row.duration_ms().max(0) as f64 / 1000.0;
        let error = r.row.is_error();
        let (lo, hi) = if error { (0.05, 2.0) } else { (1.15, 1.85) };
        let (px0, top) = chart.backend_coord(&(x0, hi));
        let (px1, bottom) = chart.backend_coord(&(x1, lo));
        // A pixel between fragments that are wide enough to show it.
        let w = px1.saturating_sub(px0);
        let w = if w >= 4 { w.saturating_sub(1) } else { w.max(1) };
        let h = bottom.saturating_sub(top).max(1);
        let mut class = format!("frag {}", crate::status_word(&r.row.status));
        if r.row.damaged || r.row.cut {
            class.push_str(" damaged");
        }
        if !r.row.findings.is_empty() {
            class.push_str(" finding");
        }
        let _ = write!(
            marks,
            r#"<rect class="{class}" data-fragment="{i}" x="{px0}" y="{top}" width="{w}" height="{h}"/>"#
        );
    }
    root.present()?;
    Ok(())
}
