//! Pictures: each kind is rendered by the real binary and read back.

mod common;

use std::fs;
use std::path::PathBuf;

use common::{data, s, Run};

fn tmp(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("emkit-plot-cli-{}", std::process::id()));
    fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}

/// Runs the binary. Debug builds of the library's E-step kernel put ~2.9 MB
/// on the stack in one frame (`mixture::kernel::e_step_block`), more than the
/// 2 MiB of a rayon worker thread, and `select` runs its fits on workers: under
/// the dev profile it overflows without a larger stack. Release builds do not.
fn run(args: &[&str]) -> Run {
    let out = common::emkit()
        .env("RUST_MIN_STACK", "16777216")
        .args(args)
        .output()
        .unwrap();
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8(out.stdout).unwrap(),
        stderr: String::from_utf8(out.stderr).unwrap(),
    }
}

/// A valid 800 × 600 PNG with a real picture in it: many colours, and a
/// sizeable share of pixels that are not the white background (axes, text,
/// points and lines).
fn assert_png_picture(path: &PathBuf) {
    let img = image::open(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .to_rgb8();
    assert_eq!(img.dimensions(), (800, 600), "{}", path.display());
    let mut colours = std::collections::HashSet::new();
    let mut ink = 0usize;
    for p in img.pixels() {
        colours.insert(p.0);
        if p.0 != [255, 255, 255] {
            ink += 1;
        }
    }
    // Anti-aliased text and lines alone give dozens of shades; a blank or
    // single-colour image has one or two.
    assert!(
        colours.len() > 20,
        "{}: {} colours",
        path.display(),
        colours.len()
    );
    let share = ink as f64 / (800.0 * 600.0);
    assert!(
        share > 0.01,
        "{}: only {share} of pixels drawn",
        path.display()
    );
}

#[test]
fn fit_plot_draws_the_convergence_curve() {
    let png = tmp("curve.png");
    let r = run(&[
        "fit",
        s(&data("faithful.csv")),
        "-k",
        "2",
        "--plot",
        s(&png),
        "-q",
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_png_picture(&png);
    let svg = tmp("curve.svg");
    let r = run(&[
        "fit",
        s(&data("faithful.csv")),
        "-k",
        "2",
        "--plot",
        s(&svg),
        "-q",
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let text = fs::read_to_string(&svg).unwrap();
    assert!(
        text.contains("<svg") && text.contains("width=\"800\"") && text.contains("height=\"600\"")
    );
    assert!(
        text.contains("mean log-likelihood"),
        "the axis label is in the SVG"
    );
}

#[test]
fn select_plot_draws_the_criterion_against_k() {
    let png = tmp("bic.png");
    let r = run(&[
        "select",
        s(&data("iris.csv")),
        "--k",
        "1..4",
        "--plot",
        s(&png),
        "-q",
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_png_picture(&png);
}

#[test]
fn plot_draws_components_and_ellipses() {
    let model = tmp("iris3.json");
    let r = run(&[
        "fit",
        s(&data("iris.csv")),
        "-k",
        "3",
        "-o",
        s(&model),
        "-q",
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let png = tmp("scatter.png");
    let r = run(&[
        "plot",
        s(&model),
        s(&data("iris.csv")),
        "-o",
        s(&png),
        "--columns",
        "petal_length_cm,petal_width_cm",
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_png_picture(&png);
    for (args, needle) in [
        (
            vec!["plot", s(&model), s(&data("iris.csv")), "-o", "x.gif"],
            "must end in .png or .svg",
        ),
        (
            vec![
                "plot",
                s(&model),
                s(&data("iris.csv")),
                "-o",
                s(&png),
                "--columns",
                "nope,petal_width_cm",
            ],
            "\"nope\" is not a feature",
        ),
    ] {
        let r = run(&args);
        assert_eq!(r.code, 2, "{args:?}: {}", r.stderr);
        assert!(r.stderr.contains(needle), "{}", r.stderr);
        assert_eq!(r.stderr.lines().count(), 1);
    }
}

/// Two unit-covariance components at (0, 0) and (6, 0); row 0 of the data,
/// (1, 0), lies on component 0's 1σ ellipse (its first vertex). Its y ticks
/// run from 2.0 down to -2.0.
fn unit_model_and_data() -> (PathBuf, PathBuf) {
    let model = tmp("unit.json");
    fs::write(
        &model,
        r#"{"format":"emkit.gaussian_mixture","version":1,"n_components":2,"n_features":2,
        "covariance_type":"full","weights":[0.5,0.5],"means":[[0.0,0.0],[6.0,0.0]],
        "covariances":[[[1.0,0.0],[0.0,1.0]],[[1.0,0.0],[0.0,1.0]]],"feature_names":["a","b"]}"#,
    )
    .unwrap();
    let csv = tmp("unit.csv");
    fs::write(&csv, "a,b\n1,0\n0,0.5\n-0.5,0\n2,0\n6,0\n6.5,0.5\n").unwrap();
    (model, csv)
}

fn draw_unit(name: &str) -> PathBuf {
    let (model, csv) = unit_model_and_data();
    let out = tmp(name);
    let r = run(&["plot", s(&model), s(&csv), "-o", s(&out)]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    out
}

/// Columns of dark ink, as runs, in each band of rows with ink between
/// columns `x0..x1` of `png`.
fn ink_runs(png: &image::RgbImage, x0: u32, x1: u32) -> Vec<Vec<(u32, u32)>> {
    let dark = |x: u32, y: u32| png.get_pixel(x, y).0.iter().map(|&v| v as u32).sum::<u32>() < 600;
    let rows: Vec<u32> = (0..png.height())
        .filter(|&y| (x0..x1).any(|x| dark(x, y)))
        .collect();
    let mut bands: Vec<Vec<u32>> = Vec::new();
    for y in rows {
        match bands.last_mut() {
            Some(b) if *b.last().unwrap() + 1 == y => b.push(y),
            _ => bands.push(vec![y]),
        }
    }
    bands
        .iter()
        .map(|band| {
            let mut runs: Vec<(u32, u32)> = Vec::new();
            for x in (x0..x1).filter(|&x| band.iter().any(|&y| dark(x, y))) {
                match runs.last_mut() {
                    Some(r) if r.1 + 1 == x => r.1 = x,
                    _ => runs.push((x, x)),
                }
            }
            runs
        })
        .collect()
}

#[test]
fn png_tick_labels_have_no_stray_space() {
    // plotters 0.3.7 set each glyph without its side bearing: the dot of
    // "0.0" touched the first 0 and stood far from the second. Each glyph must
    // now be its own run of ink, and the gaps either side of the dot equal
    // to within a pixel.
    let png = image::open(draw_unit("unit.png")).unwrap().to_rgb8();
    // The y axis: the column with the most black pixels in the left half.
    let black = |x: u32| {
        (0..png.height())
            .filter(|&y| png.get_pixel(x, y).0 == [0, 0, 0])
            .count()
    };
    let axis = (0..400).max_by_key(|&x| black(x)).unwrap();
    let labels = ink_runs(&png, axis - 45, axis - 8);
    let expected = [
        "2.0", "1.5", "1.0", "0.5", "0.0", "-0.5", "-1.0", "-1.5", "-2.0",
    ];
    assert_eq!(labels.len(), expected.len(), "{labels:?}");
    for (runs, text) in labels.iter().zip(expected) {
        assert_eq!(runs.len(), text.len(), "{text}: {runs:?}");
        let dot = text.find('.').unwrap();
        let before = runs[dot].0 - runs[dot - 1].1;
        let after = runs[dot + 1].0 - runs[dot].1;
        assert!(before.abs_diff(after) <= 1, "{text}: {runs:?}");
    }
}
