//! `emkit plot`: a mixture drawn over two columns of its data, with each
//! component's 1σ and 2σ ellipses and a legend of weights.

use std::path::{Path, PathBuf};

use anyhow::Result;
use emkit::GaussianMixture;
use plotters::coord::Shift;
use plotters::prelude::*;

use super::{
    area_error, bounds, check_plot_path, colour, draw_legend, ellipse_colour, render, Swatch, FONT,
    LEGEND_WIDTH, NOTE_GREY, SIZE,
};
use crate::common::{display_name, input_error, read_data_for_model, read_model};

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
    use super::ellipse;

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
}
