//! `emkit`: see the crate `emkit_cli`.

fn main() -> std::process::ExitCode {
    emkit_cli::run()
}
