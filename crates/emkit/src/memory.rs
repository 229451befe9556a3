//! How much memory a request needs, and how much the machine has.
//!
//! Sizes that users give (rows to sample, components, features, restarts,
//! grid cells, symbols) decide how much emkit allocates. Before allocating
//! anything large, the library estimates the bytes a request needs and
//! compares them with a [`MemoryLimit`]; a request over the limit is an
//! [`Error::TooMuchMemory`] that says how much it would need and what to
//! change, never an abort or a machine pushed into swap. Estimates count the
//! large buffers (parameters, per-task statistics, n × k outputs), not every
//! small allocation, so they are a floor of the true peak, not a bound.

use std::sync::atomic::{AtomicU64, Ordering};

use crate::error::{Error, Result};

/// The process-wide default limit, encoded: 0 available, `u64::MAX`
/// unlimited, anything else a number of bytes.
static DEFAULT_LIMIT: AtomicU64 = AtomicU64::new(0);

/// Sets the limit that every check uses unless a builder sets its own
/// (scikit-learn's `set_config(working_memory=...)` plays the same part):
/// the command line's `--max-memory` sets it once at start.
pub fn set_default_limit(limit: MemoryLimit) {
    let code = match limit {
        MemoryLimit::Available => 0,
        MemoryLimit::Bytes(b) => b.clamp(1, u64::MAX - 1),
        MemoryLimit::Unlimited => u64::MAX,
    };
    DEFAULT_LIMIT.store(code, Ordering::Relaxed);
}

/// The limit set by [`set_default_limit`] ([`MemoryLimit::Available`] unless set).
pub fn default_limit() -> MemoryLimit {
    match DEFAULT_LIMIT.load(Ordering::Relaxed) {
        0 => MemoryLimit::Available,
        u64::MAX => MemoryLimit::Unlimited,
        b => MemoryLimit::Bytes(b),
    }
}

/// Reserves room for `additional` more values in `v`, or fails with
/// [`Error::TooMuchMemory`] naming `what` when the allocator refuses.
pub(crate) fn try_reserve<T>(
    v: &mut Vec<T>,
    additional: usize,
    what: impl FnOnce() -> String,
    hint: &str,
) -> Result<()> {
    v.try_reserve_exact(additional).map_err(|_| {
        too_much(
            bytes_of(additional as u128, std::mem::size_of::<T>()),
            available().unwrap_or(0),
            what(),
            hint,
        )
    })
}

/// Requests below this many bytes are not checked: reading the available
/// memory costs a file read, and no machine emkit runs on lacks 64 MiB.
const CHECK_ABOVE: u128 = 64 << 20;

/// The most memory a request may need.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum MemoryLimit {
    /// The memory available now ([`available`]): free memory plus what the
    /// kernel can reclaim, capped by a cgroup limit. Unchecked where unknown.
    #[default]
    Available,
    /// At most this many bytes.
    Bytes(u64),
    /// No check (the caller knows better; allocation failures still return
    /// errors where the library can catch them).
    Unlimited,
}

impl MemoryLimit {
    /// The limit in bytes, `None` when unchecked.
    pub fn bytes(self) -> Option<u64> {
        match self {
            MemoryLimit::Available => available(),
            MemoryLimit::Bytes(b) => Some(b),
            MemoryLimit::Unlimited => None,
        }
    }

    /// Fails with [`Error::TooMuchMemory`] when `needed` bytes exceed the limit.
    ///
    /// `what` describes the request ("a 2-component full-covariance fit of
    /// 30000 features"); `hint` says what to change.
    pub fn check(self, needed: u128, what: impl FnOnce() -> String, hint: &str) -> Result<()> {
        if needed < CHECK_ABOVE && self != MemoryLimit::Unlimited {
            if let MemoryLimit::Bytes(b) = self {
                if needed > u128::from(b) {
                    return Err(too_much(needed, b, what(), hint));
                }
            }
            return Ok(());
        }
        match self.bytes() {
            Some(limit) if needed > u128::from(limit) => Err(too_much(needed, limit, what(), hint)),
            _ => Ok(()),
        }
    }
}

fn too_much(needed: u128, limit: u64, what: String, hint: &str) -> Error {
    Error::TooMuchMemory {
        what,
        needed: u64::try_from(needed).unwrap_or(u64::MAX),
        limit,
        hint: hint.to_string(),
    }
}

/// Bytes for `count` values of `size` bytes each, in u128 so that no product
/// of user sizes overflows.
pub(crate) fn bytes_of(count: u128, size: usize) -> u128 {
    count.saturating_mul(size as u128)
}

/// `a + b + …` in u128, saturating.
pub(crate) fn sum(terms: &[u128]) -> u128 {
    terms.iter().fold(0u128, |s, &t| s.saturating_add(t))
}

/// `a · b · …` in u128, saturating.
pub(crate) fn product(factors: &[usize]) -> u128 {
    factors
        .iter()
        .fold(1u128, |p, &f| p.saturating_mul(f as u128))
}

/// The memory this process can use now, in bytes: `MemAvailable` of
/// `/proc/meminfo`, capped by the cgroup's limit less its usage (cgroup v2
/// `memory.max`, or v1 `memory.limit_in_bytes`). `None` where neither can be
/// read (not Linux, say).
pub fn available() -> Option<u64> {
    let meminfo = std::fs::read_to_string("/proc/meminfo").ok();
    let system = meminfo.as_deref().and_then(mem_available);
    let cgroup = cgroup_headroom();
    match (system, cgroup) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// `MemAvailable` (kB) of a `/proc/meminfo` text, in bytes.
fn mem_available(text: &str) -> Option<u64> {
    let line = text.lines().find(|l| l.starts_with("MemAvailable:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb.saturating_mul(1024))
}

/// Limit less usage of this process's cgroup, where one is set.
fn cgroup_headroom() -> Option<u64> {
    let read = |p: &str| -> Option<u64> { std::fs::read_to_string(p).ok()?.trim().parse().ok() };
    // cgroup v2: the process's own group, named in /proc/self/cgroup as `0::/path`.
    let group = std::fs::read_to_string("/proc/self/cgroup").ok();
    let v2 = group
        .as_deref()
        .and_then(|g| g.lines().find_map(|l| l.strip_prefix("0::")))
        .map(|path| format!("/sys/fs/cgroup{}", path.trim_end_matches('/')));
    if let Some(dir) = v2 {
        if let Some(max) = read(&format!("{dir}/memory.max")) {
            let used = read(&format!("{dir}/memory.current")).unwrap_or(0);
            return Some(max.saturating_sub(used));
        }
    }
    // cgroup v1 (a huge number means "no limit").
    let max = read("/sys/fs/cgroup/memory/memory.limit_in_bytes")?;
    if max >= 1 << 60 {
        return None;
    }
    let used = read("/sys/fs/cgroup/memory/memory.usage_in_bytes").unwrap_or(0);
    Some(max.saturating_sub(used))
}

/// `bytes` for people: `512 B`, `3.2 MB`, `14.4 GB` (powers of 1000, as disks
/// and `--max-memory 8GB` count).
pub fn format_bytes(bytes: u64) -> String {
    const UNITS: [&str; 6] = ["kB", "MB", "GB", "TB", "PB", "EB"];
    if bytes < 1000 {
        return format!("{bytes} B");
    }
    let mut v = bytes as f64 / 1000.0;
    let mut unit = 0;
    while v >= 1000.0 && unit + 1 < UNITS.len() {
        v /= 1000.0;
        unit += 1;
    }
    if v < 10.0 {
        format!("{v:.1} {}", UNITS[unit])
    } else {
        format!("{v:.0} {}", UNITS[unit])
    }
}

/// Parses a size such as `8G`, `8GB`, `500M`, `1.5GiB`, `123456` (bytes) or
/// `none` (no limit).
pub fn parse_size(text: &str) -> std::result::Result<MemoryLimit, String> {
    let t = text.trim();
    if t.eq_ignore_ascii_case("none") || t.eq_ignore_ascii_case("unlimited") {
        return Ok(MemoryLimit::Unlimited);
    }
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (number, unit) = t.split_at(split);
    let value: f64 = number
        .parse()
        .map_err(|_| format!("{text:?} is not a size; give e.g. 8G, 500M, 2.5GB or none"))?;
    let scale: f64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1.0,
        "k" | "kb" => 1e3,
        "m" | "mb" => 1e6,
        "g" | "gb" => 1e9,
        "t" | "tb" => 1e12,
        "kib" => 1024.0,
        "mib" => 1024.0 * 1024.0,
        "gib" => 1024.0 * 1024.0 * 1024.0,
        "tib" => 1024.0f64.powi(4),
        other => {
            return Err(format!(
                "{text:?}: unknown unit {other:?}; use B, K, M, G, T (powers of 1000) or KiB, MiB, GiB, TiB"
            ))
        }
    };
    let bytes = value * scale;
    if !(1.0..1.8e19).contains(&bytes) {
        return Err(format!(
            "{text:?} is not a usable size; give at least 1 byte, e.g. 8G"
        ));
    }
    Ok(MemoryLimit::Bytes(bytes as u64))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_parse_and_print() {
        assert_eq!(parse_size("8G"), Ok(MemoryLimit::Bytes(8_000_000_000)));
        assert_eq!(parse_size("1.5GiB"), Ok(MemoryLimit::Bytes(1_610_612_736)));
        assert_eq!(parse_size("500 mb"), Ok(MemoryLimit::Bytes(500_000_000)));
        assert_eq!(parse_size("123"), Ok(MemoryLimit::Bytes(123)));
        assert_eq!(parse_size("none"), Ok(MemoryLimit::Unlimited));
        for bad in ["", "G", "8X", "-1G", "0", "1e30", "0.1"] {
            assert!(parse_size(bad).is_err(), "{bad}");
        }
        assert_eq!(format_bytes(999), "999 B");
        assert_eq!(format_bytes(14_400_000_000), "14 GB");
        assert_eq!(format_bytes(3_250_000), "3.2 MB");
        assert_eq!(format_bytes(u64::MAX), "18 EB");
    }

    #[test]
    fn meminfo_is_read_in_bytes() {
        let text = "MemTotal:       24000000 kB\nMemFree:  100 kB\nMemAvailable:   2000 kB\n";
        assert_eq!(mem_available(text), Some(2_048_000));
        assert_eq!(mem_available("MemTotal: 5 kB\n"), None);
    }

    #[test]
    fn limits_refuse_only_what_exceeds_them() {
        let what = || "a request".to_string();
        assert!(MemoryLimit::Bytes(100).check(100, what, "hint").is_ok());
        let err = MemoryLimit::Bytes(100)
            .check(101, what, "do less")
            .unwrap_err();
        let text = err.to_string();
        assert!(
            text.contains("a request") && text.contains("do less"),
            "{text}"
        );
        assert!(MemoryLimit::Unlimited.check(u128::MAX, what, "").is_ok());
        // Far above any machine: refused wherever the available memory is known.
        if available().is_some() {
            assert!(MemoryLimit::Available.check(u128::MAX, what, "").is_err());
        }
        assert_eq!(product(&[usize::MAX, usize::MAX, 2]), u128::MAX);
    }
}
