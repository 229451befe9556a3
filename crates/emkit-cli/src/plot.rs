//! Pictures: convergence curves, criteria against k, and 2-D scatter plots of
//! a mixture. PNG or SVG by the file's extension. Text is drawn with DejaVu
//! Sans compiled into the binary, so a machine with no font packages renders
//! the same picture.

use std::path::{Path, PathBuf};
use std::sync::Once;

use anyhow::{anyhow, Result};
use emkit::{GaussianMixture, TraceEntry};
use plotters::coord::Shift;
use plotters::element::DashedPathElement;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use plotters::style::{register_font, FontStyle};

use canvas::Canvas;

use crate::common::{
    check_output_path, display_name, input_error, read_data_for_model, read_model, write_atomic,
};

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

/// The PNG backend (in its own module: plotters' `Color` and the backend's
/// `BackendStyle` both name a `stroke_width`).
mod canvas {
    use std::sync::OnceLock;

    use ab_glyph::{point, Font, FontRef, ScaleFont};
    use plotters::backend::BitMapBackend;
    use plotters::prelude::DrawingBackend;
    use plotters::style::text_anchor::{HPos, VPos};
    use plotters_backend::{
        BackendColor, BackendCoord, BackendStyle, BackendTextStyle, DrawingErrorKind,
    };

    /// DejaVu Sans for [`Canvas`]'s text, parsed once.
    fn glyph_font() -> Option<&'static FontRef<'static>> {
        static PARSED: OnceLock<Option<FontRef<'static>>> = OnceLock::new();
        PARSED
            .get_or_init(|| FontRef::try_from_slice(dejavu::sans::regular()).ok())
            .as_ref()
    }

    /// The bitmap backend with text placed glyph by glyph here.
    ///
    /// plotters 0.3.7 (`style/font/ab_glyph.rs`) draws each glyph's pixels from
    /// the pen position without the glyph's left side bearing (its outline's
    /// `px_bounds().min.x`), with the pen cut to a whole pixel. Every glyph's ink
    /// moves left by its own bearing plus up to a pixel, so the gaps between
    /// letters go uneven: in "2.0" the dot sits against the 2 with a wide gap
    /// after it, and the legend read "sph erical". SVG is unaffected (its text is
    /// a `<text>` element). Here each glyph is outlined at its exact pen position
    /// and its pixels are put at its own bounds; the layout box, anchors and
    /// rotation are plotters' own, so everything else lands where it did.
    pub(super) struct Canvas<'a>(pub(super) BitMapBackend<'a>);

    impl<'a> DrawingBackend for Canvas<'a> {
        type ErrorType = <BitMapBackend<'a> as DrawingBackend>::ErrorType;

        fn get_size(&self) -> (u32, u32) {
            self.0.get_size()
        }

        fn ensure_prepared(&mut self) -> Result<(), DrawingErrorKind<Self::ErrorType>> {
            self.0.ensure_prepared()
        }

        fn present(&mut self) -> Result<(), DrawingErrorKind<Self::ErrorType>> {
            self.0.present()
        }

        fn draw_pixel(
            &mut self,
            point: BackendCoord,
            color: BackendColor,
        ) -> Result<(), DrawingErrorKind<Self::ErrorType>> {
            self.0.draw_pixel(point, color)
        }

        fn draw_line<S: BackendStyle>(
            &mut self,
            from: BackendCoord,
            to: BackendCoord,
            style: &S,
        ) -> Result<(), DrawingErrorKind<Self::ErrorType>> {
            self.0.draw_line(from, to, style)
        }

        fn draw_rect<S: BackendStyle>(
            &mut self,
            upper_left: BackendCoord,
            bottom_right: BackendCoord,
            style: &S,
            fill: bool,
        ) -> Result<(), DrawingErrorKind<Self::ErrorType>> {
            self.0.draw_rect(upper_left, bottom_right, style, fill)
        }

        fn draw_path<S: BackendStyle, I: IntoIterator<Item = BackendCoord>>(
            &mut self,
            path: I,
            style: &S,
        ) -> Result<(), DrawingErrorKind<Self::ErrorType>> {
            self.0.draw_path(path, style)
        }

        fn draw_circle<S: BackendStyle>(
            &mut self,
            center: BackendCoord,
            radius: u32,
            style: &S,
            fill: bool,
        ) -> Result<(), DrawingErrorKind<Self::ErrorType>> {
            self.0.draw_circle(center, radius, style, fill)
        }

        fn fill_polygon<S: BackendStyle, I: IntoIterator<Item = BackendCoord>>(
            &mut self,
            vert: I,
            style: &S,
        ) -> Result<(), DrawingErrorKind<Self::ErrorType>> {
            self.0.fill_polygon(vert, style)
        }

        fn blit_bitmap(
            &mut self,
            pos: BackendCoord,
            size: (u32, u32),
            src: &[u8],
        ) -> Result<(), DrawingErrorKind<Self::ErrorType>> {
            self.0.blit_bitmap(pos, size, src)
        }

        fn draw_text<S: BackendTextStyle>(
            &mut self,
            text: &str,
            style: &S,
            pos: BackendCoord,
        ) -> Result<(), DrawingErrorKind<Self::ErrorType>> {
            let color = style.color();
            if color.alpha == 0.0 {
                return Ok(());
            }
            let Some(font) = glyph_font() else {
                return self.0.draw_text(text, style, pos);
            };
            // Anchoring as plotters-backend's default `draw_text`.
            let ((min_x, min_y), (max_x, max_y)) = style
                .layout_box(text)
                .map_err(|e| DrawingErrorKind::FontError(Box::new(e)))?;
            let (width, height) = (max_x - min_x, max_y - min_y);
            let dx = match style.anchor().h_pos {
                HPos::Left => 0,
                HPos::Right => -width,
                HPos::Center => -width / 2,
            };
            let dy = match style.anchor().v_pos {
                VPos::Top => 0,
                VPos::Center => -height / 2,
                VPos::Bottom => -height,
            };
            let transform = style.transform();
            let (w, h) = self.get_size();
            let size = style.size() as f32;
            let scaled = font.as_scaled(size);
            let mut pen = 0.0f32;
            let mut previous = None;
            let mut ink = Vec::new();
            for c in text.chars() {
                let id = scaled.glyph_id(c);
                if let Some(p) = previous {
                    pen += scaled.kern(p, id);
                }
                previous = Some(id);
                // plotters puts the baseline half the font size below the top of
                // the layout box; kept, so text sits at the same height as before.
                let glyph = id.with_scale_and_position(scaled.scale(), point(pen, size / 2.0));
                pen += scaled.h_advance(id);
                let Some(outline) = scaled.outline_glyph(glyph) else {
                    continue;
                };
                let bounds = outline.px_bounds();
                let (left, top) = (bounds.min.x as i32, bounds.min.y as i32);
                outline.draw(|x, y, coverage| {
                    if coverage > 0.0 {
                        ink.push((left + x as i32, top + y as i32, coverage.min(1.0)));
                    }
                });
            }
            for (x, y, coverage) in ink {
                let (x, y) = transform.transform(x + dx - min_x, y + dy - min_y);
                let (x, y) = (pos.0 + x, pos.1 + y);
                if x >= 0 && x < w as i32 && y >= 0 && y < h as i32 {
                    let alpha = color.alpha * f64::from(coverage);
                    self.0.draw_pixel(
                        (x, y),
                        BackendColor {
                            alpha,
                            rgb: color.rgb,
                        },
                    )?;
                }
            }
            Ok(())
        }
    }
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

/// A scatter plot of two columns coloured by component, with each
/// component's covariance ellipse at 1 and 2 standard deviations drawn above
/// the points, and a legend of the components with their weights.
pub fn mixture_scatter(
    path: &Path,
    model: &GaussianMixture,
    columns: (usize, usize),
    names: (&str, &str),
    xy: &[(f64, f64)],
    labels: &[usize],
) -> Result<()> {
    let d = model.n_features();
    let (a, b) = columns;
    let ellipses: Vec<Vec<(f64, f64)>> = (0..model.n_components())
        .flat_map(|j| {
            let cov = model.covariances().component_matrix(j, d);
            let mean = (model.means()[j * d + a], model.means()[j * d + b]);
            let sub = [cov[a * d + a], cov[a * d + b], cov[b * d + b]];
            [1.0, 2.0].map(|k| ellipse(mean, sub, k))
        })
        .collect();
    let mut legend: Vec<(Swatch, String)> = model
        .weights()
        .iter()
        .enumerate()
        .map(|(j, w)| (Swatch::Dot(colour(j)), format!("{j}: weight {w:.4}")))
        .collect();
    legend.push((Swatch::Line(NOTE_GREY, 2), "1σ ellipse".into()));
    legend.push((Swatch::Line(NOTE_GREY, 1), "2σ ellipse".into()));
    fn draw<DB: DrawingBackend>(
        area: &DrawingArea<DB, Shift>,
        names: (&str, &str),
        xy: &[(f64, f64)],
        labels: &[usize],
        ellipses: &[Vec<(f64, f64)>],
        legend: &[(Swatch, String)],
    ) -> Result<()>
    where
        DB::ErrorType: 'static,
    {
        area.fill(&WHITE).map_err(area_error)?;
        let body = area
            .titled("components and their 1σ, 2σ ellipses", (FONT, 22))
            .map_err(area_error)?;
        let (left, legend_area) = body.split_horizontally(SIZE.0 - LEGEND_WIDTH);
        let (x, y) = bounds(xy.iter().copied().chain(ellipses.iter().flatten().copied()));
        let mut chart = ChartBuilder::on(&left)
            .margin(16)
            .x_label_area_size(48)
            .y_label_area_size(70)
            .build_cartesian_2d(x.0..x.1, y.0..y.1)
            .map_err(area_error)?;
        chart
            .configure_mesh()
            .x_desc(names.0)
            .y_desc(names.1)
            .label_style((FONT, 15))
            .draw()
            .map_err(area_error)?;
        chart
            .draw_series(
                xy.iter()
                    .zip(labels)
                    .map(|(&p, &l)| Circle::new(p, 3, colour(l).mix(0.6).filled())),
            )
            .map_err(area_error)?;
        // Ellipses go above the points, in a darker shade of the points'
        // colour, so that each stays visible inside its own cloud.
        for (i, path) in ellipses.iter().enumerate() {
            let width = if i % 2 == 0 { 2 } else { 1 };
            chart
                .draw_series(LineSeries::new(
                    path.iter().copied(),
                    ellipse_colour(i / 2).stroke_width(width),
                ))
                .map_err(area_error)?;
        }
        draw_legend(&legend_area, legend)
    }
    render(
        path,
        |ar| draw(ar, names, xy, labels, &ellipses, &legend),
        |ar| draw(ar, names, xy, labels, &ellipses, &legend),
    )
}

/// Points of the ellipse `{x : (x − m)ᵀ S⁻¹ (x − m) = k²}` for the 2 × 2
/// covariance `S = [[s_aa, s_ab], [s_ab, s_bb]]`.
fn ellipse(m: (f64, f64), [aa, ab, bb]: [f64; 3], k: f64) -> Vec<(f64, f64)> {
    // Cholesky of S: x = m + k·L·(cos t, sin t) traces the ellipse.
    let l11 = aa.max(0.0).sqrt();
    let l21 = if l11 > 0.0 { ab / l11 } else { 0.0 };
    let l22 = (bb - l21 * l21).max(0.0).sqrt();
    (0..=100)
        .map(|i| {
            let t = i as f64 / 100.0 * std::f64::consts::TAU;
            let (c, s) = (t.cos(), t.sin());
            (m.0 + k * l11 * c, m.1 + k * (l21 * c + l22 * s))
        })
        .collect()
}

/// `emkit plot`: a saved mixture over its data, two columns at a time.
#[derive(clap::Args, Debug)]
pub struct PlotArgs {
    /// A model saved by `emkit fit -o`.
    #[arg(value_name = "MODEL")]
    pub model: PathBuf,
    /// Data: CSV with a header row (`-` for standard input) or `.npy`.
    #[arg(value_name = "DATA")]
    pub data: PathBuf,
    /// The picture (.png or .svg).
    #[arg(short = 'o', long = "output", value_name = "FILE.png|.svg")]
    pub output: PathBuf,
    /// The two features to draw, by name (default: the first two).
    #[arg(long, value_delimiter = ',', value_name = "a,b")]
    pub columns: Option<Vec<String>>,
}

pub fn run(args: PlotArgs) -> Result<()> {
    check_plot_path(&args.output)?;
    let file = read_model(&args.model)?;
    let model = &file.model;
    let d = model.n_features();
    let model_name = display_name(&args.model);
    if d < 2 {
        return Err(input_error(format!(
            "{model_name}: the model has one feature; a scatter plot needs two"
        )));
    }
    let names: Vec<String> = file
        .feature_names
        .clone()
        .unwrap_or_else(|| (0..d).map(|i| format!("x{i}")).collect());
    let (a, b) = match args.columns.as_deref() {
        None => (0, 1),
        Some([x, y]) => {
            let find = |c: &String| {
                names.iter().position(|n| n == c).ok_or_else(|| {
                    input_error(format!(
                        "--columns: {c:?} is not a feature of {model_name} ({})",
                        names.join(", ")
                    ))
                })
            };
            (find(x)?, find(y)?)
        }
        Some(_) => return Err(input_error("--columns takes exactly two names, as a,b")),
    };
    let table = read_data_for_model(&args.data, None, &file)?;
    let data = table.data.view();
    let labels = model.predict(data)?;
    let xy: Vec<(f64, f64)> = (0..data.n_rows())
        .map(|i| (data.row(i)[a], data.row(i)[b]))
        .collect();
    mixture_scatter(
        &args.output,
        model,
        (a, b),
        (&names[a], &names[b]),
        &xy,
        &labels,
    )
}

#[cfg(test)]
mod tests {
    use super::{
        clipped_segments, ellipse, CriterionAxis, CriterionChart, CriterionPoint, CriterionSeries,
    };

    #[test]
    fn ellipse_points_are_at_k_mahalanobis_units() {
        let (m, s) = ((1.0, -2.0), [2.0, 0.6, 0.5]);
        let det = s[0] * s[2] - s[1] * s[1];
        for k in [1.0, 2.0] {
            for (x, y) in ellipse(m, s, k) {
                let (dx, dy) = (x - m.0, y - m.1);
                let q = (s[2] * dx * dx - 2.0 * s[1] * dx * dy + s[0] * dy * dy) / det;
                // A handful of roundings per point.
                assert!((q.sqrt() - k).abs() < 1e-12, "{q}");
            }
        }
    }

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
