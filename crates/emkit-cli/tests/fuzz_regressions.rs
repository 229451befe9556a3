//! Replays every input under `fuzz/regressions/image/` (inputs that once
//! crashed, hung or exhausted memory in a fuzz run) and `fuzz/seeds/image/`
//! through the very function the `image` fuzz target runs
//! (`fuzz/src/image.rs`, included here), on the stable toolchain: each must
//! decode or give a one-line message, never panic.
//!
//! `cargo test -p emkit-cli --test fuzz_regressions -- --ignored` rewrites the
//! image seeds from crops of `data/chelsea.png`.

#[path = "../../../fuzz/src/image.rs"]
mod image_check;

use std::fs;
use std::io::Cursor;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};

fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz")
}

#[test]
fn image_inputs_replay() {
    let mut files = Vec::new();
    for kind in ["regressions", "seeds"] {
        if let Ok(entries) = fs::read_dir(fuzz_dir().join(kind).join("image")) {
            files.extend(entries.map(|e| e.unwrap().path()).filter(|p| p.is_file()));
        }
    }
    files.sort();
    let (mut decoded, mut failed) = (0, Vec::new());
    for path in &files {
        let bytes = fs::read(path).unwrap();
        match catch_unwind(AssertUnwindSafe(|| image_check::image(&bytes))) {
            Ok(Ok(())) => decoded += 1,
            Ok(Err(_)) => {}
            Err(_) => failed.push(path.display().to_string()),
        }
    }
    assert!(failed.is_empty(), "image: panicked on {failed:?}");
    assert!(
        !files.is_empty() && decoded > 0,
        "{} inputs, {decoded} decoded",
        files.len()
    );
}

/// Writes small PNG and JPEG seeds: crops of chelsea in RGB, grey and RGBA.
#[test]
#[ignore = "rewrites fuzz/seeds; run by hand"]
fn write_image_seeds() {
    use image::codecs::jpeg::JpegEncoder;
    use image::{DynamicImage, ImageFormat};

    let photo =
        image::open(Path::new(env!("CARGO_MANIFEST_DIR")).join("../../data/chelsea.png")).unwrap();
    let crop = photo.crop_imm(200, 100, 16, 12);
    let dir = fuzz_dir().join("seeds/image");
    fs::create_dir_all(&dir).unwrap();
    let png = |img: &DynamicImage, name: &str| {
        let mut out = Vec::new();
        img.write_to(&mut Cursor::new(&mut out), ImageFormat::Png)
            .unwrap();
        fs::write(dir.join(name), out).unwrap();
    };
    png(&crop, "rgb.png");
    png(&DynamicImage::ImageLuma8(crop.to_luma8()), "grey.png");
    png(&DynamicImage::ImageRgba8(crop.to_rgba8()), "rgba.png");
    png(&DynamicImage::ImageRgb16(crop.to_rgb16()), "rgb16.png");
    let jpeg = |img: &DynamicImage, quality: u8, name: &str| {
        let mut out = Vec::new();
        JpegEncoder::new_with_quality(&mut out, quality)
            .encode_image(img)
            .unwrap();
        fs::write(dir.join(name), out).unwrap();
    };
    jpeg(&DynamicImage::ImageRgb8(crop.to_rgb8()), 90, "rgb.jpg");
    jpeg(&DynamicImage::ImageRgb8(crop.to_rgb8()), 30, "rgb_q30.jpg");
    jpeg(&DynamicImage::ImageLuma8(crop.to_luma8()), 80, "grey.jpg");
}
