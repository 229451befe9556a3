//! Where outputs go, and how they are written.
//!
//! - An output never lands on one of the command's inputs, and no two outputs
//!   share a path: both are refused before any work ([`check_paths`]), with
//!   paths compared as files (after resolving links: a symlink or hard link
//!   to an input is that input).
//! - A regular file (or a new path) is written to a temporary file in the
//!   same folder and renamed into place, so a failed or interrupted run never
//!   leaves a partial file; an existing file keeps its permissions. A symlink
//!   is followed: its target gets the atomic write and the link stays a link.
//! - A FIFO, a character device (`/dev/null`, a terminal) or a socket is
//!   written directly, since renaming over it would replace it with a
//!   regular file; `/dev/stdout` and `/dev/stderr` are the process's own
//!   streams. Block devices and folders are refused.
//! - A run killed before its rename leaves only its temporary
//!   (`.NAME.PID.tmp`); the next write to that path removes temporaries whose
//!   process is gone.

use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use anyhow::{anyhow, Result};

use crate::common::input_error;

/// Longest chain of symlinks followed (Linux's own limit is 40).
const MAX_LINKS: usize = 40;

/// Where the bytes of an output go.
#[derive(Debug)]
enum Target {
    /// The process's standard output or error.
    Stdout,
    Stderr,
    /// An existing FIFO, character device or socket, written in place.
    Direct(PathBuf),
    /// A regular file or a new path (links resolved), replaced atomically.
    Atomic(PathBuf),
}

/// The path a symlink chain ends at (the path itself when it is no link).
fn resolve_links(path: &Path) -> Result<PathBuf> {
    let mut p = path.to_path_buf();
    for _ in 0..MAX_LINKS {
        match fs::symlink_metadata(&p) {
            Ok(m) if m.file_type().is_symlink() => {
                let target = fs::read_link(&p)
                    .map_err(|e| anyhow!("{}: cannot read the link: {e}", p.display()))?;
                p = if target.is_absolute() {
                    target
                } else {
                    parent_dir(&p).join(target)
                };
            }
            _ => return Ok(p),
        }
    }
    Err(input_error(format!(
        "{}: too many levels of symbolic links; point the link at a file",
        path.display()
    )))
}

/// The folder a path lives in (`.` for a bare file name).
pub fn parent_dir(path: &Path) -> PathBuf {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

/// The standard stream a path names, if any (`-` is standard output).
fn std_stream(path: &Path) -> Option<Target> {
    match path.to_str()? {
        "-" | "/dev/stdout" | "/dev/fd/1" | "/proc/self/fd/1" => Some(Target::Stdout),
        "/dev/stderr" | "/dev/fd/2" | "/proc/self/fd/2" => Some(Target::Stderr),
        _ => None,
    }
}

/// A path that names one of this process's open files (`/dev/fd/3`, a shell's
/// `>(...)`): its "link" is no path to follow, so it is written in place.
fn open_descriptor(path: &Path) -> bool {
    path.starts_with("/dev/fd") || path.starts_with("/proc/self/fd")
}

/// How `path` is written; fails for folders, block devices and missing folders.
fn target(path: &Path) -> Result<Target> {
    if let Some(t) = std_stream(path) {
        return Ok(t);
    }
    if open_descriptor(path) {
        return Ok(Target::Direct(path.to_path_buf()));
    }
    let resolved = resolve_links(path)?;
    let shown = path.display();
    match fs::metadata(&resolved) {
        Ok(m) if m.is_dir() => Err(input_error(format!(
            "{shown}: is a folder; give a file name"
        ))),
        Ok(m) if m.is_file() => Ok(Target::Atomic(resolved)),
        Ok(m) => {
            if is_block_device(&m) {
                Err(input_error(format!(
                    "{shown}: is a block device; write to a file instead"
                )))
            } else {
                Ok(Target::Direct(resolved))
            }
        }
        Err(_) => {
            let parent = parent_dir(&resolved);
            if !parent.is_dir() {
                return Err(input_error(format!(
                    "{shown}: the folder {} does not exist; create it first or write elsewhere",
                    parent.display()
                )));
            }
            Ok(Target::Atomic(resolved))
        }
    }
}

#[cfg(unix)]
fn is_block_device(m: &fs::Metadata) -> bool {
    use std::os::unix::fs::FileTypeExt;
    m.file_type().is_block_device()
}

#[cfg(not(unix))]
fn is_block_device(_: &fs::Metadata) -> bool {
    false
}

/// Fails early (before any work) when an output cannot be written where asked.
pub fn check_output_path(path: &Path) -> Result<()> {
    target(path).map(|_| ())
}

/// What identifies a file: device and inode where it exists, otherwise its
/// folder's canonical path and its name; `None` for paths that are never the
/// same file as another (standard streams, character devices such as
/// `/dev/null`).
#[derive(Debug, PartialEq, Eq)]
enum Identity {
    Stream(&'static str),
    #[cfg(unix)]
    Inode(u64, u64),
    Path(PathBuf),
}

fn identity(path: &Path) -> Option<Identity> {
    match std_stream(path) {
        Some(Target::Stdout) => return Some(Identity::Stream("standard output")),
        Some(_) => return Some(Identity::Stream("standard error")),
        None => {}
    }
    let resolved = if open_descriptor(path) {
        path.to_path_buf()
    } else {
        resolve_links(path).ok()?
    };
    if let Ok(m) = fs::metadata(&resolved) {
        #[cfg(unix)]
        {
            use std::os::unix::fs::{FileTypeExt, MetadataExt};
            if m.file_type().is_char_device() {
                return None;
            }
            return Some(Identity::Inode(m.dev(), m.ino()));
        }
        #[cfg(not(unix))]
        {
            let _ = m;
            return fs::canonicalize(&resolved).ok().map(Identity::Path);
        }
    }
    let folder = fs::canonicalize(parent_dir(&resolved)).ok()?;
    Some(Identity::Path(folder.join(resolved.file_name()?)))
}

/// Checks a command's outputs before it does any work: each can be written
/// ([`check_output_path`]), none is one of `inputs`, and no two are the same
/// file. Inputs and outputs (`(flag, path)`) are `None` when not given; a command that
/// prints JSON on standard output lists it as `("--json", "/dev/stdout")`.
pub fn check_paths(inputs: &[Option<&Path>], outputs: &[(&str, Option<&Path>)]) -> Result<()> {
    let outputs: Vec<(&str, &Path)> = outputs
        .iter()
        .filter_map(|&(flag, p)| p.map(|p| (flag, p)))
        .collect();
    for &(_, path) in &outputs {
        if std_stream(path).is_none() {
            check_output_path(path)?;
        }
    }
    // An input `-` is standard input, never the same file as an output.
    let inputs: Vec<(&Path, Identity)> = inputs
        .iter()
        .flatten()
        .filter(|p| **p != Path::new("-"))
        .filter_map(|&p| identity(p).map(|id| (p, id)))
        .collect();
    // `--json` names no path: it is standard output.
    let describe = |flag: &str, path: &Path| match flag {
        "--json" => flag.to_string(),
        _ => format!("{flag} {}", path.display()),
    };
    let mut seen: Vec<(&str, &Path, Identity)> = Vec::new();
    for &(flag, path) in &outputs {
        let Some(id) = identity(path) else { continue };
        if let Some((input, _)) = inputs.iter().find(|(_, i)| *i == id) {
            return Err(input_error(format!(
                "{flag} {}: is the input {}; writing there would destroy it: give another output path",
                path.display(),
                input.display()
            )));
        }
        if let Some((other, other_path, _)) = seen.iter().find(|(_, _, i)| *i == id) {
            let place = match id {
                Identity::Stream(s) => s.to_string(),
                _ => path.display().to_string(),
            };
            return Err(input_error(format!(
                "{} and {} both write to {place}; give each output its own path",
                describe(other, other_path),
                describe(flag, path)
            )));
        }
        seen.push((flag, path, id));
    }
    Ok(())
}

/// Writes `path` as the module docs say: atomically for regular files and new
/// paths (through links), directly for FIFOs, character devices and the
/// standard streams.
pub fn write_atomic(
    path: &Path,
    write: impl FnOnce(&mut dyn Write) -> io::Result<()>,
) -> Result<()> {
    let fail = |e: io::Error| anyhow!("{}: cannot write: {}", path.display(), explain(&e));
    match target(path)? {
        Target::Stdout => write_stream(&mut io::stdout().lock(), write).map_err(fail),
        Target::Stderr => write_stream(&mut io::stderr().lock(), write).map_err(fail),
        Target::Direct(p) => {
            let file = fs::OpenOptions::new().write(true).open(&p).map_err(fail)?;
            write_stream(&mut io::BufWriter::new(file), write).map_err(fail)
        }
        Target::Atomic(p) => write_replacing(&p, write).map_err(fail),
    }
}

/// Writes and flushes; a reader that went away (`| head`) is not a failure.
fn write_stream<W: Write>(
    out: &mut W,
    write: impl FnOnce(&mut dyn Write) -> io::Result<()>,
) -> io::Result<()> {
    match write(out).and_then(|()| out.flush()) {
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => Ok(()),
        other => other,
    }
}

/// The temporary-file-and-rename write of a regular file or new path.
fn write_replacing(
    path: &Path,
    write: impl FnOnce(&mut dyn Write) -> io::Result<()>,
) -> io::Result<()> {
    let folder = parent_dir(path);
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    remove_stale_temporaries(&folder, &name);
    let tmp = folder.join(format!(".{name}.{}.tmp", std::process::id()));
    let file = match fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&tmp)
    {
        Ok(f) => f,
        // Our own leftover (this process wrote the path before): replace it.
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
            fs::remove_file(&tmp)?;
            fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&tmp)?
        }
        Err(e) => return Err(e),
    };
    let result = (|| {
        let mut out = io::BufWriter::new(file);
        write(&mut out)?;
        let file = out.into_inner().map_err(|e| e.into_error())?;
        if let Ok(old) = fs::metadata(path) {
            file.set_permissions(old.permissions())?;
        }
        file.sync_all()?;
        drop(file);
        fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

/// Removes `.NAME.PID.tmp` files in `folder` left by processes that no longer
/// run (a run killed before its rename). Only where `/proc` tells which
/// processes run; elsewhere they are ignored (never read as outputs).
fn remove_stale_temporaries(folder: &Path, name: &str) {
    if !Path::new("/proc/self").exists() {
        return;
    }
    let Ok(entries) = fs::read_dir(folder) else {
        return;
    };
    let prefix = format!(".{name}.");
    for entry in entries.flatten() {
        let file = entry.file_name();
        let Some(file) = file.to_str() else { continue };
        let Some(pid) = file
            .strip_prefix(&prefix)
            .and_then(|rest| rest.strip_suffix(".tmp"))
        else {
            continue;
        };
        if pid.bytes().all(|b| b.is_ascii_digit())
            && !pid.is_empty()
            && !Path::new("/proc").join(pid).exists()
        {
            let _ = fs::remove_file(entry.path());
        }
    }
}

/// An I/O error with what to do about the common ones.
fn explain(e: &io::Error) -> String {
    match e.kind() {
        io::ErrorKind::StorageFull => {
            format!("{e}; free some space or write to another disk (nothing was written)")
        }
        io::ErrorKind::PermissionDenied => format!("{e}; write somewhere you may write"),
        io::ErrorKind::ReadOnlyFilesystem => format!("{e}; write to another disk"),
        _ => e.to_string(),
    }
}

/// Writes to `path` with [`write_atomic`], or to standard output when there
/// is no path.
pub fn write_output(
    path: Option<&Path>,
    write: impl FnOnce(&mut dyn Write) -> io::Result<()>,
) -> Result<()> {
    match path {
        Some(p) => write_atomic(p, write),
        None => write_stream(&mut io::BufWriter::new(io::stdout().lock()), write)
            .map_err(|e| anyhow!("writing to standard output: {}", explain(&e))),
    }
}

/// Prints one line on standard output (a JSON object, a number); a reader
/// that went away is not a failure.
pub fn print_line(text: &str) -> Result<()> {
    write_output(None, |out| writeln!(out, "{text}"))
}
