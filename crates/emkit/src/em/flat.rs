//! The pieces of a model's flat, unconstrained parameter vector
//! ([`super::EmModel::write_flat`]): probabilities as logarithms, read back
//! through a softmax, group by group.

/// A flat vector being read back: the point to read and the vector the model
/// itself writes now, consumed in step.
pub(crate) struct FlatReader<'a> {
    x: &'a [f64],
    base: &'a [f64],
}

impl<'a> FlatReader<'a> {
    pub fn new(x: &'a [f64], base: &'a [f64]) -> Self {
        FlatReader { x, base }
    }

    /// The next `n` values of the point and of the base; `None` when the
    /// vector is shorter than the model (a bug, not bad data).
    pub fn take(&mut self, n: usize) -> Option<(&'a [f64], &'a [f64])> {
        if self.x.len() < n || self.base.len() < n {
            return None;
        }
        let (x, rest) = self.x.split_at(n);
        let (b, base) = self.base.split_at(n);
        self.x = rest;
        self.base = base;
        Some((x, b))
    }

    /// What is left to read, of the point and of the base.
    pub fn rest(&self) -> (&'a [f64], &'a [f64]) {
        (self.x, self.base)
    }

    /// Whether every value has been read.
    pub fn finished(&self) -> bool {
        self.x.is_empty() && self.base.is_empty()
    }
}

/// Appends `ln p` of every probability (`−∞` for a zero).
pub(crate) fn write_logs(p: &[f64], out: &mut Vec<f64>) {
    out.extend(p.iter().map(|v| v.ln()));
}

/// Reads probabilities in groups of `width` (rows summing to one) from their
/// logarithms: each group that differs from the base becomes the softmax of
/// its values (a `−∞` stays an exact zero); a group equal to the base keeps
/// the bits it has. Returns whether a group changed, or `None` when one has
/// no finite value or overflows.
pub(crate) fn read_probabilities(
    flat: &mut FlatReader<'_>,
    width: usize,
    p: &mut [f64],
) -> Option<bool> {
    let (x, base) = flat.take(p.len())?;
    let mut changed = false;
    for ((p, x), base) in p
        .chunks_exact_mut(width)
        .zip(x.chunks_exact(width))
        .zip(base.chunks_exact(width))
    {
        if same(x, base) {
            continue;
        }
        changed = true;
        let max = x.iter().fold(f64::NEG_INFINITY, |m, &v| m.max(v));
        if !max.is_finite() {
            return None;
        }
        let mut sum = 0.0;
        for (p, x) in p.iter_mut().zip(x) {
            *p = (x - max).exp();
            sum += *p;
        }
        // sum >= 1: the largest term is exp(0).
        for p in p.iter_mut() {
            *p /= sum;
        }
    }
    Some(changed)
}

/// Equal values, `−∞` included (bit patterns of NaN never occur in a base).
pub(crate) fn same(x: &[f64], base: &[f64]) -> bool {
    x.iter().zip(base).all(|(a, b)| a == b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn probabilities_round_trip_and_zeros_stay_zero() {
        let p = [0.2, 0.0, 0.8, 0.5, 0.25, 0.25];
        let mut x = Vec::new();
        write_logs(&p, &mut x);
        assert_eq!(x[1], f64::NEG_INFINITY);
        // A moved first row, an unchanged second one.
        let mut moved = x.clone();
        moved[0] += 1.0;
        let mut q = p;
        let changed = read_probabilities(&mut FlatReader::new(&moved, &x), 3, &mut q).unwrap();
        assert!(changed);
        assert_eq!(q[1], 0.0);
        let e = std::f64::consts::E;
        assert!((q[0] - 0.2 * e / (0.2 * e + 0.8)).abs() < 1e-15);
        assert!((q[0] + q[2] - 1.0).abs() < 1e-15);
        assert_eq!(&q[3..], &p[3..]);
        // A row of −∞ (every entry zero) is no distribution.
        let dead = [f64::NEG_INFINITY; 3];
        let mut r = [0.0; 3];
        assert_eq!(
            read_probabilities(&mut FlatReader::new(&dead, &x[..3]), 3, &mut r),
            None
        );
    }

    #[test]
    fn a_short_vector_is_refused() {
        let mut f = FlatReader::new(&[1.0, 2.0], &[1.0, 2.0]);
        assert!(f.take(3).is_none());
        assert_eq!(f.take(2).unwrap().0, &[1.0, 2.0]);
        assert!(f.finished());
    }
}
