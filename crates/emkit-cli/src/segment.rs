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
use emkit::segment::{palette, segment_with, Colours, Image, SegmentConfig};
use emkit::{CovarianceType, Monitor, RestartReport, TraceEntry};
use image::ImageFormat;
use serde_json::json;

use crate::common::{
    check_paths, display_name, fit_error, input_error, parse_covariance, parse_positive,
    print_line, write_atomic, EmOptions,
};
use crate::fit::{stop_name, stop_text};
use crate::progress::{FitProgress, Verbosity};

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
    let image = Image::new(
        Colours::Bytes(img.as_raw()),
        width as usize,
        height as usize,
    )
    .context("the pixel matrix")?;
    let config = SegmentConfig {
        spatial: args.spatial,
        max_pixels: args.max_pixels,
        seed: args.em.seed,
    };
    let builder = args.em.builder(args.k).covariance(args.covariance);
    let mut progress = FitProgress::new(verbosity);
    // Start the worker threads now: `fit_seconds` reports the fit, not the
    // one-time cost of spawning the process's thread pool.
    rayon::broadcast(|_| ());
    let fit_started = Instant::now();
    let mut fit_ended: Option<Instant> = None;
    let mut colors: Vec<[u8; 3]> = Vec::new();
    let mut painted = vec![0u8; 3 * n];
    let mut label_map: Option<Vec<u16>> = args.labels.as_ref().map(|_| vec![0u16; n]);
    let segmented = segment_with(
        image,
        &config,
        &builder,
        &mut Timed {
            inner: &mut progress,
            ended: &mut fit_ended,
        },
        |model, start, labels| {
            if colors.is_empty() {
                colors = palette(model);
            }
            for (i, &l) in labels.iter().enumerate() {
                let p = start + i;
                painted[3 * p..3 * p + 3].copy_from_slice(&colors[l]);
                if let Some(map) = label_map.as_mut() {
                    map[p] = l as u16;
                }
            }
        },
    );
    progress.finish();
    let columns: Vec<String> = ["R", "G", "B", "x", "y"].map(String::from).to_vec();
    let segmented = segmented.map_err(|e| fit_error(&name, &columns, e))?;
    let labelled = Instant::now();
    let fit_ended = fit_ended.unwrap_or(labelled);
    let fit_seconds = fit_ended.duration_since(fit_started).as_secs_f64();
    let label_seconds = labelled.duration_since(fit_ended).as_secs_f64();
    let fitted = &segmented.fit;
    let model = &fitted.model;
    let k = model.n_components();
    let counts = &segmented.counts;
    let fitted_pixels = segmented.fitted_pixels;
    let mean_log_likelihood = segmented.mean_log_likelihood;
    let subsampled = fitted_pixels < n;
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
            "subsampled": subsampled,
            "max_pixels": args.max_pixels,
            "converged": best.converged(),
            "stop_reason": stop_name(best.stop),
            "n_iter": best.n_iter(),
            "n_em_steps": best.em_steps,
            "accel": args.em.accel.name(),
        "strategy": args.em.strategy.name(),
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
        match subsampled {
            true => eprintln!(
                "  fitted on a random subsample of {fitted_pixels} pixels (--max-pixels; seed {}), \
                 then every pixel labelled",
                args.em.seed
            ),
            false => eprintln!("  fitted on all pixels"),
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

/// Forwards to the progress display and notes when the last restart ends
/// (where fitting stops and labelling starts).
struct Timed<'a> {
    inner: &'a mut FitProgress,
    ended: &'a mut Option<Instant>,
}

impl Monitor for Timed<'_> {
    fn restart_started(&mut self, restart: usize, n_init: usize) {
        self.inner.restart_started(restart, n_init);
    }
    fn iteration(&mut self, restart: usize, entry: &TraceEntry) {
        self.inner.iteration(restart, entry);
    }
    fn restart_finished(&mut self, restart: usize, report: &RestartReport) {
        self.inner.restart_finished(restart, report);
        *self.ended = Some(Instant::now());
    }
}
