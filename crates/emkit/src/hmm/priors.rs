//! hmmlearn 0.3's MAP priors, as [`HmmBuilder`](super::HmmBuilder) settings:
//! their values, their numpy broadcasting, their ranges, and their lowering
//! to the terms of each M-step ([`crate::dist`] holds the formulas).
//!
//! Every prior is a [`PriorArray`]: values with a numpy shape, broadcast by
//! numpy's rules to the shape hmmlearn's formula combines it with (given with
//! each builder method), so that a Python caller can pass hmmlearn's
//! arguments through unchanged. A prior that is not set is neutral: the
//! library's defaults are plain maximum likelihood (hmmlearn's are not: its
//! `GaussianHMM` defaults to `covars_prior=1e-2`).

use crate::dist::gaussian::MixturePrior;
use crate::dist::gaussian::{CovarianceCentre, CovarianceType, GaussianPrior};
use crate::error::{Error, Result};
use crate::linalg::eigen::symmetric_eigenvalues;

/// One prior parameter as numpy holds it: values in row-major (C) order and
/// a shape. A single value (any shape of size one, or a scalar) stands for
/// every entry; otherwise the shape is broadcast by numpy's rules (aligned
/// on the right, each axis equal or 1) to the shape the parameter's formula
/// needs.
#[derive(Clone, Debug, PartialEq)]
pub struct PriorArray {
    values: Vec<f64>,
    shape: Vec<usize>,
}

impl PriorArray {
    /// A scalar (numpy shape `()`).
    pub fn scalar(value: f64) -> Self {
        PriorArray {
            values: vec![value],
            shape: Vec::new(),
        }
    }

    /// Values (row-major) with their shape; that the shape holds exactly the
    /// values is checked when a fit starts.
    pub fn new(values: Vec<f64>, shape: Vec<usize>) -> Self {
        PriorArray { values, shape }
    }

    /// The values, row-major.
    pub fn values(&self) -> &[f64] {
        &self.values
    }

    /// The numpy shape.
    pub fn shape(&self) -> &[usize] {
        &self.shape
    }

    /// The values broadcast to `target` (named by `axes`, e.g.
    /// `"(n_states, n_features)"`, or for `[]` what a single value is),
    /// row-major.
    fn broadcast(&self, field: &'static str, target: &[usize], axes: &str) -> Result<Vec<f64>> {
        let size: usize = self.shape.iter().product();
        if size != self.values.len() {
            return Err(Error::InvalidConfig {
                field,
                reason: format!(
                    "has {} values but its shape {} holds {size}",
                    self.values.len(),
                    shape_text(&self.shape)
                ),
            });
        }
        let n: usize = target.iter().product();
        if size == 1 {
            return Ok(vec![self.values[0]; n]);
        }
        let offset = target.len().wrapping_sub(self.shape.len());
        let fits = self.shape.len() <= target.len()
            && self
                .shape
                .iter()
                .zip(&target[offset..])
                .all(|(&s, &t)| s == t || s == 1);
        if !fits && target.is_empty() {
            return Err(Error::InvalidConfig {
                field,
                reason: format!("has shape {} but must be {axes}", shape_text(&self.shape)),
            });
        }
        if !fits {
            return Err(Error::InvalidConfig {
                field,
                reason: format!(
                    "has shape {}, which does not broadcast to {axes} = {} (numpy's rules: \
                     axes aligned on the right, each equal or 1)",
                    shape_text(&self.shape),
                    shape_text(target)
                ),
            });
        }
        // Source strides, 0 along broadcast axes.
        let mut strides = vec![0; target.len()];
        let mut stride = 1;
        for a in (0..self.shape.len()).rev() {
            if self.shape[a] != 1 {
                strides[offset + a] = stride;
            }
            stride *= self.shape[a];
        }
        let mut out = Vec::with_capacity(n);
        let mut index = vec![0; target.len()];
        for _ in 0..n {
            let at: usize = index.iter().zip(&strides).map(|(i, s)| i * s).sum();
            out.push(self.values[at]);
            for a in (0..target.len()).rev() {
                index[a] += 1;
                if index[a] < target[a] {
                    break;
                }
                index[a] = 0;
            }
        }
        Ok(out)
    }
}

impl From<f64> for PriorArray {
    fn from(value: f64) -> Self {
        PriorArray::scalar(value)
    }
}

impl From<Vec<f64>> for PriorArray {
    /// A one-dimensional array.
    fn from(values: Vec<f64>) -> Self {
        let n = values.len();
        PriorArray::new(values, vec![n])
    }
}

fn shape_text(shape: &[usize]) -> String {
    match shape {
        [] => "()".into(),
        [a] => format!("({a},)"),
        _ => {
            let axes: Vec<String> = shape.iter().map(|a| a.to_string()).collect();
            format!("({})", axes.join(", "))
        }
    }
}

/// The entry at flat index `at` of an array of shape `shape`, as `[i][j]`.
fn index_text(at: usize, shape: &[usize]) -> String {
    let mut rest = at;
    let mut index = vec![0; shape.len()];
    for a in (0..shape.len()).rev() {
        index[a] = rest % shape[a].max(1);
        rest /= shape[a].max(1);
    }
    index.iter().map(|i| format!("[{i}]")).collect()
}

/// Checks every (broadcast) value with `ok`, naming the first that fails.
fn check(
    field: &'static str,
    values: &[f64],
    shape: &[usize],
    ok: impl Fn(f64) -> bool,
    what: &str,
) -> Result<()> {
    match values.iter().position(|&v| !ok(v)) {
        None => Ok(()),
        Some(at) => Err(Error::InvalidConfig {
            field,
            reason: format!(
                "{field}{} is {}; it must be {what}",
                index_text(at, shape),
                values[at]
            ),
        }),
    }
}

fn finite(v: f64) -> bool {
    v.is_finite()
}

fn non_negative(v: f64) -> bool {
    v.is_finite() && v >= 0.0
}

/// Checks `count` consecutive `d × d` matrices: symmetric (to 1e-10 of their
/// largest entry, the rounding of a matrix computed in numpy) and positive
/// semi-definite (eigenvalues down to −1e-10 of the largest); returns them
/// symmetrised, `(Ψ + Ψᵀ)/2`, which leaves a symmetric matrix's bits alone.
fn scale_matrices(field: &'static str, values: &[f64], count: usize, d: usize) -> Result<Vec<f64>> {
    let mut out = values.to_vec();
    for c in 0..count {
        let m = &mut out[c * d * d..(c + 1) * d * d];
        let top = m.iter().fold(0.0f64, |t, v| t.max(v.abs()));
        let which = if count > 1 {
            format!("{field}[{c}]")
        } else {
            field.to_string()
        };
        for a in 0..d {
            for b in a + 1..d {
                let (x, y) = (m[a * d + b], m[b * d + a]);
                if (x - y).abs() > 1e-10 * top {
                    return Err(Error::InvalidConfig {
                        field,
                        reason: format!(
                            "{which} must be symmetric; entry [{a}][{b}] is {x} and [{b}][{a}] is {y}"
                        ),
                    });
                }
                let v = (x + y) / 2.0;
                m[a * d + b] = v;
                m[b * d + a] = v;
            }
        }
        let eig = symmetric_eigenvalues(m, d);
        let low = eig.iter().fold(f64::INFINITY, |l, &e| l.min(e));
        let high = eig.iter().fold(0.0f64, |h, &e| h.max(e.abs()));
        if low < -1e-10 * high {
            return Err(Error::InvalidConfig {
                field,
                reason: format!(
                    "{which} must be positive semi-definite (a covariance scale); its smallest \
                     eigenvalue is {low}"
                ),
            });
        }
    }
    Ok(out)
}

/// The prior settings of a builder, as given (`None`: neutral).
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct PriorSettings {
    pub startprob_prior: Option<PriorArray>,
    pub transmat_prior: Option<PriorArray>,
    pub means_prior: Option<PriorArray>,
    pub means_weight: Option<PriorArray>,
    pub covars_prior: Option<PriorArray>,
    pub covars_weight: Option<PriorArray>,
    pub weights_prior: Option<PriorArray>,
    pub emissionprob_prior: Option<PriorArray>,
    pub covariance_centre: CovarianceCentre,
}

/// Dirichlet concentrations of the start probabilities (`K`) and of the
/// transition rows (`K × K`); `None`: maximum likelihood.
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct ChainPrior {
    pub start: Option<Vec<f64>>,
    pub transitions: Option<Vec<f64>>,
}

/// `given` broadcast to `target`, or `default` everywhere.
fn values_or(
    given: &Option<PriorArray>,
    default: f64,
    field: &'static str,
    target: &[usize],
    axes: &str,
) -> Result<Vec<f64>> {
    match given {
        Some(p) => p.broadcast(field, target, axes),
        None => Ok(vec![default; target.iter().product()]),
    }
}

/// Dirichlet concentrations: finite and `>= 0` (below 1 they sparsify: the
/// M-step clamps the pseudo-counts at zero).
fn concentrations(
    given: &Option<PriorArray>,
    field: &'static str,
    target: &[usize],
    axes: &str,
) -> Result<Option<Vec<f64>>> {
    let Some(p) = given else { return Ok(None) };
    let v = p.broadcast(field, target, axes)?;
    check(
        field,
        &v,
        target,
        non_negative,
        "a finite concentration >= 0",
    )?;
    Ok(Some(v))
}

impl PriorSettings {
    /// Whether any prior is set (or hmmlearn's GMM-HMM centring asked for).
    pub fn any(&self) -> bool {
        *self != PriorSettings::default()
    }

    /// The start and transition priors of a `k`-state chain.
    pub fn chain(&self, k: usize) -> Result<ChainPrior> {
        Ok(ChainPrior {
            start: concentrations(
                &self.startprob_prior,
                "startprob_prior",
                &[k],
                "(n_states,)",
            )?,
            transitions: concentrations(
                &self.transmat_prior,
                "transmat_prior",
                &[k, k],
                "(n_states, n_states)",
            )?,
        })
    }

    /// The emission rows' prior of a categorical HMM (`k` states, `m` symbols).
    pub fn categorical(&self, k: usize, m: usize) -> Result<Option<Vec<f64>>> {
        concentrations(
            &self.emissionprob_prior,
            "emissionprob_prior",
            &[k, m],
            "(n_states, n_symbols)",
        )
    }

    /// hmmlearn's `GaussianHMM` priors for `k` states on `d` features,
    /// lowered (see [`super::HmmBuilder::covars_prior`]).
    pub fn gaussian(
        &self,
        kind: CovarianceType,
        k: usize,
        d: usize,
    ) -> Result<Option<GaussianPrior>> {
        if self.means_prior.is_none()
            && self.means_weight.is_none()
            && self.covars_prior.is_none()
            && self.covars_weight.is_none()
        {
            return Ok(None);
        }
        let kd = "(n_states, n_features)";
        let means = values_or(&self.means_prior, 0.0, "means_prior", &[k, d], kd)?;
        check("means_prior", &means, &[k, d], finite, "finite")?;
        let shared = matches!(kind, CovarianceType::Full | CovarianceType::Tied);
        let means_weight = if shared {
            // hmmlearn multiplies the outer product of the mean offsets by it:
            // anything but one number makes the covariance asymmetric.
            let w = values_or(
                &self.means_weight,
                0.0,
                "means_weight",
                &[],
                "a single number (full and tied covariances)",
            )?;
            vec![w[0]; k * d]
        } else {
            values_or(&self.means_weight, 0.0, "means_weight", &[k, d], kd)?
        };
        check(
            "means_weight",
            &means_weight,
            &[k, d],
            non_negative,
            "a finite weight >= 0",
        )?;
        let cw = values_or(
            &self.covars_weight,
            1.0,
            "covars_weight",
            &[],
            "a single number",
        )?[0];
        check("covars_weight", &[cw], &[], finite, "finite")?;
        let (scale, dof) = match kind {
            CovarianceType::Diagonal | CovarianceType::Spherical => {
                let psi = values_or(&self.covars_prior, 0.0, "covars_prior", &[k, d], kd)?;
                check(
                    "covars_prior",
                    &psi,
                    &[k, d],
                    non_negative,
                    "a finite number >= 0",
                )?;
                let extra = (cw - 1.0).max(0.0);
                if kind == CovarianceType::Diagonal {
                    (psi, vec![extra; k * d])
                } else {
                    // hmmlearn averages the diagonal estimates over features;
                    // they share a denominator, so the numerators add up.
                    let sums = psi.chunks(d).map(|r| r.iter().sum()).collect();
                    (sums, vec![extra; k])
                }
            }
            CovarianceType::Full => {
                let psi = values_or(
                    &self.covars_prior,
                    0.0,
                    "covars_prior",
                    &[k, d, d],
                    "(n_states, n_features, n_features)",
                )?;
                check("covars_prior", &psi, &[k, d, d], finite, "finite")?;
                (
                    scale_matrices("covars_prior", &psi, k, d)?,
                    vec![(cw - d as f64).max(0.0); k],
                )
            }
            CovarianceType::Tied => {
                let psi = values_or(
                    &self.covars_prior,
                    0.0,
                    "covars_prior",
                    &[d, d],
                    "(n_features, n_features)",
                )?;
                check("covars_prior", &psi, &[d, d], finite, "finite")?;
                (
                    scale_matrices("covars_prior", &psi, 1, d)?,
                    vec![(cw - d as f64).max(0.0)],
                )
            }
        };
        Ok(Some(GaussianPrior {
            kind,
            d,
            means,
            means_weight,
            scale,
            dof,
            centre: CovarianceCentre::NewMeans,
        }))
    }

    /// hmmlearn's `GMMHMM` priors for `k` states of `m` components on `d`
    /// features, lowered to one mixture prior per state (see the GMM-HMM
    /// builder's `covars_prior`).
    pub fn gmm(
        &self,
        kind: CovarianceType,
        k: usize,
        m: usize,
        d: usize,
    ) -> Result<Option<Vec<MixturePrior>>> {
        if self.weights_prior.is_none()
            && self.means_prior.is_none()
            && self.means_weight.is_none()
            && self.covars_prior.is_none()
            && self.covars_weight.is_none()
            && self.covariance_centre == CovarianceCentre::NewMeans
        {
            return Ok(None);
        }
        let km = "(n_states, n_mix)";
        let weights = values_or(&self.weights_prior, 1.0, "weights_prior", &[k, m], km)?;
        check(
            "weights_prior",
            &weights,
            &[k, m],
            non_negative,
            "a finite concentration >= 0",
        )?;
        let kmd = "(n_states, n_mix, n_features)";
        let means = values_or(&self.means_prior, 0.0, "means_prior", &[k, m, d], kmd)?;
        check("means_prior", &means, &[k, m, d], finite, "finite")?;
        let lambda = values_or(&self.means_weight, 0.0, "means_weight", &[k, m], km)?;
        check(
            "means_weight",
            &lambda,
            &[k, m],
            non_negative,
            "a finite weight >= 0",
        )?;
        let nf = d as f64;
        let nm = m as f64;
        // Per state: Ψ in the layout of one mixture's covariances, and ν.
        let (scale, dof): (Vec<f64>, Vec<f64>) = match kind {
            CovarianceType::Full => {
                let psi = values_or(
                    &self.covars_prior,
                    0.0,
                    "covars_prior",
                    &[k, m, d, d],
                    "(n_states, n_mix, n_features, n_features)",
                )?;
                check("covars_prior", &psi, &[k, m, d, d], finite, "finite")?;
                let nu = values_or(
                    &self.covars_weight,
                    -(nf + 2.0),
                    "covars_weight",
                    &[k, m],
                    km,
                )?;
                check("covars_weight", &nu, &[k, m], finite, "finite")?;
                // c_d = N + 1 + ν + d + 1.
                let dof = nu.iter().map(|&v| ((1.0 + v) + nf) + 1.0).collect();
                (scale_matrices("covars_prior", &psi, k * m, d)?, dof)
            }
            CovarianceType::Tied => {
                let psi = values_or(
                    &self.covars_prior,
                    0.0,
                    "covars_prior",
                    &[k, d, d],
                    "(n_states, n_features, n_features)",
                )?;
                check("covars_prior", &psi, &[k, d, d], finite, "finite")?;
                let nu = values_or(
                    &self.covars_weight,
                    -(nm + nf + 1.0),
                    "covars_weight",
                    &[k],
                    "(n_states,)",
                )?;
                check("covars_weight", &nu, &[k], finite, "finite")?;
                // c_d = N + M + ν + d + 1, N the state's whole count.
                let dof = nu.iter().map(|&v| ((nm + v) + nf) + 1.0).collect();
                (scale_matrices("covars_prior", &psi, k, d)?, dof)
            }
            CovarianceType::Diagonal => {
                let alpha = values_or(&self.covars_prior, -1.5, "covars_prior", &[k, m, d], kmd)?;
                check("covars_prior", &alpha, &[k, m, d], finite, "finite")?;
                let beta = values_or(&self.covars_weight, 0.0, "covars_weight", &[k, m, d], kmd)?;
                check(
                    "covars_weight",
                    &beta,
                    &[k, m, d],
                    non_negative,
                    "a finite number >= 0",
                )?;
                // c_n = 2β + …, c_d = N + 1 + 2(α + 1).
                let scale = beta.iter().map(|b| 2.0 * b).collect();
                let dof = alpha.iter().map(|a| 1.0 + 2.0 * (a + 1.0)).collect();
                (scale, dof)
            }
            CovarianceType::Spherical => {
                let alpha = values_or(
                    &self.covars_prior,
                    -(nf + 2.0) / 2.0,
                    "covars_prior",
                    &[k, m],
                    km,
                )?;
                check("covars_prior", &alpha, &[k, m], finite, "finite")?;
                let beta = values_or(&self.covars_weight, 0.0, "covars_weight", &[k, m], km)?;
                check(
                    "covars_weight",
                    &beta,
                    &[k, m],
                    non_negative,
                    "a finite number >= 0",
                )?;
                // c_d = d(N + 1) + 2(α + 1) = d·(N + 1 + 2(α + 1)/d).
                let scale = beta.iter().map(|b| 2.0 * b).collect();
                let dof = alpha.iter().map(|a| 1.0 + 2.0 * (a + 1.0) / nf).collect();
                (scale, dof)
            }
        };
        let per_scale = scale.len() / k;
        let per_dof = dof.len() / k;
        Ok(Some(
            (0..k)
                .map(|j| MixturePrior {
                    weights: weights[j * m..(j + 1) * m].to_vec(),
                    components: GaussianPrior {
                        kind,
                        d,
                        means: means[j * m * d..(j + 1) * m * d].to_vec(),
                        means_weight: lambda[j * m..(j + 1) * m]
                            .iter()
                            .flat_map(|&l| std::iter::repeat_n(l, d))
                            .collect(),
                        scale: scale[j * per_scale..(j + 1) * per_scale].to_vec(),
                        dof: dof[j * per_dof..(j + 1) * per_dof].to_vec(),
                        centre: self.covariance_centre,
                    },
                })
                .collect(),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn broadcasting_follows_numpy() {
        let p = PriorArray::new(vec![1.0, 2.0, 3.0], vec![3]);
        assert_eq!(
            p.broadcast("f", &[2, 3], "(a, b)").unwrap(),
            vec![1.0, 2.0, 3.0, 1.0, 2.0, 3.0]
        );
        let col = PriorArray::new(vec![1.0, 2.0], vec![2, 1]);
        assert_eq!(
            col.broadcast("f", &[2, 3], "(a, b)").unwrap(),
            vec![1.0, 1.0, 1.0, 2.0, 2.0, 2.0]
        );
        assert_eq!(
            PriorArray::scalar(4.0)
                .broadcast("f", &[2], "(a,)")
                .unwrap(),
            vec![4.0; 2]
        );
        // A single value of any shape is a scalar.
        let one = PriorArray::new(vec![5.0], vec![1, 1, 1]);
        assert_eq!(one.broadcast("f", &[], "()").unwrap(), vec![5.0]);
        // (2,) against (2, 3): numpy aligns on the right and refuses.
        let bad = PriorArray::new(vec![1.0, 2.0], vec![2]);
        let e = bad
            .broadcast("means_prior", &[2, 3], "(n_states, n_features)")
            .unwrap_err();
        match e {
            Error::InvalidConfig { field, reason } => {
                assert_eq!(field, "means_prior");
                assert!(
                    reason.contains("(2,)") && reason.contains("(2, 3)"),
                    "{reason}"
                );
            }
            other => panic!("{other:?}"),
        }
        let short = PriorArray::new(vec![1.0, 2.0], vec![3]);
        assert!(short.broadcast("f", &[3], "(a,)").is_err());
        let mid = PriorArray::new((0..6).map(f64::from).collect(), vec![2, 1, 3]);
        let b = mid.broadcast("f", &[2, 2, 3], "(a, b, c)").unwrap();
        assert_eq!(b, vec![0., 1., 2., 0., 1., 2., 3., 4., 5., 3., 4., 5.]);
    }

    #[test]
    fn ranges_are_checked_once_with_the_hmmlearn_name() {
        let s = PriorSettings {
            transmat_prior: Some(PriorArray::new(vec![1.0, -0.5, 2.0, 1.0], vec![2, 2])),
            ..Default::default()
        };
        match s.chain(2).unwrap_err() {
            Error::InvalidConfig { field, reason } => {
                assert_eq!(field, "transmat_prior");
                assert!(reason.contains("transmat_prior[0][1] is -0.5"), "{reason}");
            }
            other => panic!("{other:?}"),
        }
        let s = PriorSettings {
            covars_prior: Some(PriorArray::new(vec![1.0, 2.0, 2.0, 1.0], vec![2, 2])),
            ..Default::default()
        };
        // Eigenvalues 3 and −1.
        let e = s.gaussian(CovarianceType::Tied, 2, 2).unwrap_err();
        assert!(e.to_string().contains("positive semi-definite"), "{e}");
        let s = PriorSettings {
            means_weight: Some(PriorArray::new(vec![1.0, 2.0], vec![2])),
            ..Default::default()
        };
        assert!(s.gaussian(CovarianceType::Full, 3, 2).is_err());
        assert!(s.gaussian(CovarianceType::Diagonal, 3, 2).is_ok());
        // hmmlearn's default scalar 1e-2 for a full covariance fills the
        // whole matrix: rank one, positive semi-definite, accepted.
        let s = PriorSettings {
            covars_prior: Some(PriorArray::scalar(1e-2)),
            ..Default::default()
        };
        let p = s.gaussian(CovarianceType::Full, 2, 3).unwrap().unwrap();
        assert_eq!(p.scale, vec![1e-2; 18]);
        assert_eq!(p.dof, vec![0.0; 2]);
    }

    #[test]
    fn neutral_values_lower_to_zero_terms() {
        let neutral = PriorSettings {
            weights_prior: Some(1.0.into()),
            means_prior: Some(0.0.into()),
            means_weight: Some(0.0.into()),
            ..Default::default()
        };
        for kind in CovarianceType::ALL {
            let p = neutral.gmm(kind, 2, 3, 4).unwrap().unwrap();
            for s in &p {
                assert!(s.weights.iter().all(|&w| w == 1.0));
                assert!(s.components.scale.iter().all(|&v| v == 0.0), "{kind}");
                assert!(s.components.dof.iter().all(|&v| v == 0.0), "{kind}");
            }
            let g = PriorSettings {
                covars_weight: Some(1.0.into()),
                ..neutral.clone()
            }
            .gaussian(kind, 2, 4)
            .unwrap()
            .unwrap();
            assert!(g.scale.iter().chain(&g.dof).all(|&v| v == 0.0), "{kind}");
        }
    }
}
