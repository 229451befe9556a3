//! Reading images: PNG or JPEG (by content, not by name) into 8-bit RGB.
//!
//! [`decode_image`] is the whole decoding path from bytes, so that the fuzz
//! target `fuzz/fuzz_targets/image.rs` exercises exactly what `emkit segment`
//! runs.
//!
//! A damaged file is an error, never a partly grey picture: `image` runs its
//! JPEG decoder (zune-jpeg) in its lenient mode, which fills whatever a
//! truncated or corrupt scan leaves out with grey and says nothing, so JPEG is
//! decoded here with zune-jpeg's strict mode; a PNG must end with its IEND
//! chunk. Input that is not PNG or JPEG is named as what it looks like.

use std::fs;
use std::io::Cursor;
use std::path::Path;

use anyhow::Result;
use image::{ImageError, ImageFormat, ImageReader, RgbImage};
use zune_jpeg::zune_core::bytestream::ZCursor;
use zune_jpeg::zune_core::colorspace::ColorSpace;
use zune_jpeg::zune_core::options::DecoderOptions;

use crate::common::{display_name, input_error};

/// The most bytes of decoded pixels allowed, as `image`'s default limit: a
/// header can claim 65535 × 65535 pixels in a few bytes.
const MAX_DECODED_BYTES: u64 = 512 * 1024 * 1024;

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
///
/// Any decoder error, and data that ends before the image does, is an error.
pub fn decode_image(bytes: &[u8]) -> std::result::Result<RgbImage, String> {
    if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
        decode_png(bytes)
    } else if bytes.starts_with(b"\xff\xd8\xff") {
        decode_jpeg(bytes)
    } else {
        Err(not_an_image(bytes))
    }
}

fn decode_png(bytes: &[u8]) -> std::result::Result<RgbImage, String> {
    // The pixels can all be there with the end of the file missing; that is
    // still a truncated file, and it says so before a long decode.
    png_chunks_end(bytes)?;
    let reader = ImageReader::with_format(Cursor::new(bytes), ImageFormat::Png);
    let image = reader.decode().map_err(|e| match e {
        ImageError::Unsupported(e) => format!(
            "cannot decode this PNG image ({}); convert it to 8-bit RGB PNG first",
            one_line(&e)
        ),
        ImageError::Limits(e) => format!(
            "the image is too large to decode ({}); scale it down below about 100 million pixels",
            one_line(&e)
        ),
        e => format!(
            "cannot decode the PNG image ({}); the file is corrupt or truncated: export it again",
            one_line(&e)
        ),
    })?;
    Ok(image.to_rgb8())
}

/// Walks the PNG chunks up to IEND; an error when the data ends first.
fn png_chunks_end(bytes: &[u8]) -> std::result::Result<(), String> {
    let truncated = |at: usize| {
        format!(
            "cannot decode the PNG image: the file ends at byte {} inside its data, before the \
             IEND chunk that closes a PNG, so it is truncated; copy or export it again",
            at.min(bytes.len())
        )
    };
    let mut at = 8;
    loop {
        let Some(head) = bytes.get(at..at + 8) else {
            return Err(truncated(at));
        };
        let len = u32::from_be_bytes([head[0], head[1], head[2], head[3]]) as usize;
        // Length, type, data, CRC.
        let end = at.saturating_add(12).saturating_add(len);
        if end > bytes.len() {
            return Err(truncated(bytes.len()));
        }
        if &head[4..8] == b"IEND" {
            return Ok(());
        }
        at = end;
    }
}

fn decode_jpeg(bytes: &[u8]) -> std::result::Result<RgbImage, String> {
    let corrupt = |e: &dyn std::fmt::Display| {
        format!(
            "cannot decode the JPEG image ({}); the file is corrupt or truncated: export it again",
            one_line(e)
        )
    };
    let options = DecoderOptions::default()
        .set_strict_mode(true)
        .set_max_width(usize::from(u16::MAX))
        .set_max_height(usize::from(u16::MAX))
        .jpeg_set_out_colorspace(ColorSpace::RGB);
    let mut decoder = zune_jpeg::JpegDecoder::new_with_options(ZCursor::new(bytes), options);
    decoder.decode_headers().map_err(|e| corrupt(&e))?;
    let (width, height) = decoder
        .dimensions()
        .ok_or_else(|| corrupt(&"no frame header"))?;
    let decoded = width as u64 * height as u64 * 3;
    if decoded > MAX_DECODED_BYTES {
        return Err(format!(
            "the image is too large to decode ({width} x {height} pixels); scale it down below \
             about 100 million pixels"
        ));
    }
    // Past the end of its scan data the decoder fills every block it did not
    // get with grey, for as many pixels as the header claims; a file far
    // smaller than its pixels can be coded in is cut or damaged, and decoding
    // it would only spend time on grey.
    if let Some(needed) = min_coded_bytes(bytes) {
        if (bytes.len() as u64) < needed {
            return Err(format!(
                "cannot decode the JPEG image: {} bytes cannot hold the {width} x {height} \
                 pixels its header claims (at least {needed} are needed), so the file is \
                 truncated or damaged; export it again",
                bytes.len()
            ));
        }
    }
    let pixels = decoder.decode().map_err(|e| corrupt(&e))?;
    // Every pixel can be there with the end-of-image marker cut off; that is
    // still a truncated file. The last scan (SOS) must be followed by EOI:
    // neither marker can occur inside entropy-coded data.
    let last = |marker: [u8; 2]| bytes.windows(2).rposition(|w| w == marker);
    if last([0xff, 0xd9]) < last([0xff, 0xda]) {
        return Err(
            "cannot decode the JPEG image: the file ends before its end-of-image marker, so it \
             is truncated; copy or export it again"
                .into(),
        );
    }
    let (w, h) = (width as u32, height as u32);
    RgbImage::from_raw(w, h, pixels)
        .ok_or_else(|| corrupt(&"the decoder gave fewer pixels than the image has"))
}

/// The fewest bytes a Huffman-coded JPEG needs for the frame its SOF header
/// declares: every 8 × 8 block of every component is coded with at least one
/// bit (a Huffman code is never shorter, and the first DC scan of a
/// progressive file codes every block too). `None` when no frame header is
/// found before the first scan (the decoder judges such a file).
fn min_coded_bytes(bytes: &[u8]) -> Option<u64> {
    let mut at = 2;
    loop {
        if *bytes.get(at)? != 0xff {
            return None;
        }
        let marker = *bytes.get(at + 1)?;
        match marker {
            // Fill bytes, and markers without a length.
            0xff => at += 1,
            0x01 | 0xd0..=0xd8 => at += 2,
            0xda => return None,
            // SOF0-3, 5-7, 9-11, 13-15 (0xc4 DHT, 0xc8 JPG, 0xcc DAC are not frames).
            0xc0..=0xcf if !matches!(marker, 0xc4 | 0xc8 | 0xcc) => {
                let sof = bytes.get(at + 4..)?;
                let height = u64::from(u16::from_be_bytes([*sof.get(1)?, *sof.get(2)?]));
                let width = u64::from(u16::from_be_bytes([*sof.get(3)?, *sof.get(4)?]));
                let n = usize::from(*sof.get(5)?);
                let sampling: Vec<(u64, u64)> = (0..n)
                    .map(|c| {
                        sof.get(7 + 3 * c)
                            .map(|&hv| (u64::from(hv >> 4), u64::from(hv & 15)))
                    })
                    .collect::<Option<_>>()?;
                let h_max = sampling.iter().map(|s| s.0).max()?;
                let v_max = sampling.iter().map(|s| s.1).max()?;
                if h_max == 0 || v_max == 0 {
                    return None;
                }
                let blocks: u64 = sampling
                    .iter()
                    .map(|&(h, v)| {
                        (width * h).div_ceil(h_max).div_ceil(8)
                            * (height * v).div_ceil(v_max).div_ceil(8)
                    })
                    .sum();
                return Some(blocks.div_ceil(8));
            }
            _ => {
                let len = u16::from_be_bytes([*bytes.get(at + 2)?, *bytes.get(at + 3)?]);
                at += 2 + usize::from(len);
            }
        }
    }
}

/// A decoder's message on one line, its runs of white space made single spaces.
fn one_line(e: &dyn std::fmt::Display) -> String {
    e.to_string()
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

/// What bytes that are not PNG or JPEG look like, and what to do.
fn not_an_image(bytes: &[u8]) -> String {
    let other = |what: &str, fix: &str| format!("this is {what}, not a PNG or JPEG image; {fix}");
    let convert = "convert it to PNG first";
    let riff_kind = bytes.get(8..12);
    let ftyp = bytes.get(4..8) == Some(b"ftyp");
    if bytes.is_empty() {
        "the file is empty; give a PNG or JPEG image (not a PNG or JPEG image as it is)".into()
    } else if bytes.starts_with(b"GIF87a") || bytes.starts_with(b"GIF89a") {
        other("a GIF image", convert)
    } else if bytes.starts_with(b"BM") && bytes.len() >= 14 {
        other("a BMP image", convert)
    } else if bytes.starts_with(b"II*\0") || bytes.starts_with(b"MM\0*") {
        other("a TIFF image", convert)
    } else if bytes.starts_with(b"RIFF") && riff_kind == Some(b"WEBP") {
        other("a WebP image", convert)
    } else if ftyp
        && matches!(
            bytes.get(8..12),
            Some(b"heic" | b"heix" | b"mif1" | b"msf1")
        )
    {
        other("a HEIF (HEIC) image", convert)
    } else if ftyp && matches!(bytes.get(8..12), Some(b"avif" | b"avis")) {
        other("an AVIF image", convert)
    } else if bytes.starts_with(b"\0\0\0\x0cjP  ") || bytes.starts_with(b"\xff\x4f\xff\x51") {
        other("a JPEG 2000 image", convert)
    } else if bytes.starts_with(b"\0\0\x01\0") {
        other("a Windows icon", convert)
    } else if bytes.starts_with(b"%PDF") {
        other("a PDF document", "export the picture from it as PNG")
    } else if bytes.starts_with(b"\x1f\x8b") {
        other("a gzip-compressed file", "decompress it first (gunzip)")
    } else if bytes.starts_with(b"PK\x03\x04") {
        other("a zip archive", "extract the image from it first")
    } else if bytes.starts_with(b"\x93NUMPY") {
        other(
            "a .npy array",
            "emkit segment reads pictures; other commands read arrays",
        )
    } else if let Some((text, start)) = text_start(bytes) {
        if text.to_ascii_lowercase().contains("<svg") {
            other("an SVG drawing (text)", "render it to PNG first")
        } else {
            other(
                &format!("text (it starts {start:?})"),
                "give a PNG or JPEG picture",
            )
        }
    } else {
        let head: Vec<String> = bytes.iter().take(4).map(|b| format!("{b:02x}")).collect();
        other(
            &format!(
                "data of an unknown kind (it starts with bytes {})",
                head.join(" ")
            ),
            convert,
        )
    }
}

/// The first KiB of `bytes` and its first line, shortened, when they read as
/// text: UTF-8 without control characters other than white space.
fn text_start(bytes: &[u8]) -> Option<(&str, String)> {
    let head = &bytes[..bytes.len().min(1024)];
    let text = match std::str::from_utf8(head) {
        Ok(t) => t,
        // A multi-byte character cut at the end of the window.
        Err(e) if e.error_len().is_none() => std::str::from_utf8(&head[..e.valid_up_to()]).ok()?,
        Err(_) => return None,
    };
    let text = text.trim_start_matches('\u{feff}');
    if text.chars().any(|c| c.is_control() && !c.is_whitespace()) {
        return None;
    }
    let first_line = text.trim_start().lines().next().unwrap_or("");
    let short: String = first_line.chars().take(30).collect();
    let start = if short.len() < first_line.len() {
        format!("{short}...")
    } else {
        short
    };
    Some((text, start))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chelsea_png() -> Vec<u8> {
        fs::read(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../data/chelsea.png"
        ))
        .unwrap()
    }

    fn chelsea_jpeg() -> Vec<u8> {
        let img = image::load_from_memory(&chelsea_png()).unwrap().to_rgb8();
        let mut out = Vec::new();
        image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, 90)
            .encode_image(&img)
            .unwrap();
        out
    }

    #[test]
    fn whole_png_and_jpeg_decode() {
        let png = decode_image(&chelsea_png()).unwrap();
        let jpeg = decode_image(&chelsea_jpeg()).unwrap();
        assert_eq!(png.dimensions(), jpeg.dimensions());
        // A lossy copy of the same picture: close on average.
        let diff: f64 = png
            .as_raw()
            .iter()
            .zip(jpeg.as_raw())
            .map(|(&a, &b)| (f64::from(a) - f64::from(b)).abs())
            .sum::<f64>()
            / png.as_raw().len() as f64;
        assert!(diff < 8.0, "mean difference {diff}");
    }

    #[test]
    fn grey_jpeg_and_png_with_alpha_become_rgb() {
        let grey = image::load_from_memory(&chelsea_png()).unwrap().to_luma8();
        let mut jpeg = Vec::new();
        image::codecs::jpeg::JpegEncoder::new(&mut jpeg)
            .encode_image(&grey)
            .unwrap();
        let rgb = decode_image(&jpeg).unwrap();
        assert_eq!(rgb.dimensions(), grey.dimensions());
        let p = rgb.get_pixel(200, 100);
        assert!(p[0] == p[1] && p[1] == p[2], "{p:?}");

        let rgba = image::RgbaImage::from_pixel(3, 2, image::Rgba([10, 20, 30, 0]));
        let mut png = Vec::new();
        rgba.write_to(&mut Cursor::new(&mut png), ImageFormat::Png)
            .unwrap();
        // Bytes after IEND are ignored, as every viewer does.
        png.extend(b"trailing");
        let rgb = decode_image(&png).unwrap();
        assert_eq!(rgb.get_pixel(2, 1).0, [10, 20, 30]);
    }

    #[test]
    fn a_truncated_jpeg_is_an_error_at_every_cut() {
        let jpeg = chelsea_jpeg();
        let n = jpeg.len();
        let mut cuts: Vec<usize> = (1..40).map(|i| i * n / 40).collect();
        cuts.extend([6895.min(n - 1), n - 1, n - 2, 3, 100, 600]);
        for cut in cuts {
            let problem = decode_image(&jpeg[..cut]).unwrap_err();
            assert!(problem.contains("JPEG"), "{cut}: {problem}");
            assert!(problem.contains("truncated"), "{cut}: {problem}");
            assert!(!problem.contains('\n'), "{problem}");
        }
    }

    #[test]
    fn a_jpeg_far_smaller_than_its_pixels_is_refused_before_decoding() {
        // The header of a real file claiming 16640 x 4108 pixels, the scan cut
        // to a few bytes and closed by EOI (a fuzz input that took the
        // decoder 47 s to fill with grey).
        let mut jpeg = chelsea_jpeg();
        let sof = jpeg.windows(2).position(|w| w == [0xff, 0xc0]).unwrap();
        jpeg[sof + 5..sof + 9].copy_from_slice(&[0x10, 0x0c, 0x41, 0x00]);
        let sos = jpeg.windows(2).rposition(|w| w == [0xff, 0xda]).unwrap();
        jpeg.truncate(sos + 40);
        jpeg.extend([0xff, 0xd9]);
        let start = std::time::Instant::now();
        let problem = decode_image(&jpeg).unwrap_err();
        assert!(problem.contains("16640 x 4108"), "{problem}");
        assert!(problem.contains("truncated"), "{problem}");
        assert!(start.elapsed().as_secs() < 5);
        // The real file needs far fewer bytes than it has.
        let real = chelsea_jpeg();
        assert!(min_coded_bytes(&real).unwrap() * 4 < real.len() as u64);
        assert!(min_coded_bytes(&real).unwrap() > 0);
    }

    #[test]
    fn a_corrupt_jpeg_scan_is_an_error() {
        let mut jpeg = chelsea_jpeg();
        let n = jpeg.len();
        // A marker where entropy-coded data belongs.
        jpeg[n / 2] = 0xff;
        jpeg[n / 2 + 1] = 0xc4;
        assert!(decode_image(&jpeg).is_err());
    }

    #[test]
    fn a_truncated_png_is_an_error_at_every_cut() {
        let png = chelsea_png();
        let n = png.len();
        let mut cuts: Vec<usize> = (1..40).map(|i| i * n / 40).collect();
        // Right before IEND: every pixel is there, the file still is cut.
        cuts.extend([n - 12, n - 1, 8, 9, 33]);
        for cut in cuts {
            let problem = decode_image(&png[..cut]).unwrap_err();
            assert!(
                problem.contains("cannot decode the PNG"),
                "{cut}: {problem}"
            );
            assert!(problem.contains("truncated"), "{cut}: {problem}");
            assert!(!problem.contains('\n'), "{problem}");
        }
    }

    #[test]
    fn other_content_is_named() {
        let cases: Vec<(&[u8], &str)> = vec![
            (b"", "empty"),
            (b"GIF89a\x01\x00\x01\x00", "a GIF image"),
            (
                b"BM\x36\x00\x00\x00\x00\x00\x00\x00\x36\x00\x00\x00",
                "a BMP image",
            ),
            (b"II*\0\x08\0\0\0", "a TIFF image"),
            (b"RIFF\x24\0\0\0WEBPVP8 ", "a WebP image"),
            (b"\0\0\0\x18ftypheic\0\0\0\0", "HEIF"),
            (b"\0\0\0\x1cftypavif\0\0\0\0", "AVIF"),
            (b"%PDF-1.4\n", "a PDF document"),
            (b"\x1f\x8b\x08\0", "gzip-compressed"),
            (b"PK\x03\x04", "a zip archive"),
            (b"\x93NUMPY\x01\x00", ".npy array"),
            (b"<?xml version=\"1.0\"?>\n<svg xmlns=", "an SVG drawing"),
            (b"x,y\n1,2\n", "text (it starts \"x,y\")"),
            (
                b"\x00\x01\x02\x03\x04",
                "unknown kind (it starts with bytes 00 01 02 03)",
            ),
        ];
        for (bytes, says) in cases {
            let problem = decode_image(bytes).unwrap_err();
            assert!(problem.contains(says), "{says}: {problem}");
            assert!(problem.contains("not a PNG or JPEG"), "{problem}");
            assert!(!problem.contains('\n'), "{problem}");
        }
    }

    #[test]
    fn a_huge_claimed_size_is_refused_before_decoding() {
        // A JPEG header claiming 65535 x 65535 pixels, with no data.
        let mut jpeg = chelsea_jpeg();
        let sof = jpeg.windows(2).position(|w| w == [0xff, 0xc0]).unwrap();
        jpeg[sof + 5..sof + 9].copy_from_slice(&[0xff, 0xff, 0xff, 0xff]);
        let problem = decode_image(&jpeg).unwrap_err();
        assert!(problem.contains("too large"), "{problem}");

        // A PNG whose header claims 60000 x 60000 RGBA pixels.
        let mut png = chelsea_png();
        png[16..24].copy_from_slice(&[0, 0, 0xea, 0x60, 0, 0, 0xea, 0x60]);
        let problem = decode_image(&png).unwrap_err();
        assert!(!problem.is_empty());
    }
}
