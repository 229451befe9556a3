//! What the `image` fuzz target runs on one input, and the properties it
//! checks; `crates/emkit-cli/tests/fuzz_regressions.rs` includes this same
//! file, so a committed crashing input replays through exactly that code.

/// `decode_image` (the whole decode path of `emkit segment`) on arbitrary
/// bytes: an RGB image of the size it says, or a one-line message.
pub fn image(data: &[u8]) -> Result<(), String> {
    match emkit_cli::image_io::decode_image(data) {
        Ok(img) => {
            let (w, h) = img.dimensions();
            assert!(w > 0 && h > 0);
            assert_eq!(img.as_raw().len(), w as usize * h as usize * 3);
            Ok(())
        }
        Err(problem) => {
            assert!(
                !problem.contains(['\n', '\r']) && !problem.is_empty(),
                "a message of more than one line: {problem:?}"
            );
            Err(problem)
        }
    }
}
