//! `select --plot`: a criterion against k, one line per covariance type,
//! with the pick marked, degenerate fits hollow and off-scale points clipped.

use std::path::Path;

use anyhow::Result;
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::{
    area_error, colour, draw_legend, hollow_marker, off_scale_marker, pick_ring, render,
    whole_label, whole_ticks, Swatch, FONT, LEGEND_WIDTH, NOTE_GREY, SIZE,
};

/// One fitted cell of `select`'s grid.
#[derive(Clone, Copy, Debug)]
pub struct CriterionPoint {
    /// Number of components.
    pub k: usize,
    /// The criterion's value.
    pub value: f64,
    /// Some component collapsed (drawn hollow).
    pub degenerate: bool,
}

/// One covariance type's cells, in increasing k (failed cells left out).
#[derive(Clone, Debug)]
pub struct CriterionSeries {
    /// The covariance type's name.
    pub name: String,
    /// Its fitted cells.
    pub points: Vec<CriterionPoint>,
}

/// What `select --plot` draws.
pub struct CriterionChart<'a> {
    /// The picture's title.
    pub title: &'a str,
    /// The criterion's name as the axis shows it (`BIC`).
    pub criterion: &'a str,
    /// One line per covariance type, in the configured order.
    pub series: &'a [CriterionSeries],
    /// The chosen cell: index into `series` and its k.
    pub best: Option<(usize, usize)>,
    /// Degenerate cells may be chosen (`--allow-degenerate`).
    pub allow_degenerate: bool,
}

/// The y axis of the criterion chart.
///
/// One shared axis, clipped, rather than a panel per covariance type: `select`
/// picks the lowest value over every cell, so the picture must let values of
/// different covariance types be compared by height; panels with their own
/// scales turn that into reading tick labels, and panels on one scale are
/// flattened again by spherical. The axis spans every value up to the highest
/// point of the chosen covariance type's curve (plus 5%); higher points are
/// worse than every k of the chosen type, so they cannot change the decision.
/// They are drawn as triangles on the top edge, their lines run to the edge,
/// and the legend says which series left the axis. The axis is clipped only
/// when drawing everything would squeeze the chosen curve into less than a
/// third of the height; without a pick nothing is clipped.
#[derive(Clone, Copy, Debug, PartialEq)]
struct CriterionAxis {
    /// The bottom of the axis.
    low: f64,
    /// The top of the axis.
    high: f64,
    /// Whether points above `high` exist (and are drawn on the edge).
    clipped: bool,
}

impl CriterionAxis {
    fn new(chart: &CriterionChart<'_>) -> CriterionAxis {
        let values = |s: &CriterionSeries| -> Vec<f64> {
            s.points
                .iter()
                .map(|p| p.value)
                .filter(|v| v.is_finite())
                .collect()
        };
        let all: Vec<f64> = chart.series.iter().flat_map(values).collect();
        let low = all.iter().copied().fold(f64::INFINITY, f64::min);
        let high = all.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        if !low.is_finite() {
            return CriterionAxis {
                low: 0.0,
                high: 1.0,
                clipped: false,
            };
        }
        let padded = |top: f64, clipped| {
            let span = if top > low {
                top - low
            } else {
                low.abs().max(1.0)
            };
            // Room below the lowest point for the pick's label.
            CriterionAxis {
                low: low - 0.12 * span,
                high: top + 0.05 * span,
                clipped,
            }
        };
        let pick_high = chart
            .best
            .and_then(|(s, _)| chart.series.get(s))
            .map(|s| values(s).into_iter().fold(f64::NEG_INFINITY, f64::max));
        match pick_high {
            Some(top) if top > low && high - low > 3.0 * (top - low) => {
                let axis = padded(top, true);
                CriterionAxis {
                    clipped: high > axis.high,
                    ..axis
                }
            }
            _ => padded(high, false),
        }
    }
}

/// `select --plot`: the criterion against k, one line per covariance type;
/// the pick ringed and labelled, degenerate cells hollow, points far above
/// the chosen curve clipped to the top edge (see [`CriterionAxis`]).
pub fn criterion(path: &Path, chart: &CriterionChart<'_>) -> Result<()> {
    let axis = CriterionAxis::new(chart);
    render(
        path,
        |a| draw_criterion(a, chart, axis),
        |a| draw_criterion(a, chart, axis),
    )
}

/// `points` as line segments cut at `top`: the pieces below it, each with
/// whether it touches a degenerate cell.
fn clipped_segments(points: &[CriterionPoint], top: f64) -> Vec<([(f64, f64); 2], bool)> {
    let mut out = Vec::new();
    for pair in points.windows(2) {
        let (p, q) = (pair[0], pair[1]);
        let (a, b) = ((p.k as f64, p.value), (q.k as f64, q.value));
        if !(a.1.is_finite() && b.1.is_finite()) || (a.1 > top && b.1 > top) {
            continue;
        }
        let cut = |inside: (f64, f64), outside: (f64, f64)| {
            let t = (top - inside.1) / (outside.1 - inside.1);
            (inside.0 + t * (outside.0 - inside.0), top)
        };
        let segment = if a.1 > top {
            [cut(b, a), b]
        } else if b.1 > top {
            [a, cut(a, b)]
        } else {
            [a, b]
        };
        out.push((segment, p.degenerate || q.degenerate));
    }
    out
}

fn draw_criterion<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    chart: &CriterionChart<'_>,
    axis: CriterionAxis,
) -> Result<()>
where
    DB::ErrorType: 'static,
{
    area.fill(&WHITE).map_err(area_error)?;
    let body = area.titled(chart.title, (FONT, 22)).map_err(area_error)?;
    let (left, legend) = body.split_horizontally(SIZE.0 - LEGEND_WIDTH);
    let ks = chart
        .series
        .iter()
        .flat_map(|s| s.points.iter().map(|p| p.k));
    let (k_min, k_max) = ks.fold((usize::MAX, 0), |(a, b), k| (a.min(k), b.max(k)));
    let x = if k_min > k_max {
        (0.0, 1.0)
    } else if k_min == k_max {
        (k_min as f64 - 1.0, k_max as f64 + 1.0)
    } else {
        (k_min as f64 - 0.3, k_max as f64 + 0.3)
    };
    let mut plot = ChartBuilder::on(&left)
        .margin(16)
        .x_label_area_size(48)
        .y_label_area_size(90)
        .build_cartesian_2d(x.0..x.1, axis.low..axis.high)
        .map_err(area_error)?;
    plot.configure_mesh()
        .x_desc("k (components)")
        .y_desc(chart.criterion)
        .x_labels(whole_ticks(x))
        .x_label_formatter(&whole_label)
        .label_style((FONT, 15))
        .draw()
        .map_err(area_error)?;
    let on_axis = |p: &CriterionPoint| p.value <= axis.high;
    for (i, s) in chart.series.iter().enumerate() {
        let c = colour(i);
        for (segment, degenerate) in clipped_segments(&s.points, axis.high) {
            if degenerate {
                plot.draw_series(DashedLineSeries::new(segment, 6, 4, c.stroke_width(2)))
                    .map_err(area_error)?;
            } else {
                plot.draw_series(LineSeries::new(segment, c.stroke_width(2)))
                    .map_err(area_error)?;
            }
        }
    }
    // Markers after every line, so no line crosses a marker. Off-scale
    // markers at the same k stand side by side, in series order.
    let off_scale_at = |k: usize| -> Vec<usize> {
        (0..chart.series.len())
            .filter(|&i| {
                chart.series[i]
                    .points
                    .iter()
                    .any(|p| p.k == k && p.value.is_finite() && !on_axis(p))
            })
            .collect()
    };
    for (i, s) in chart.series.iter().enumerate() {
        let c = colour(i);
        for p in s.points.iter().filter(|p| p.value.is_finite()) {
            let at = plot.backend_coord(&(p.k as f64, p.value.min(axis.high)));
            if !on_axis(p) {
                let side = off_scale_at(p.k);
                let slot = side.iter().position(|&j| j == i).unwrap_or(0) as i32;
                let dx = 14 * slot - 7 * (side.len() as i32 - 1);
                off_scale_marker(area, (at.0 + dx, at.1 + 2), c, p.degenerate)?;
            } else if p.degenerate {
                hollow_marker(area, at, c)?;
            } else {
                area.draw(&Circle::new(at, 3, c.filled()))
                    .map_err(area_error)?;
            }
        }
    }
    let best = chart.best.and_then(|(s, k)| {
        let series = chart.series.get(s)?;
        let p = series.points.iter().find(|p| p.k == k)?;
        Some((series, *p))
    });
    if let Some((series, p)) = best {
        let at = plot.backend_coord(&(p.k as f64, p.value));
        pick_ring(area, at)?;
        let label = format!("best: k = {}, {}", p.k, series.name);
        // Below the ring, kept inside the plot when the pick is near an edge.
        let (xs, _) = plot.plotting_area().get_pixel_range();
        let h_pos = if at.0 - xs.start < 90 {
            HPos::Left
        } else if xs.end - at.0 < 90 {
            HPos::Right
        } else {
            HPos::Center
        };
        let font = (FONT, 15)
            .into_font()
            .color(&BLACK)
            .pos(Pos::new(h_pos, VPos::Top));
        let (tw, th) = area.estimate_text_size(&label, &font).map_err(area_error)?;
        let (tw, th) = (tw as i32, th as i32);
        let x0 = match h_pos {
            HPos::Left => at.0 - 9,
            HPos::Right => at.0 + 9 - tw,
            HPos::Center => at.0 - tw / 2,
        };
        let anchor_x = match h_pos {
            HPos::Left => at.0 - 9,
            HPos::Right => at.0 + 9,
            HPos::Center => at.0,
        };
        let y0 = at.1 + 14;
        area.draw(&Rectangle::new(
            [(x0 - 3, y0 - 2), (x0 + tw + 3, y0 + th + 4)],
            WHITE.mix(0.85).filled(),
        ))
        .map_err(area_error)?;
        area.draw(&Text::new(label, (anchor_x, y0), font))
            .map_err(area_error)?;
    }
    draw_legend(&legend, &criterion_legend(chart, axis, best))
}

/// The legend rows of the criterion chart.
fn criterion_legend(
    chart: &CriterionChart<'_>,
    axis: CriterionAxis,
    best: Option<(&CriterionSeries, CriterionPoint)>,
) -> Vec<(Swatch, String)> {
    let mut rows = Vec::new();
    for (i, s) in chart.series.iter().enumerate() {
        let above: Vec<String> = s
            .points
            .iter()
            .filter(|p| p.value.is_finite() && p.value > axis.high)
            .map(|p| p.k.to_string())
            .collect();
        let name = if s.points.is_empty() {
            format!("{} (no fit)", s.name)
        } else if above.len() == s.points.len() {
            format!("{} (off scale)", s.name)
        } else {
            s.name.clone()
        };
        rows.push((Swatch::Series(colour(i)), name));
        if !above.is_empty() && above.len() < s.points.len() {
            rows.push((Swatch::None, format!("k = {} off scale", above.join(", "))));
        }
    }
    if let Some((series, p)) = best {
        rows.push((Swatch::Ring, format!("best: k = {}, {}", p.k, series.name)));
        rows.push((Swatch::None, format!("{} {:.1}", chart.criterion, p.value)));
    }
    let degenerate = chart
        .series
        .iter()
        .flat_map(|s| s.points.iter())
        .any(|p| p.degenerate);
    if degenerate {
        rows.push((Swatch::Hollow(NOTE_GREY), "degenerate fit".into()));
        rows.push((Swatch::Dashed(NOTE_GREY), "(a component".into()));
        rows.push((
            Swatch::None,
            if chart.allow_degenerate {
                "collapsed; allowed)".into()
            } else {
                "collapsed; never best)".into()
            },
        ));
    }
    if axis.clipped {
        rows.push((Swatch::Triangle(NOTE_GREY), "above the axis".into()));
        rows.push((
            Swatch::None,
            format!("({} > {:.1})", chart.criterion, axis.high),
        ));
    }
    rows
}

#[cfg(test)]
mod tests {
    use super::{clipped_segments, CriterionAxis, CriterionChart, CriterionPoint, CriterionSeries};

    fn series(name: &str, values: &[f64]) -> CriterionSeries {
        CriterionSeries {
            name: name.into(),
            points: values
                .iter()
                .enumerate()
                .map(|(i, &value)| CriterionPoint {
                    k: i + 1,
                    value,
                    degenerate: false,
                })
                .collect(),
        }
    }

    #[test]
    fn the_axis_is_clipped_above_the_chosen_curve_only_when_it_would_squeeze_it() {
        // faithful's BIC, k = 1..3: spherical far above the others.
        let all = [
            series("tied", &[2607.6, 2325.2, 2314.3]),
            series("spherical", &[4024.7, 3458.3, 3336.5]),
        ];
        let chart = |best| CriterionChart {
            title: "",
            criterion: "BIC",
            series: &all,
            best,
            allow_degenerate: false,
        };
        let axis = CriterionAxis::new(&chart(Some((0, 3))));
        assert!(axis.clipped);
        let span = 2607.6 - 2314.3;
        assert!(
            (axis.high - (2607.6 + 0.05 * span)).abs() < 1e-9,
            "{axis:?}"
        );
        assert!((axis.low - (2314.3 - 0.12 * span)).abs() < 1e-9, "{axis:?}");
        // No pick: everything on the axis.
        let axis = CriterionAxis::new(&chart(None));
        assert!(!axis.clipped && axis.high > 4024.7, "{axis:?}");
        // The pick's own curve is already most of the range: no clipping.
        let close = [
            series("tied", &[3000.0, 2325.2, 2314.3]),
            series("spherical", &[3300.0, 3100.0, 3050.0]),
        ];
        let axis = CriterionAxis::new(&CriterionChart {
            series: &close,
            ..chart(Some((0, 3)))
        });
        assert!(!axis.clipped && axis.high > 3300.0, "{axis:?}");
    }

    #[test]
    fn clipped_segments_end_on_the_top_edge() {
        let s = series("s", &[10.0, 2.0, 4.0, 20.0, 30.0]);
        let pieces = clipped_segments(&s.points, 6.0);
        let ends: Vec<[(f64, f64); 2]> = pieces.iter().map(|(p, _)| *p).collect();
        assert_eq!(
            ends,
            vec![
                [(1.5, 6.0), (2.0, 2.0)],
                [(2.0, 2.0), (3.0, 4.0)],
                [(3.0, 4.0), (3.125, 6.0)],
            ]
        );
    }
}
