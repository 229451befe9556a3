//! Pictures: convergence curves, criteria against k, and 2-D scatter plots of
//! a mixture. PNG or SVG by the file's extension. Text is drawn with DejaVu
//! Sans compiled into the binary, so a machine with no font packages renders
//! the same picture.

use std::path::Path;
use std::sync::Once;

use anyhow::{anyhow, Result};
use emkit::TraceEntry;
use plotters::coord::Shift;
use plotters::element::DashedPathElement;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use plotters::style::{register_font, FontStyle};

use canvas::Canvas;
pub use criterion::{criterion, CriterionChart, CriterionPoint, CriterionSeries};
pub use scatter::{run, PlotArgs};

mod canvas;
mod criterion;
mod scatter;

use crate::common::{check_output_path, input_error, write_atomic};

/// Picture size in pixels (PNG) or user units (SVG).
pub const SIZE: (u32, u32) = (800, 600);

/// The font family name the pictures use.
const FONT: &str = "sans-serif";

/// Width of the legend column right of the criterion and scatter charts: a
/// legend inside the chart would hide the points a user decides by.
const LEGEND_WIDTH: u32 = 220;

/// Height of one legend row.
const LEGEND_ROW: i32 = 22;

/// Colours of components and series, in order (then repeated).
const PALETTE: [RGBColor; 8] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(127, 127, 127),
];

/// Legend marks that stand for no one series.
const NOTE_GREY: RGBColor = RGBColor(90, 90, 90);

fn colour(i: usize) -> RGBColor {
    PALETTE[i % PALETTE.len()]
}

/// Component `i`'s ellipse: its colour at 65%, darker than its points (drawn
/// at 60% opacity on white, so lighter).
fn ellipse_colour(i: usize) -> RGBColor {
    let RGBColor(r, g, b) = colour(i);
    let dark = |v: u8| (f64::from(v) * 0.65).round() as u8;
    RGBColor(dark(r), dark(g), dark(b))
}

fn register_embedded_font() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        // The bytes are a valid TrueType font shipped by the dejavu crate.
        let _ = register_font(FONT, FontStyle::Normal, dejavu::sans::regular());
    });
}

#[derive(Clone, Copy)]
enum Format {
    Png,
    Svg,
}

/// Checks a picture path before any work: its folder exists and its extension
/// is `.png` or `.svg`.
pub fn check_plot_path(path: &Path) -> Result<()> {
    check_output_path(path)?;
    format_of(path).map(|_| ())
}

fn format_of(path: &Path) -> Result<Format> {
    match path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase)
        .as_deref()
    {
        Some("png") => Ok(Format::Png),
        Some("svg") => Ok(Format::Svg),
        _ => Err(input_error(format!(
            "{}: a picture must end in .png or .svg",
            path.display()
        ))),
    }
}

/// Draws the picture in memory (`draw_png` onto an RGB buffer encoded by
/// `image`, or `draw_svg` onto a string) and writes the bytes with
/// [`write_atomic`], so every output file of emkit goes through one writer.
fn render(
    path: &Path,
    draw_png: impl FnOnce(&DrawingArea<Canvas<'_>, Shift>) -> Result<()>,
    draw_svg: impl FnOnce(&DrawingArea<SVGBackend<'_>, Shift>) -> Result<()>,
) -> Result<()> {
    register_embedded_font();
    let bytes = match format_of(path)? {
        Format::Png => png_bytes(draw_png),
        Format::Svg => svg_bytes(draw_svg),
    }
    .map_err(|e| anyhow!("{}: cannot draw the picture: {e}", path.display()))?;
    write_atomic(path, |out| out.write_all(&bytes))
}

fn png_bytes(draw: impl FnOnce(&DrawingArea<Canvas<'_>, Shift>) -> Result<()>) -> Result<Vec<u8>> {
    use image::ImageEncoder;
    let mut pixels = vec![0u8; SIZE.0 as usize * SIZE.1 as usize * 3];
    {
        let area = Canvas(BitMapBackend::with_buffer(&mut pixels, SIZE)).into_drawing_area();
        draw(&area)?;
        area.present().map_err(|e| anyhow!("{e}"))?;
    }
    let mut bytes = Vec::new();
    image::codecs::png::PngEncoder::new(&mut bytes).write_image(
        &pixels,
        SIZE.0,
        SIZE.1,
        image::ExtendedColorType::Rgb8,
    )?;
    Ok(bytes)
}

fn svg_bytes(
    draw: impl FnOnce(&DrawingArea<SVGBackend<'_>, Shift>) -> Result<()>,
) -> Result<Vec<u8>> {
    let mut text = String::new();
    {
        let area = SVGBackend::with_string(&mut text, SIZE).into_drawing_area();
        draw(&area)?;
        area.present().map_err(|e| anyhow!("{e}"))?;
    }
    Ok(text.into_bytes())
}

/// An error of a drawing area as `anyhow`.
fn area_error<E: std::error::Error + Send + Sync + 'static>(
    e: DrawingAreaErrorKind<E>,
) -> anyhow::Error {
    anyhow!("{e}")
}

/// Whole-number ticks for counts (k, iterations): `x` spans `range`.
fn whole_ticks(range: (f64, f64)) -> usize {
    ((range.1 - range.0).floor() as usize + 1).clamp(2, 12)
}

fn whole_label(v: &f64) -> String {
    if v.fract() != 0.0 {
        String::new()
    } else {
        format!("{v:.0}")
    }
}

/// Lines through points, one series per `(name, points)`, with axis labels.
pub fn lines(
    path: &Path,
    title: &str,
    x_label: &str,
    y_label: &str,
    series: &[(String, Vec<(f64, f64)>)],
) -> Result<()> {
    fn draw<DB: DrawingBackend>(
        area: &DrawingArea<DB, Shift>,
        title: &str,
        x_label: &str,
        y_label: &str,
        series: &[(String, Vec<(f64, f64)>)],
    ) -> Result<()>
    where
        DB::ErrorType: 'static,
    {
        area.fill(&WHITE).map_err(area_error)?;
        let points = series.iter().flat_map(|(_, p)| p.iter().copied());
        let (x, y) = bounds(points);
        let mut chart = ChartBuilder::on(area)
            .caption(title, (FONT, 24))
            .margin(16)
            .x_label_area_size(48)
            .y_label_area_size(90)
            .build_cartesian_2d(x.0..x.1, y.0..y.1)
            .map_err(area_error)?;
        // Counts (k, iterations) get whole-number ticks only.
        let whole = series
            .iter()
            .flat_map(|(_, p)| p.iter())
            .all(|(x, _)| x.fract() == 0.0);
        let label = |v: &f64| {
            if whole {
                whole_label(v)
            } else {
                format!("{v}")
            }
        };
        chart
            .configure_mesh()
            .x_desc(x_label)
            .y_desc(y_label)
            .x_labels(if whole { whole_ticks(x) } else { 10 })
            .x_label_formatter(&label)
            .label_style((FONT, 15))
            .draw()
            .map_err(area_error)?;
        for (i, (name, p)) in series.iter().enumerate() {
            let c = colour(i);
            chart
                .draw_series(LineSeries::new(p.iter().copied(), c.stroke_width(2)))
                .map_err(area_error)?
                .label(name.as_str())
                .legend(move |(x, y)| PathElement::new([(x, y), (x + 20, y)], c.stroke_width(2)));
            chart
                .draw_series(p.iter().map(|&q| Circle::new(q, 3, c.filled())))
                .map_err(area_error)?;
        }
        if series.len() > 1 {
            chart
                .configure_series_labels()
                .background_style(WHITE.mix(0.8))
                .border_style(BLACK)
                .label_font((FONT, 15))
                .draw()
                .map_err(area_error)?;
        }
        Ok(())
    }
    render(
        path,
        |a| draw(a, title, x_label, y_label, series),
        |a| draw(a, title, x_label, y_label, series),
    )
}

/// The convergence curve of a fit: mean log-likelihood per iteration.
pub fn convergence(path: &Path, trace: &[TraceEntry], title: &str) -> Result<()> {
    let points = trace
        .iter()
        .map(|e| (e.iteration as f64, e.mean_log_likelihood))
        .collect();
    lines(
        path,
        title,
        "iteration",
        "mean log-likelihood",
        &[("best restart".into(), points)],
    )
}

/// Smallest and largest x and y, padded by 5% (and widened when flat).
fn bounds(points: impl Iterator<Item = (f64, f64)>) -> ((f64, f64), (f64, f64)) {
    let (mut x, mut y) = (
        (f64::INFINITY, f64::NEG_INFINITY),
        (f64::INFINITY, f64::NEG_INFINITY),
    );
    for (a, b) in points.filter(|(a, b)| a.is_finite() && b.is_finite()) {
        x = (x.0.min(a), x.1.max(a));
        y = (y.0.min(b), y.1.max(b));
    }
    let pad = |(lo, hi): (f64, f64)| {
        if !lo.is_finite() {
            return (0.0, 1.0);
        }
        let span = if hi > lo { hi - lo } else { lo.abs().max(1.0) };
        (lo - 0.05 * span, hi + 0.05 * span)
    };
    (pad(x), pad(y))
}

/// The mark drawn beside a legend row's text.
#[derive(Clone, Copy)]
enum Swatch {
    /// A series: its line with a filled dot.
    Series(RGBColor),
    /// A component of a scatter: a filled dot.
    Dot(RGBColor),
    /// A degenerate cell: a hollow circle.
    Hollow(RGBColor),
    /// The chosen cell: a black ring.
    Ring,
    /// A point above the axis: an upward triangle at the top edge.
    Triangle(RGBColor),
    /// A line of the given width.
    Line(RGBColor, u32),
    /// A dashed line.
    Dashed(RGBColor),
    /// Text only (a second line of the row above).
    None,
}

/// The legend column: one row per `(swatch, text)`, from the top of `area`
/// (rows that do not fit are summarised in a last row).
fn draw_legend<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    rows: &[(Swatch, String)],
) -> Result<()>
where
    DB::ErrorType: 'static,
{
    let (w, h) = area.dim_in_pixel();
    let fit = ((h as i32 - 40) / LEGEND_ROW).max(1) as usize;
    let mut shown: Vec<(Swatch, String)> = rows.to_vec();
    if shown.len() > fit {
        let hidden = shown.len() - (fit - 1);
        shown.truncate(fit - 1);
        shown.push((Swatch::None, format!("... and {hidden} more rows")));
    }
    let top = 24;
    let height = shown.len() as i32 * LEGEND_ROW + 8;
    area.draw(&Rectangle::new(
        [(0, top - 4), (w as i32 - 12, top + height - 4)],
        RGBColor(200, 200, 200).stroke_width(1),
    ))
    .map_err(area_error)?;
    let font = (FONT, 15)
        .into_font()
        .color(&BLACK)
        .pos(Pos::new(HPos::Left, VPos::Center));
    for (i, (swatch, text)) in shown.iter().enumerate() {
        let y = top + 8 + i as i32 * LEGEND_ROW;
        let (x0, x1) = (8, 38);
        let mid = (x0 + x1) / 2;
        match *swatch {
            Swatch::Series(c) => {
                area.draw(&PathElement::new([(x0, y), (x1, y)], c.stroke_width(2)))
                    .map_err(area_error)?;
                area.draw(&Circle::new((mid, y), 3, c.filled()))
                    .map_err(area_error)?;
            }
            Swatch::Dot(c) => area
                .draw(&Circle::new((mid, y), 4, c.mix(0.6).filled()))
                .map_err(area_error)?,
            Swatch::Hollow(c) => hollow_marker(area, (mid, y), c)?,
            Swatch::Ring => pick_ring(area, (mid, y))?,
            Swatch::Triangle(c) => off_scale_marker(area, (mid, y - 5), c, false)?,
            Swatch::Line(c, width) => area
                .draw(&PathElement::new([(x0, y), (x1, y)], c.stroke_width(width)))
                .map_err(area_error)?,
            Swatch::Dashed(c) => area
                .draw(&DashedPathElement::new(
                    [(x0, y), (x1, y)],
                    6,
                    4,
                    c.stroke_width(2),
                ))
                .map_err(area_error)?,
            Swatch::None => {}
        }
        area.draw(&Text::new(text.as_str(), (46, y), font.clone()))
            .map_err(area_error)?;
    }
    Ok(())
}

/// A degenerate cell: a hollow circle (white inside, so a line through it
/// does not fill it).
fn hollow_marker<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    at: (i32, i32),
    c: RGBColor,
) -> Result<()>
where
    DB::ErrorType: 'static,
{
    area.draw(&Circle::new(at, 5, WHITE.filled()))
        .map_err(area_error)?;
    area.draw(&Circle::new(at, 5, c.stroke_width(2)))
        .map_err(area_error)?;
    Ok(())
}

/// The chosen cell: a black ring, larger than any point.
fn pick_ring<DB: DrawingBackend>(area: &DrawingArea<DB, Shift>, at: (i32, i32)) -> Result<()>
where
    DB::ErrorType: 'static,
{
    area.draw(&Circle::new(at, 9, BLACK.stroke_width(2)))
        .map_err(area_error)?;
    Ok(())
}

/// A point above the axis: an upward triangle whose tip is at `tip`,
/// hollow when the cell is degenerate.
fn off_scale_marker<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    tip: (i32, i32),
    c: RGBColor,
    degenerate: bool,
) -> Result<()>
where
    DB::ErrorType: 'static,
{
    let corners = [tip, (tip.0 - 6, tip.1 + 10), (tip.0 + 6, tip.1 + 10)];
    if degenerate {
        area.draw(&Polygon::new(corners, WHITE.filled()))
            .map_err(area_error)?;
        let closed = [corners[0], corners[1], corners[2], corners[0]];
        area.draw(&PathElement::new(closed, c.stroke_width(2)))
            .map_err(area_error)?;
    } else {
        area.draw(&Polygon::new(corners, c.filled()))
            .map_err(area_error)?;
    }
    Ok(())
}
