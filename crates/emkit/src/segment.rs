//! Image segmentation: a Gaussian mixture on an image's pixels, colour and
//! optionally position, then every pixel labelled.
//!
//! Features per pixel, in row-major order: R, G, B in `[0, 1]` (8-bit
//! channels as `c / 255`), and with `spatial = Some(W)` also
//! `(x + ½)/L·W, (y + ½)/L·W` where `L` is the longer side (one scale for both
//! axes keeps segments round, not stretched with the image's aspect). Images
//! with more than `max_pixels` pixels are fitted on a seeded random subsample
//! of that many pixels; every pixel is then labelled and scored, a chunk at a
//! time, with the blocked parallel kernels.

use rand::SeedableRng;
use rand_pcg::Pcg64;

use crate::data::DataRef;
use crate::em::{Monitor, NoMonitor};
use crate::error::{Error, Result};
use crate::mixture::{GaussianMixture, GaussianMixtureBuilder, MixtureFit};

/// Pixels labelled and scored per pass: bounds the feature matrix of a large
/// image (2²⁰ rows × 5 features = 40 MB) while each pass still spreads over
/// thousands of kernel blocks. Above the default `max_pixels`, so an image
/// fitted whole is also scored in one call (its mean log-likelihood is then
/// exactly the fit's).
pub const CHUNK_PIXELS: usize = 1 << 20;

/// The default `max_pixels`.
pub const DEFAULT_MAX_PIXELS: usize = 1_000_000;

/// Mixed into the fit's seed for the subsample, so that the pixels drawn and
/// the fit's own restarts do not share a random stream.
const SUBSAMPLE_STREAM: u64 = 0x5e67_3e47_5eed_0001;

/// An image's colours, row-major, three channels per pixel.
#[derive(Clone, Copy, Debug)]
pub enum Colours<'a> {
    /// 8-bit channels (features `c / 255`).
    Bytes(&'a [u8]),
    /// Channels already in `[0, 1]` (or any finite scale), used as they are.
    Floats(&'a [f64]),
}

/// An image to segment.
#[derive(Clone, Copy, Debug)]
pub struct Image<'a> {
    colours: Colours<'a>,
    width: usize,
    height: usize,
}

impl<'a> Image<'a> {
    /// An image of `width × height` pixels; `colours` holds `3 · width · height` values.
    pub fn new(colours: Colours<'a>, width: usize, height: usize) -> Result<Self> {
        let len = match colours {
            Colours::Bytes(b) => b.len(),
            Colours::Floats(f) => f.len(),
        };
        let n = width.checked_mul(height).filter(|n| *n > 0);
        let Some(n) = n else {
            return Err(Error::EmptyData {
                n_rows: height,
                n_cols: width,
            });
        };
        if n.checked_mul(3) != Some(len) {
            return Err(Error::ShapeMismatch {
                what: format!("colour values of a {width} x {height} RGB image"),
                expected: n.saturating_mul(3),
                got: len,
            });
        }
        if let Colours::Floats(f) = colours {
            if let Some(i) = f.iter().position(|v| !v.is_finite()) {
                return Err(Error::NonFinite {
                    row: i / 3,
                    column: i % 3,
                });
            }
        }
        Ok(Image {
            colours,
            width,
            height,
        })
    }

    /// Pixels.
    pub fn n_pixels(&self) -> usize {
        self.width * self.height
    }

    /// Fills `out` with the features of the pixels `indices` (row-major pixel
    /// numbers): 3 values each, 5 with `spatial`.
    fn features(
        &self,
        indices: impl Iterator<Item = usize>,
        spatial: Option<f64>,
        out: &mut Vec<f64>,
    ) {
        let (w, h) = (self.width, self.height);
        let scale = spatial.map(|s| s / w.max(h) as f64);
        out.clear();
        for p in indices {
            match self.colours {
                Colours::Bytes(b) => {
                    out.extend(b[3 * p..3 * p + 3].iter().map(|&c| f64::from(c) / 255.0))
                }
                Colours::Floats(f) => out.extend_from_slice(&f[3 * p..3 * p + 3]),
            }
            if let Some(s) = scale {
                out.push(((p % w) as f64 + 0.5) * s);
                out.push(((p / w) as f64 + 0.5) * s);
            }
        }
    }
}

/// How to segment (the mixture's own settings are the builder's).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SegmentConfig {
    /// Add the pixel position as two features, scaled so that the longer
    /// side spans `W` (colours span 1): larger W, more compact segments.
    pub spatial: Option<f64>,
    /// Fit on a seeded random subsample of this many pixels when the image
    /// has more (default [`DEFAULT_MAX_PIXELS`]); every pixel is still labelled.
    pub max_pixels: usize,
    /// Seed of the subsample (the CLI passes its `--seed`).
    pub seed: u64,
}

impl Default for SegmentConfig {
    fn default() -> Self {
        SegmentConfig {
            spatial: None,
            max_pixels: DEFAULT_MAX_PIXELS,
            seed: 0,
        }
    }
}

/// A segmented image.
#[derive(Clone, Debug)]
pub struct Segmentation {
    /// The mixture fitted on the (subsampled) pixels.
    pub fit: MixtureFit,
    /// Pixels per component.
    pub counts: Vec<usize>,
    /// Mean log-density of every pixel's features under the model.
    pub mean_log_likelihood: f64,
    /// How many pixels the fit saw.
    pub fitted_pixels: usize,
}

/// round(mean · 255), clamped, per component: the colour part of the means
/// as 8-bit colours (what a repainted image shows).
pub fn palette(model: &GaussianMixture) -> Vec<[u8; 3]> {
    let d = model.n_features();
    (0..model.n_components())
        .map(|j| {
            let m = &model.means()[j * d..j * d + 3];
            [0, 1, 2].map(|c| (m[c] * 255.0).round().clamp(0.0, 255.0) as u8)
        })
        .collect()
}

/// Segments `image` with a mixture of `builder`'s settings: the
/// segmentation and the most probable component of every pixel, row-major.
pub fn segment(
    image: Image<'_>,
    config: &SegmentConfig,
    builder: &GaussianMixtureBuilder,
) -> Result<(Segmentation, Vec<usize>)> {
    let mut labels = Vec::new();
    crate::memory::try_reserve(
        &mut labels,
        image.n_pixels(),
        || format!("labelling {} pixels", image.n_pixels()),
        "use a smaller image",
    )?;
    let s = segment_with(image, config, builder, &mut NoMonitor, |_, _, chunk| {
        labels.extend_from_slice(chunk)
    })?;
    Ok((s, labels))
}

/// [`segment`], reporting the fit's restarts and iterations to `monitor`
/// and handing the labels to `on_labels(model, first_pixel, labels)` a chunk
/// ([`CHUNK_PIXELS`]) at a time, in order, instead of keeping them.
pub fn segment_with<M: Monitor + ?Sized>(
    image: Image<'_>,
    config: &SegmentConfig,
    builder: &GaussianMixtureBuilder,
    monitor: &mut M,
    mut on_labels: impl FnMut(&GaussianMixture, usize, &[usize]),
) -> Result<Segmentation> {
    if let Some(w) = config.spatial {
        if !(w.is_finite() && w > 0.0) {
            return Err(Error::InvalidConfig {
                field: "spatial",
                reason: format!("must be a finite number > 0, got {w}"),
            });
        }
    }
    if config.max_pixels == 0 {
        return Err(Error::InvalidConfig {
            field: "max_pixels",
            reason: "must be at least 1".into(),
        });
    }
    let n = image.n_pixels();
    let d = if config.spatial.is_some() { 5 } else { 3 };
    // The pixels to fit: all of them, or a seeded subsample kept in row-major order.
    let subsample: Option<Vec<usize>> = (n > config.max_pixels).then(|| {
        let mut rng = Pcg64::seed_from_u64(config.seed ^ SUBSAMPLE_STREAM);
        let mut idx = rand::seq::index::sample(&mut rng, n, config.max_pixels).into_vec();
        idx.sort_unstable();
        idx
    });
    let mut x = Vec::new();
    match &subsample {
        Some(idx) => image.features(idx.iter().copied(), config.spatial, &mut x),
        None => image.features(0..n, config.spatial, &mut x),
    }
    let fitted_pixels = x.len() / d;
    let fit = builder.fit_with_monitor(DataRef::new(&x, fitted_pixels, d)?, monitor)?;
    drop(x);
    let model = &fit.model;
    let mut counts = vec![0usize; model.n_components()];
    let mut total = 0.0;
    let mut x = Vec::with_capacity(CHUNK_PIXELS.min(n) * d);
    for start in (0..n).step_by(CHUNK_PIXELS) {
        let end = (start + CHUNK_PIXELS).min(n);
        image.features(start..end, config.spatial, &mut x);
        let chunk = DataRef::new(&x, end - start, d)?;
        let labels = model.predict(chunk)?;
        // `score` is the mean over the chunk, summed as the fit's E-step sums:
        // for an image fitted whole in one chunk it is exactly the fit's value.
        total += model.score(chunk)? * (end - start) as f64;
        for &l in &labels {
            counts[l] += 1;
        }
        on_labels(model, start, &labels);
    }
    Ok(Segmentation {
        fit,
        counts,
        mean_log_likelihood: total / n as f64,
        fitted_pixels,
    })
}
