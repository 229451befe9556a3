//! What the command-line tests share: running the binary and reading its output.
#![allow(dead_code)]

use std::fs;
use std::path::{Path, PathBuf};

use assert_cmd::Command;
use serde_json::Value;

pub fn emkit() -> Command {
    Command::cargo_bin("emkit").unwrap()
}

pub fn data(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../data")
        .join(name)
}

pub fn reference(name: &str) -> Value {
    let p = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../emkit/tests/reference")
        .join(name);
    serde_json::from_str(&fs::read_to_string(p).unwrap()).unwrap()
}

pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

pub fn run(args: &[&str]) -> Run {
    run_with_stdin(args, "")
}

pub fn run_with_stdin(args: &[&str], stdin: &str) -> Run {
    let out = emkit().args(args).write_stdin(stdin).output().unwrap();
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8(out.stdout).unwrap(),
        stderr: String::from_utf8(out.stderr).unwrap(),
    }
}

pub fn json_of(r: &Run) -> Value {
    // The contract: stdout is exactly one JSON object.
    assert_eq!(r.stdout.lines().count(), 1, "stdout: {}", r.stdout);
    serde_json::from_str(&r.stdout).unwrap_or_else(|e| panic!("{e}: {}", r.stdout))
}

pub fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// The model part of a model file: everything but the fit summary, which
/// holds the time taken and whether the data was streamed.
pub fn model_of(path: &Path) -> Value {
    let mut v: Value = serde_json::from_str(&fs::read_to_string(path).unwrap()).unwrap();
    v.as_object_mut().unwrap().remove("fit");
    v
}
