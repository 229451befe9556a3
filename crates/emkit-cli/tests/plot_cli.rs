//! Pictures: each kind is rendered by the real binary and read back. The SVG
//! output is read as text (its circles, polygons, lines and texts) to check
//! what the picture says; the PNG output is read as pixels where only pixels
//! can show it (what is drawn above what, how text is set).

mod common;

use std::fs;
use std::path::PathBuf;

use common::{data, json_of, s, Run};
use serde_json::Value;

fn tmp(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("emkit-plot-cli-{}", std::process::id()));
    fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}

/// Runs the binary (its rayon workers have stacks large enough for debug
/// builds of the kernels: see `emkit_cli::run`).
fn run(args: &[&str]) -> Run {
    let out = common::emkit().args(args).output().unwrap();
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8(out.stdout).unwrap(),
        stderr: String::from_utf8(out.stderr).unwrap(),
    }
}

/// The palette's first colours: full, tied, diag, spherical in `select`'s
/// default order, and components 0, 1, ... in `plot`.
const BLUE: &str = "#1F77B4";
const ORANGE: &str = "#FF7F0E";
const GREEN: &str = "#2CA02C";
const RED: &str = "#D62728";

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

/// The value of `name="..."` in one SVG tag.
fn attr<'a>(tag: &'a str, name: &str) -> &'a str {
    let key = format!(" {name}=\"");
    let start = tag
        .find(&key)
        .unwrap_or_else(|| panic!("no {name} in {tag}"))
        + key.len();
    let len = tag[start..].find('"').unwrap();
    &tag[start..start + len]
}

/// Every `<tag .../>` of the SVG, with its byte offset (drawing order).
fn tags<'a>(svg: &'a str, tag: &str) -> Vec<(usize, &'a str)> {
    let open = format!("<{tag} ");
    svg.match_indices(&open)
        .map(|(i, _)| (i, &svg[i..i + svg[i..].find('>').unwrap() + 1]))
        .collect()
}

#[derive(Debug, Clone, PartialEq)]
struct SvgCircle {
    at: usize,
    cx: i32,
    cy: i32,
    r: u32,
    fill: String,
    stroke: String,
    opacity: f64,
}

fn circles(svg: &str) -> Vec<SvgCircle> {
    tags(svg, "circle")
        .into_iter()
        .map(|(at, t)| SvgCircle {
            at,
            cx: attr(t, "cx").parse().unwrap(),
            cy: attr(t, "cy").parse().unwrap(),
            r: attr(t, "r").parse().unwrap(),
            fill: attr(t, "fill").to_string(),
            stroke: attr(t, "stroke").to_string(),
            opacity: attr(t, "opacity").parse().unwrap(),
        })
        .collect()
}

/// Filled polygons as (fill, corner points).
fn polygons(svg: &str) -> Vec<(String, Vec<(i32, i32)>)> {
    tags(svg, "polygon")
        .into_iter()
        .map(|(_, t)| {
            let points = attr(t, "points")
                .split_whitespace()
                .map(|p| {
                    let (x, y) = p.split_once(',').unwrap();
                    (x.parse().unwrap(), y.parse().unwrap())
                })
                .collect();
            (attr(t, "fill").to_string(), points)
        })
        .collect()
}

/// The text of every `<text>` element, trimmed, with XML's escapes undone.
fn texts(svg: &str) -> Vec<String> {
    svg.split("<text ")
        .skip(1)
        .map(|t| {
            let body = &t[t.find('>').unwrap() + 1..];
            body[..body.find("</text>").unwrap()]
                .trim()
                .replace("&lt;", "<")
                .replace("&gt;", ">")
                .replace("&quot;", "\"")
                .replace("&apos;", "'")
                .replace("&amp;", "&")
        })
        .collect()
}

fn hex(c: &str) -> [u8; 3] {
    let v = |i: usize| u8::from_str_radix(&c[1 + 2 * i..3 + 2 * i], 16).unwrap();
    [v(0), v(1), v(2)]
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

/// Two round groups of 20 and three identical points between them: with
/// k = 3 every covariance type but tied puts a component on the three copies,
/// which collapses; its BIC is the lowest of the grid, as faithful's k = 5
/// diag fit is in the README.
fn two_groups_and_a_triple() -> PathBuf {
    let mut csv = String::from("x,y\n");
    for (cx, cy) in [(0.0, 0.0), (5.0, 0.0)] {
        for i in 0..20 {
            let r = 0.3 + 0.6 * ((i * 7) % 20) as f64 / 20.0;
            let t = i as f64 * 2.399963;
            csv += &format!("{:.4},{:.4}\n", cx + r * t.cos(), cy + r * t.sin());
        }
    }
    csv += &"2.5,3\n".repeat(3);
    let path = tmp("triple.csv");
    fs::write(&path, csv).unwrap();
    path
}

#[test]
fn select_plot_rings_the_pick_and_draws_degenerate_cells_hollow() {
    let csv = two_groups_and_a_triple();
    let svg = tmp("degenerate.svg");
    let r = run(&[
        "select",
        s(&csv),
        "--k",
        "1..4",
        "--plot",
        s(&svg),
        "--json",
        "-q",
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let j = json_of(&r);
    assert_eq!(j["best"]["k"], 3);
    assert_eq!(j["best"]["covariance_type"], "tied");
    let table = j["table"].as_array().unwrap();
    let bic = |c: &Value| c["bic"].as_f64().unwrap();
    let lowest = table
        .iter()
        .min_by(|a, b| bic(a).total_cmp(&bic(b)))
        .unwrap();
    assert_eq!(
        lowest["status"], "degenerate",
        "the case this test is about: the lowest point is not the pick"
    );

    let text = fs::read_to_string(&svg).unwrap();
    let words = texts(&text);
    // Beside the ring and in the legend.
    let best = words.iter().filter(|t| *t == "best: k = 3, tied").count();
    assert_eq!(best, 2, "{words:?}");
    assert!(words.iter().any(|t| t == "degenerate fit"), "{words:?}");
    assert!(
        words.iter().any(|t| t == "collapsed; never best)"),
        "{words:?}"
    );

    let all = circles(&text);
    let ring: Vec<&SvgCircle> = all
        .iter()
        .filter(|c| c.r == 9 && c.fill == "none" && c.stroke == "#000000")
        .collect();
    // The plot's ring and the legend's.
    assert_eq!(ring.len(), 2, "{all:?}");
    let ring = ring.iter().min_by_key(|c| c.cx).unwrap();
    // Tied's filled points, left to right: k = 1, 2, 3, 4, then the legend's.
    let mut tied: Vec<&SvgCircle> = all
        .iter()
        .filter(|c| c.r == 3 && c.fill == ORANGE)
        .collect();
    tied.sort_by_key(|c| c.cx);
    assert_eq!(tied.len(), 5, "{tied:?}");
    assert_eq!((ring.cx, ring.cy), (tied[2].cx, tied[2].cy));

    // Each degenerate cell is a hollow circle of its series' colour; the
    // legend adds one in grey.
    let hollow: Vec<&SvgCircle> = all
        .iter()
        .filter(|c| c.r == 5 && c.fill == "none")
        .collect();
    for (kind, colour) in [
        ("full", BLUE),
        ("tied", ORANGE),
        ("diag", GREEN),
        ("spherical", RED),
    ] {
        let degenerate = table
            .iter()
            .filter(|c| c["covariance_type"] == kind && c["status"] == "degenerate")
            .count();
        let drawn = hollow.iter().filter(|c| c.stroke == colour).count();
        assert_eq!(drawn, degenerate, "{kind}: {hollow:?}");
    }
    assert_eq!(hollow.len(), 7, "{hollow:?}");
    // The lowest marker of the plot (largest y on screen) is hollow.
    let markers = all
        .iter()
        .filter(|c| c.r == 3 || (c.r == 5 && c.fill == "none"));
    let lowest = markers.max_by_key(|c| c.cy).unwrap();
    assert_eq!(lowest.fill, "none", "{lowest:?}");
    assert!(lowest.cy > ring.cy);

    let png = tmp("degenerate.png");
    let r = run(&["select", s(&csv), "--k", "1..4", "--plot", s(&png), "-q"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_png_picture(&png);
}

#[test]
fn select_plot_clips_spherical_above_the_chosen_curve() {
    let svg = tmp("clipped.svg");
    let r = run(&[
        "select",
        s(&data("iris.csv")),
        "--k",
        "1..4",
        "--plot",
        s(&svg),
        "--json",
        "-q",
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let j = json_of(&r);
    let table = j["table"].as_array().unwrap();
    let bic = |c: &Value| c["bic"].as_f64().unwrap();
    let pick = j["best"]["covariance_type"].as_str().unwrap();
    assert_eq!(pick, "full");
    // The axis: up to the chosen curve's highest point plus 5% of the span
    // from the lowest value (README, "select --plot").
    let low = table.iter().map(bic).fold(f64::INFINITY, f64::min);
    let pick_high = table
        .iter()
        .filter(|c| c["covariance_type"] == pick)
        .map(bic)
        .fold(f64::NEG_INFINITY, f64::max);
    let top = pick_high + 0.05 * (pick_high - low);
    let above = |kind: &str| -> Vec<u64> {
        table
            .iter()
            .filter(|c| c["covariance_type"] == kind && bic(c) > top)
            .map(|c| c["k"].as_u64().unwrap())
            .collect()
    };
    assert_eq!(above("spherical"), [1, 2, 3], "the case this test is about");
    assert_eq!(above("diag"), [1, 2]);
    assert!(above("full").is_empty() && above("tied").is_empty());

    let text = fs::read_to_string(&svg).unwrap();
    let words = texts(&text);
    for needle in [
        "k = 1, 2, 3 off scale".to_string(),
        "k = 1, 2 off scale".to_string(),
        "above the axis".to_string(),
        format!("(BIC > {top:.1})"),
        "best: k = 2, full".to_string(),
    ] {
        assert!(words.contains(&needle), "{needle:?} not in {words:?}");
    }
    // The off-scale points are triangles in their series' colour, all on one
    // line at the top of the plot, above every other marker.
    let triangles = polygons(&text);
    let red: Vec<_> = triangles.iter().filter(|(f, _)| f == RED).collect();
    let green: Vec<_> = triangles.iter().filter(|(f, _)| f == GREEN).collect();
    assert_eq!(red.len(), 3, "{triangles:?}");
    assert_eq!(green.len(), 2, "{triangles:?}");
    let tips: Vec<i32> = red
        .iter()
        .chain(&green)
        .map(|(_, p)| p.iter().map(|q| q.1).min().unwrap())
        .collect();
    assert!(tips.iter().all(|&y| y == tips[0]), "{tips:?}");
    let all = circles(&text);
    assert!(all.iter().all(|c| c.cy > tips[0]), "{all:?}");
    // Spherical's one point on the axis (k = 4) and the legend's swatch.
    let red_points = all.iter().filter(|c| c.r == 3 && c.fill == RED).count();
    assert_eq!(red_points, 2);
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

#[test]
fn plot_legend_gives_each_component_its_colour_and_weight() {
    let model = tmp("iris3-legend.json");
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
    let svg = tmp("legend.svg");
    let r = run(&["plot", s(&model), s(&data("iris.csv")), "-o", s(&svg)]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let saved: Value = serde_json::from_str(&fs::read_to_string(&model).unwrap()).unwrap();
    let weights: Vec<f64> = saved["weights"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w.as_f64().unwrap())
        .collect();
    let text = fs::read_to_string(&svg).unwrap();
    let words = texts(&text);
    let rows: Vec<String> = weights
        .iter()
        .enumerate()
        .map(|(j, w)| format!("{j}: weight {w:.4}"))
        .collect();
    // Setosa is one component of its own: 50 of 150 rows.
    assert!(rows.iter().any(|r| r.ends_with("0.3333")), "{rows:?}");
    for row in &rows {
        assert!(words.contains(row), "{row:?} not in {words:?}");
    }
    assert!(words.iter().any(|t| t == "1σ ellipse"), "{words:?}");
    // Each legend row's swatch has its component's colour, in order down the
    // legend (the points have the same colours).
    let all = circles(&text);
    let swatches: Vec<&SvgCircle> = all.iter().filter(|c| c.r == 4).collect();
    let colours: Vec<&str> = swatches.iter().map(|c| c.fill.as_str()).collect();
    assert_eq!(colours, [BLUE, ORANGE, GREEN]);
    assert!(swatches.windows(2).all(|w| w[0].cy < w[1].cy));
}

/// Two unit-covariance components at (0, 0) and (6, 0); row 0 of the data,
/// (1, 0), lies on component 0's 1σ ellipse (its first vertex).
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

#[test]
fn plot_draws_ellipses_above_points_and_apart_from_them() {
    let svg = fs::read_to_string(draw_unit("unit.svg")).unwrap();
    let all = circles(&svg);
    // Data rows come first, in order.
    let point = &all[0];
    assert_eq!(point.fill, BLUE);
    let ellipses: Vec<(usize, &str)> = tags(&svg, "polyline")
        .into_iter()
        .filter(|(_, t)| attr(t, "stroke-width") == "2")
        .collect();
    let (first_ellipse, line) = ellipses[0];
    let last_point = all.iter().filter(|c| c.r == 3).map(|c| c.at).max().unwrap();
    assert!(
        first_ellipse > last_point,
        "ellipses are drawn after the points"
    );
    let line = hex(attr(line, "stroke"));

    // In the PNG (same layout), the pixel at the point's centre is the
    // ellipse's colour, and that colour stands apart from the point's.
    let png = image::open(draw_unit("unit.png")).unwrap().to_rgb8();
    let pixel = png.get_pixel(point.cx as u32, point.cy as u32).0;
    assert_eq!(
        pixel, line,
        "the ellipse is on top at ({}, {})",
        point.cx, point.cy
    );
    let fill = hex(&point.fill);
    let shown = fill.map(|v| (point.opacity * v as f64 + (1.0 - point.opacity) * 255.0).round());
    let distance = (0..3)
        .map(|i| (shown[i] - line[i] as f64).powi(2))
        .sum::<f64>()
        .sqrt();
    // An ellipse in the points' own colour (as before) was 82 apart from
    // them and got lost in its cloud; the darker shade is about twice that.
    assert!(distance > 120.0, "ellipse {line:?} vs point {shown:?}");
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
