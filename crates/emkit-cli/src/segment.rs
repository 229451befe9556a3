//! `emkit segment`: colour (and optionally position) segmentation of an image
//! by a Gaussian mixture on its pixels.
//!
//! Features per pixel, in row-major order: R, G, B as `u8 / 255`, and with
//! `--spatial W` also `(x + ½)/L·W, (y + ½)/L·W` where `L` is the longer side
//! (one scale for both axes keeps segments round, not stretched with the
//! image's aspect). Images with more than `--max-pixels` pixels are fitted on
//! a seeded random subsample of that many pixels; every pixel is then labelled
//! and scored, in chunks, with the library's blocked parallel kernels.

use std::io::Cursor;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result};
use clap::Args;
use emkit::{CovarianceType, DataRef, GaussianMixture, MixtureFit};
use image::{ImageFormat, RgbImage};
use rand::SeedableRng;
use rand_pcg::Pcg64;
use serde_json::json;

use crate::common::{
    check_paths, display_name, fit_error, input_error, parse_covariance, parse_positive,
    print_line, write_atomic, EmOptions,
};
use crate::fit::{stop_name, stop_text};
use crate::progress::{FitProgress, Verbosity};

/// Pixels labelled and scored per pass: bounds the f64 feature matrix of a
/// large image (2²⁰ rows × 5 features = 40 MB) while each pass still spreads
/// over thousands of kernel blocks. Above the default `--max-pixels`, so an
/// image fitted whole is also scored in one call (its mean log-likelihood is
/// then exactly the fit's).
const CHUNK_PIXELS: usize = 1 << 20;

/// Mixed into `--seed` for the subsample, so that the pixels drawn and the
/// fit's own restarts do not share a random stream.
const SUBSAMPLE_STREAM: u64 = 0x5e67_3e47_5eed_0001;

#[derive(Args, Debug)]
pub struct SegmentArgs {
    /// Image: PNG or JPEG (read as 8-bit RGB; alpha is dropped).
    #[arg(value_name = "IMAGE")]
    pub image: PathBuf,
    /// Number of segments (mixture components).
    #[arg(short = 'k', long = "components", value_parser = parse_positive, allow_negative_numbers = true)]
    pub k: usize,
    /// Covariance structure: full, tied, diag or spherical.
    #[arg(long, default_value = "full", value_parser = parse_covariance)]
    pub covariance: CovarianceType,
    #[command(flatten)]
    pub em: EmOptions,
    /// Add the pixel position as two features, scaled so that the longer side
    /// of the image spans W (colours span 1): larger W, more compact segments.
    #[arg(long, value_name = "W", value_parser = parse_spatial)]
    pub spatial: Option<f64>,
    /// Fit on a seeded random subsample of this many pixels when the image has
    /// more; every pixel is still labelled and scored.
    #[arg(long, value_name = "N", default_value_t = 1_000_000, value_parser = parse_positive, allow_negative_numbers = true)]
    pub max_pixels: usize,
    /// Write the image repainted with each segment's mean colour (.png, or .jpg/.jpeg).
    #[arg(short = 'o', long = "output", value_name = "OUT.png")]
    pub output: Option<PathBuf>,
    /// Write the label map: a grayscale PNG whose pixel value is the component
    /// index (8-bit; 16-bit when k > 256).
    #[arg(long, value_name = "LABELS.png")]
    pub labels: Option<PathBuf>,
    /// Print one JSON object with the summary on stdout.
    #[arg(long)]
    pub json: bool,
    /// One line per EM iteration on stderr.
    #[arg(short, long, conflicts_with = "quiet")]
    pub verbose: bool,
    /// Nothing on stderr but errors.
    #[arg(short, long)]
    pub quiet: bool,
}

fn parse_spatial(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(w) if w > 0.0 && w.is_finite() => Ok(w),
        Ok(w) => Err(format!("{w} is not a positive finite number, e.g. 0.5")),
        Err(_) => Err(format!("{s:?} is not a number")),
    }
}

/// The encoder for an output image, from its extension.
fn output_format(path: &Path, lossy_ok: bool) -> Result<ImageFormat> {
    let ext = path
        .extension()
        .map(|e| e.to_string_lossy().to_ascii_lowercase())
        .unwrap_or_default();
    match ext.as_str() {
        "png" => Ok(ImageFormat::Png),
        "jpg" | "jpeg" if lossy_ok => Ok(ImageFormat::Jpeg),
        _ if lossy_ok => Err(input_error(format!(
            "{}: unknown image type; name the output .png, .jpg or .jpeg",
            path.display()
        ))),
        _ => Err(input_error(format!(
            "{}: the label map is written as PNG (a lossy format would change the labels); \
             name it .png",
            path.display()
        ))),
    }
}

/// Fills `out` with the features of the pixels `indices` (row-major pixel
/// numbers), `d` = 3 or 5 values each.
fn features(
    img: &RgbImage,
    indices: impl Iterator<Item = usize>,
    spatial: Option<f64>,
    out: &mut Vec<f64>,
) {
    let (w, h) = (img.width() as usize, img.height() as usize);
    let raw = img.as_raw();
    let scale = spatial.map(|s| s / w.max(h) as f64);
    out.clear();
    for p in indices {
        let px = &raw[3 * p..3 * p + 3];
        out.extend(px.iter().map(|&c| f64::from(c) / 255.0));
        if let Some(s) = scale {
            out.push(((p % w) as f64 + 0.5) * s);
            out.push(((p / w) as f64 + 0.5) * s);
        }
    }
}

/// round(mean · 255), clamped, per component: the colour part of the means.
fn palette(model: &GaussianMixture) -> Vec<[u8; 3]> {
    let d = model.n_features();
    (0..model.n_components())
        .map(|j| {
            let m = &model.means()[j * d..j * d + 3];
            [0, 1, 2].map(|c| (m[c] * 255.0).round().clamp(0.0, 255.0) as u8)
        })
        .collect()
}

fn encode(
    width: u32,
    height: u32,
    pixels: &[u8],
    color: image::ExtendedColorType,
    format: ImageFormat,
) -> Result<Vec<u8>> {
    let mut bytes = Vec::new();
    match format {
        ImageFormat::Jpeg => {
            let enc = image::codecs::jpeg::JpegEncoder::new_with_quality(&mut bytes, 95);
            image::ImageEncoder::write_image(enc, pixels, width, height, color)
        }
        _ => {
            let enc = image::codecs::png::PngEncoder::new(Cursor::new(&mut bytes));
            image::ImageEncoder::write_image(enc, pixels, width, height, color)
        }
    }
    .context("encoding the image")?;
    Ok(bytes)
}

pub fn run(args: SegmentArgs) -> Result<()> {
    check_paths(
        &[Some(&args.image)],
        &[
            ("-o", args.output.as_deref()),
            ("--labels", args.labels.as_deref()),
            ("--json", args.json.then_some(Path::new("/dev/stdout"))),
        ],
    )?;
    let out_format = match &args.output {
        Some(p) => Some(output_format(p, true)?),
        None => None,
    };
    if let Some(p) = &args.labels {
        output_format(p, false)?;
        if args.k > 1 << 16 {
            return Err(input_error(format!(
                "--labels holds at most 65536 components in a 16-bit PNG, got -k {}",
                args.k
            )));
        }
    }
    args.em.validate()?;
    let verbosity = Verbosity::from_flags(args.verbose, args.quiet);
    let name = display_name(&args.image);
    let started = Instant::now();
    let img = crate::image_io::read_image(&args.image)?;
    let read_seconds = started.elapsed().as_secs_f64();
    let (width, height) = (img.width(), img.height());
    let n = width as usize * height as usize;
    if n == 0 {
        return Err(input_error(format!("{name}: the image has no pixels")));
    }
    let d = if args.spatial.is_some() { 5 } else { 3 };

    // The pixels to fit: all of them, or a seeded subsample kept in row-major order.
    let subsample: Option<Vec<usize>> = (n > args.max_pixels).then(|| {
        let mut rng = Pcg64::seed_from_u64(args.em.seed ^ SUBSAMPLE_STREAM);
        let mut idx = rand::seq::index::sample(&mut rng, n, args.max_pixels).into_vec();
        idx.sort_unstable();
        idx
    });
    let mut x = Vec::new();
    match &subsample {
        Some(idx) => features(&img, idx.iter().copied(), args.spatial, &mut x),
        None => features(&img, 0..n, args.spatial, &mut x),
    }
    let fitted_pixels = x.len() / d;
    let fit_data = DataRef::new(&x, fitted_pixels, d).context("the pixel matrix")?;

    let builder = args.em.builder(args.k).covariance(args.covariance);
    let mut progress = FitProgress::new(verbosity);
    // Start the worker threads now: `fit_seconds` reports the fit, not the
    // one-time cost of spawning the process's thread pool.
    rayon::broadcast(|_| ());
    let fit_started = Instant::now();
    let fitted = builder.fit_with_monitor(fit_data, &mut progress);
    let fit_seconds = fit_started.elapsed().as_secs_f64();
    progress.finish();
    let columns: Vec<String> = ["R", "G", "B", "x", "y"].map(String::from).to_vec();
    let fitted: MixtureFit = fitted.map_err(|e| fit_error(&name, &columns, e))?;
    drop(x);
    let model = &fitted.model;
    let colors = palette(model);
    let k = model.n_components();

    // Label and score every pixel, a chunk at a time.
    let label_started = Instant::now();
    let mut painted = vec![0u8; 3 * n];
    let mut label_map: Option<Vec<u16>> = args.labels.as_ref().map(|_| vec![0u16; n]);
    let mut counts = vec![0usize; k];
    let mut total_log_likelihood = 0.0;
    let mut x = Vec::with_capacity(CHUNK_PIXELS.min(n) * d);
    for start in (0..n).step_by(CHUNK_PIXELS) {
        let end = (start + CHUNK_PIXELS).min(n);
        features(&img, start..end, args.spatial, &mut x);
        let chunk = DataRef::new(&x, end - start, d).context("the pixel matrix")?;
        let labels = model
            .predict(chunk)
            .map_err(|e| anyhow::Error::new(e).context(name.clone()))?;
        // `score` is the mean over the chunk, summed as the fit's E-step sums:
        // for an image fitted whole in one chunk it is exactly the fit's value.
        let mean = model
            .score(chunk)
            .map_err(|e| anyhow::Error::new(e).context(name.clone()))?;
        total_log_likelihood += mean * (end - start) as f64;
        for (i, &l) in labels.iter().enumerate() {
            let p = start + i;
            painted[3 * p..3 * p + 3].copy_from_slice(&colors[l]);
            counts[l] += 1;
            if let Some(map) = label_map.as_mut() {
                map[p] = l as u16;
            }
        }
    }
    let mean_log_likelihood = total_log_likelihood / n as f64;
    let label_seconds = label_started.elapsed().as_secs_f64();

    let write_started = Instant::now();
    if let (Some(path), Some(format)) = (&args.output, out_format) {
        let bytes = encode(
            width,
            height,
            &painted,
            image::ExtendedColorType::Rgb8,
            format,
        )?;
        write_atomic(path, |out| out.write_all(&bytes))?;
    }
    if let (Some(path), Some(map)) = (&args.labels, &label_map) {
        let bytes = if k <= 256 {
            let gray: Vec<u8> = map.iter().map(|&l| l as u8).collect();
            encode(
                width,
                height,
                &gray,
                image::ExtendedColorType::L8,
                ImageFormat::Png,
            )?
        } else {
            // PNG stores 16-bit samples big-endian.
            let gray: Vec<u8> = map.iter().flat_map(|&l| l.to_be_bytes()).collect();
            encode(
                width,
                height,
                &gray,
                image::ExtendedColorType::L16,
                ImageFormat::Png,
            )?
        };
        write_atomic(path, |out| out.write_all(&bytes))?;
    }
    let write_seconds = write_started.elapsed().as_secs_f64();

    let best = fitted.report.best();
    if args.json {
        let out = json!({
            "width": width,
            "height": height,
            "n_pixels": n,
            "n_components": k,
            "covariance_type": model.covariance_type().name(),
            "n_features": d,
            "spatial": args.spatial,
            "mean_log_likelihood": mean_log_likelihood,
            "fit_mean_log_likelihood": fitted.mean_log_likelihood(),
            "fitted_pixels": fitted_pixels,
            "subsampled": subsample.is_some(),
            "max_pixels": args.max_pixels,
            "converged": best.converged(),
            "stop_reason": stop_name(best.stop),
            "n_iter": best.n_iter(),
            "best_init": fitted.report.best_init,
            "n_init": fitted.report.restarts.len(),
            "weights": model.weights(),
            "colors": colors,
            "pixel_counts": counts,
            "seconds": fit_seconds + label_seconds,
            "fit_seconds": fit_seconds,
            "label_seconds": label_seconds,
            "read_seconds": read_seconds,
            "write_seconds": write_seconds,
            "image": name,
            "output": args.output.as_ref().map(|p| p.display().to_string()),
            "labels": args.labels.as_ref().map(|p| p.display().to_string()),
            "seed": args.em.seed,
            "tol": args.em.tol,
            "max_iter": args.em.max_iter,
            "reg_covar": args.em.reg_covar,
            "init": args.em.init.name(),
            "emkit_version": env!("CARGO_PKG_VERSION"),
        });
        print_line(&serde_json::to_string(&out).context("serialising the summary")?)?;
    }
    if verbosity != Verbosity::Quiet {
        let features = match args.spatial {
            Some(w) => format!("colours and positions (--spatial {w})"),
            None => "colours".to_string(),
        };
        eprintln!(
            "{k}-component {} Gaussian mixture on the {features} of {name} ({width} x {height} = {n} pixels)",
            model.covariance_type()
        );
        match &subsample {
            Some(_) => eprintln!(
                "  fitted on a random subsample of {fitted_pixels} pixels (--max-pixels; seed {}), \
                 then every pixel labelled",
                args.em.seed
            ),
            None => eprintln!("  fitted on all pixels"),
        }
        eprintln!(
            "  mean log-likelihood {mean_log_likelihood:.6} per pixel over all pixels{}",
            if args.spatial.is_some() {
                " (colour and position features)"
            } else {
                ""
            }
        );
        eprintln!(
            "  best of {} restart(s): #{} {}; fit {:.3} s, labelling {:.3} s",
            fitted.report.restarts.len(),
            fitted.report.best_init + 1,
            stop_text(best),
            fit_seconds,
            label_seconds
        );
        if !best.converged() {
            eprintln!("  warning: not converged; raise --max-iter or --tol (the images are still written)");
        }
        eprintln!("  component   weight    pixels  colour (R, G, B)");
        for j in 0..k {
            let [r, g, b] = colors[j];
            eprintln!(
                "  {j:<9} {:>8.4} {:>9}  {r:>3} {g:>3} {b:>3}",
                model.weights()[j],
                counts[j]
            );
        }
        if let Some(p) = &args.output {
            eprintln!("  segmented image written to {}", p.display());
        }
        if let Some(p) = &args.labels {
            eprintln!("  label map written to {}", p.display());
        }
    }
    Ok(())
}
