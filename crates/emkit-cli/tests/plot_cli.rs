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
