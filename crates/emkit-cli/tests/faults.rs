//! Faults around outputs: a run killed while writing, a full disk, and
//! outputs that are not regular files (FIFOs, symlinks, devices).

use std::fs;
use std::io::Read;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

mod common;

use common::{data, emkit, s};

fn bin() -> std::path::PathBuf {
    assert_cmd::cargo::cargo_bin("emkit")
}

/// A saved model of the iris data in `dir`.
fn model(dir: &Path) -> std::path::PathBuf {
    let m = dir.join("m.json");
    let out = emkit()
        .args(["fit", s(&data("iris.csv")), "-k", "3", "-o", s(&m), "-q"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    m
}

/// The names in `dir` (hidden ones too).
fn names(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

#[test]
#[cfg(unix)]
fn kill_9_while_writing_leaves_no_output_and_the_next_run_cleans_up() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let m = model(d);
    // Enough rows that writing the probabilities takes a while (~150 MB).
    let rows = d.join("rows.csv");
    let out = emkit()
        .args(["sample", s(&m), "-n", "1500000", "-o", s(&rows)])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let target = d.join("out.csv");
    let mut killed_mid_write = false;
    // The write may finish before we catch it on a fast machine; try a few times.
    for _ in 0..5 {
        let mut child = Command::new(bin())
            .args(["predict", s(&m), s(&rows), "--proba", "-o", s(&target)])
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let tmp = d.join(format!(".out.csv.{}.tmp", child.id()));
        let started = Instant::now();
        // Wait until the temporary holds some bytes: the write has begun.
        while started.elapsed() < Duration::from_secs(120) {
            if fs::metadata(&tmp).is_ok_and(|m| m.len() > 0) {
                break;
            }
            if child.try_wait().unwrap().is_some() {
                break;
            }
            std::thread::sleep(Duration::from_millis(2));
        }
        let running = child.try_wait().unwrap().is_none();
        child.kill().unwrap_or(()); // SIGKILL
        child.wait().unwrap();
        if running && tmp.exists() {
            killed_mid_write = true;
            assert!(!target.exists(), "a killed run left {}", target.display());
            break;
        }
        let _ = fs::remove_file(&target);
    }
    assert!(
        killed_mid_write,
        "could not catch predict while it wrote (the machine is too fast for 1.5 M rows)"
    );
    // The next run to that path removes the dead run's temporary and writes
    // the whole file.
    let out = emkit()
        .args(["predict", s(&m), s(&rows), "-o", s(&target)])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let left: Vec<String> = names(d)
        .into_iter()
        .filter(|n| n.ends_with(".tmp"))
        .collect();
    assert!(left.is_empty(), "temporaries left: {left:?}");
    let text = fs::read_to_string(&target).unwrap();
    assert_eq!(
        text.lines().count(),
        1_500_001,
        "header and one label per row"
    );
}

#[test]
#[cfg(target_os = "linux")]
fn a_full_disk_fails_with_exit_1_and_no_partial_file() {
    let dir = tempfile::tempdir().unwrap();
    let m = model(dir.path());
    let small = dir.path().join("small");
    fs::create_dir(&small).unwrap();
    let mounted = Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=64k", "tmpfs", s(&small)])
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|st| st.success());
    if !mounted {
        // Mounting needs root (or a user namespace); the device below still
        // checks the message.
        eprintln!("skipped the tmpfs part: cannot mount a 64 kB tmpfs here (not root?)");
    } else {
        let target = small.join("out.csv");
        let out = emkit()
            .args(["sample", s(&m), "-n", "100000", "-o", s(&target)])
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        let listing = names(&small);
        let _ = Command::new("umount").arg(&small).status();
        assert_eq!(out.status.code(), Some(1), "{stderr}");
        assert_eq!(stderr.lines().count(), 1, "{stderr}");
        assert!(
            stderr.contains("out.csv") && stderr.contains("free some space"),
            "{stderr}"
        );
        assert!(listing.is_empty(), "left on the full disk: {listing:?}");
    }
    // /dev/full: every write fails with ENOSPC; a device is written directly.
    let out = emkit()
        .args(["sample", s(&m), "-n", "100000", "-o", "/dev/full"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("/dev/full") && stderr.contains("space"),
        "{stderr}"
    );
    assert!(Path::new("/dev/full").exists(), "the device is still there");
}

#[test]
#[cfg(unix)]
fn outputs_onto_a_fifo_a_symlink_and_devices_write_through_them() {
    use std::os::unix::fs::{FileTypeExt, PermissionsExt};
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let m = model(d);

    // A FIFO stays a FIFO; its reader gets the samples.
    let fifo = d.join("pipe");
    assert!(Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap()
        .success());
    let reader = {
        let fifo = fifo.clone();
        std::thread::spawn(move || {
            let mut text = String::new();
            fs::File::open(&fifo)
                .unwrap()
                .read_to_string(&mut text)
                .unwrap();
            text
        })
    };
    let out = emkit()
        .args(["sample", s(&m), "-n", "5", "--seed", "3", "-o", s(&fifo)])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let through_fifo = reader.join().unwrap();
    assert!(fs::symlink_metadata(&fifo).unwrap().file_type().is_fifo());
    let direct = emkit()
        .args(["sample", s(&m), "-n", "5", "--seed", "3"])
        .output()
        .unwrap();
    assert_eq!(through_fifo.as_bytes(), &direct.stdout[..]);

    // A symlink stays a link; its target is written (atomically) and keeps
    // its permissions.
    let target = d.join("real.csv");
    fs::write(&target, "old\n").unwrap();
    fs::set_permissions(&target, fs::Permissions::from_mode(0o600)).unwrap();
    let link = d.join("link.csv");
    std::os::unix::fs::symlink("real.csv", &link).unwrap();
    let out = emkit()
        .args(["sample", s(&m), "-n", "5", "--seed", "3", "-o", s(&link)])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    assert!(fs::symlink_metadata(&link)
        .unwrap()
        .file_type()
        .is_symlink());
    assert_eq!(fs::read(&target).unwrap(), direct.stdout);
    let mode = fs::metadata(&target).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);

    // A dangling symlink: the file it names is created.
    let dangling = d.join("dangling.csv");
    std::os::unix::fs::symlink("made.csv", &dangling).unwrap();
    let out = emkit()
        .args([
            "sample",
            s(&m),
            "-n",
            "5",
            "--seed",
            "3",
            "-o",
            s(&dangling),
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    assert_eq!(fs::read(d.join("made.csv")).unwrap(), direct.stdout);

    // /dev/null stays a device; /dev/stdout is our own standard output.
    let out = emkit()
        .args(["sample", s(&m), "-n", "5", "-o", "/dev/null"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    assert!(fs::metadata("/dev/null")
        .unwrap()
        .file_type()
        .is_char_device());
    let out = emkit()
        .args([
            "sample",
            s(&m),
            "-n",
            "5",
            "--seed",
            "3",
            "-o",
            "/dev/stdout",
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    assert_eq!(out.stdout, direct.stdout);

    let left: Vec<String> = names(d)
        .into_iter()
        .filter(|n| n.ends_with(".tmp"))
        .collect();
    assert!(left.is_empty(), "{left:?}");
}
