//! Reading images: PNG or JPEG (by content, not by name) into 8-bit RGB.
//!
//! [`decode_image`] is the whole decoding path from bytes, so that the fuzz
//! target `fuzz_targets/image.rs` exercises exactly what `emkit segment` runs.

use std::fs;
use std::io::Cursor;
use std::path::Path;

use anyhow::Result;
use image::{ImageError, ImageReader, RgbImage};

use crate::common::{display_name, input_error};

/// Reads and decodes the image at `path`; every problem is an input error
/// (exit 2) that names the file.
pub fn read_image(path: &Path) -> Result<RgbImage> {
    let name = display_name(path);
    let bytes = fs::read(path).map_err(|e| {
        if e.kind() == std::io::ErrorKind::NotFound {
            input_error(format!("{name}: no such file; check the path"))
        } else {
            input_error(format!("{name}: cannot read: {e}"))
        }
    })?;
    decode_image(&bytes).map_err(|problem| input_error(format!("{name}: {problem}")))
}

/// Decodes PNG or JPEG bytes into 8-bit RGB (alpha dropped); the error is one
/// sentence saying what is wrong and what to do.
pub fn decode_image(bytes: &[u8]) -> std::result::Result<RgbImage, String> {
    let reader = ImageReader::new(Cursor::new(bytes))
        .with_guessed_format()
        .map_err(|e| format!("cannot read: {e}"))?;
    let image = reader.decode().map_err(|e| match e {
        ImageError::Unsupported(e) => {
            format!("not a PNG or JPEG image ({e}); convert it to PNG first")
        }
        ImageError::Limits(e) => format!("the image is too large to decode ({e})"),
        e => {
            format!("cannot decode the image ({e}); the file is corrupt, truncated or not an image")
        }
    })?;
    Ok(image.to_rgb8())
}
