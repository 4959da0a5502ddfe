//! Reseller logo and favicon uploads: sniff, limit, decode with limits, re-encode.
//!
//! Logos and favicons are uploaded by resellers but then served from *our* origin to every end user of
//! the white-labelled workspace. An uploaded file is therefore untrusted content that we would otherwise
//! be vouching for, and the pipeline here is built so that nothing the uploader controls survives except
//! the pixels:
//!
//! 1. **Limit the input size** (2 MiB) before looking at it, so no later step runs on unbounded input.
//! 2. **Sniff the format from magic bytes only.** The file name, extension and client-supplied
//!    `Content-Type` are ignored: they are exactly what an attacker would lie about. Only PNG, JPEG and
//!    WebP are accepted. SVG is refused outright (it is a document that can carry script and external
//!    references, not a picture), with its own error so the reseller knows what to do.
//! 3. **Decode with hard limits** (4096×4096 pixels, 64 MiB of decoder allocations) and with the sniffed
//!    format passed explicitly, so a decompression bomb (tiny file, gigantic declared dimensions) is
//!    rejected from its header instead of exhausting memory, and the decoder never guesses.
//! 4. **Re-encode from pixels** to a PNG we write ourselves. Everything that is not pixel data (text
//!    chunks, ICC profiles, EXIF including GPS, XMP, trailing polyglot payloads such as an HTML or
//!    `<script>` tail appended after the JPEG end marker) is dropped simply because it never reaches
//!    the encoder. The EXIF orientation is applied to the pixels first, so phone photos do not come out
//!    sideways once the EXIF is gone.
//!
//! The output is deterministic (same upload → byte-identical PNG → same SHA-256), which lets callers use
//! [`ProcessedImage::sha256_hex`] as a content address / cache-busting `ETag`.
//!
//! Decoding and resampling are CPU-bound (tens of milliseconds for a large upload); async callers
//! should run [`process_upload`] on a blocking thread (`tokio::task::spawn_blocking`).

use std::io::Cursor;

use ::image::codecs::png::{CompressionType, FilterType as PngFilter, PngEncoder};
use ::image::imageops::{self, FilterType};
use ::image::metadata::Orientation;
use ::image::{
    DynamicImage, ExtendedColorType, ImageDecoder, ImageEncoder, ImageFormat, ImageReader, Limits, RgbaImage,
};
use sha2::{Digest, Sha256};

/// Largest accepted upload. A logo has no business being bigger, and it bounds all later work.
pub const MAX_UPLOAD_BYTES: usize = 2 * 1024 * 1024;
/// Largest decoded width or height. Checked by the decoders against the header, before pixel data.
pub const MAX_DECODE_DIMENSION: u32 = 4096;
/// Cap on decoder allocations. 4096×4096 RGBA8 is exactly 64 MiB, so every allowed 8-bit image fits,
/// while a 16-bit-per-channel image at the maximum dimensions is refused rather than using 128 MiB.
pub const MAX_DECODE_ALLOC: u64 = 64 * 1024 * 1024;

/// Logos are shown in the header; this box is generous for any header layout (and 2× for HiDPI).
const LOGO_MAX_WIDTH: u32 = 512;
const LOGO_MAX_HEIGHT: u32 = 256;
/// Favicons are always exactly this square; browsers scale down from it for tabs and bookmarks.
const FAVICON_SIZE: u32 = 64;

/// What the upload is for; decides the output geometry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AssetKind {
    /// Fits within 512×256, keeping the aspect ratio. Downscaled only: a small logo is left at its size,
    /// because upscaling would only add blur, and CSS can still scale it up if a tenant insists.
    Logo,
    /// Exactly 64×64. The image is scaled (up or down) to fit inside the square keeping its aspect ratio
    /// and centred on a transparent canvas. We pad rather than centre-crop because a wide wordmark or an
    /// icon with text would lose its edges when cropped, while padding never hides anything the reseller
    /// drew. Unlike logos, small favicons *are* upscaled: a 16×16 icon must still fill the 64×64 box.
    Favicon,
}

impl AssetKind {
    /// The bounding box of the output, as (width, height).
    #[must_use]
    pub const fn bounds(self) -> (u32, u32) {
        match self {
            Self::Logo => (LOGO_MAX_WIDTH, LOGO_MAX_HEIGHT),
            Self::Favicon => (FAVICON_SIZE, FAVICON_SIZE),
        }
    }
}

/// An input format we accept, as recognised by [`sniff`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Format {
    Png,
    Jpeg,
    WebP,
}

impl Format {
    const fn image_format(self) -> ImageFormat {
        match self {
            Self::Png => ImageFormat::Png,
            Self::Jpeg => ImageFormat::Jpeg,
            Self::WebP => ImageFormat::WebP,
        }
    }
}

/// The result of [`process_upload`]: a PNG produced by our encoder from decoded pixels only.
#[derive(Clone, PartialEq, Eq)]
pub struct ProcessedImage {
    /// RGBA8 PNG containing only `IHDR`, `IDAT` and `IEND`: no metadata survives re-encoding.
    pub png: Vec<u8>,
    pub width: u32,
    pub height: u32,
    /// Lower-case hex SHA-256 of `png`; stable for the same input, usable as a content address / ETag.
    pub sha256_hex: String,
}

// Hand-written so that logging a `ProcessedImage` never dumps kilobytes of PNG bytes into the logs.
impl std::fmt::Debug for ProcessedImage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProcessedImage")
            .field("png_len", &self.png.len())
            .field("width", &self.width)
            .field("height", &self.height)
            .field("sha256_hex", &self.sha256_hex)
            .finish()
    }
}

/// Why an upload was refused. The messages are written for the reseller who uploaded the file and are
/// safe to show verbatim: they never echo any of the uploaded bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, thiserror::Error)]
pub enum ImageError {
    /// Larger than [`MAX_UPLOAD_BYTES`].
    #[error("The image file is larger than 2 MiB; please upload a smaller file")]
    TooLarge,
    #[error("The uploaded file is empty")]
    Empty,
    /// Not PNG, JPEG or WebP by its magic bytes (whatever its name or declared type says).
    #[error("This file type is not supported; upload a PNG, JPEG or WebP image")]
    Unsupported,
    #[error("SVG logos are not accepted; upload a PNG, JPEG or WebP")]
    SvgRefused,
    /// Declared dimensions or memory needs exceed [`MAX_DECODE_DIMENSION`] / [`MAX_DECODE_ALLOC`].
    #[error("The image is too large; its width and height must each be at most 4096 pixels")]
    TooManyPixels,
    /// The format was recognised but the data could not be decoded (truncated, damaged, or malformed).
    #[error("The image file is damaged or could not be read; please re-export it and upload it again")]
    Corrupt,
}

/// Identify an accepted image format from its magic bytes alone.
///
/// Returns `None` for everything else, including SVG, GIF, BMP, HTML and a `RIFF` container that is not
/// WebP (e.g. WAV or AVI).
#[must_use]
pub fn sniff(bytes: &[u8]) -> Option<Format> {
    if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
        Some(Format::Png)
    } else if bytes.starts_with(&[0xFF, 0xD8, 0xFF]) {
        Some(Format::Jpeg)
    } else if bytes.starts_with(b"RIFF") && bytes.get(8..12) == Some(b"WEBP".as_slice()) {
        Some(Format::WebP)
    } else {
        None
    }
}

/// Validate, decode, resize and re-encode an uploaded logo or favicon.
///
/// # Errors
///
/// See [`ImageError`]; the checks run in order of cost: size, emptiness, magic bytes, decoding.
pub fn process_upload(bytes: &[u8], kind: AssetKind) -> Result<ProcessedImage, ImageError> {
    if bytes.len() > MAX_UPLOAD_BYTES {
        return Err(ImageError::TooLarge);
    }
    if bytes.is_empty() {
        return Err(ImageError::Empty);
    }
    let Some(format) = sniff(bytes) else {
        // Only distinguishes the error message: SVG is refused either way, but "upload a PNG instead"
        // is far more useful to a reseller than "unsupported file type" for the most common mistake.
        return Err(if looks_like_svg(bytes) { ImageError::SvgRefused } else { ImageError::Unsupported });
    };

    let rgba = decode(bytes, format)?.into_rgba8();
    let mut out = match kind {
        AssetKind::Logo => {
            let (w, h) = fit_within(rgba.width(), rgba.height(), LOGO_MAX_WIDTH, LOGO_MAX_HEIGHT, false);
            resize_rgba(rgba, w, h)
        }
        AssetKind::Favicon => {
            let (w, h) = fit_within(rgba.width(), rgba.height(), FAVICON_SIZE, FAVICON_SIZE, true);
            let scaled = resize_rgba(rgba, w, h);
            // `RgbaImage::new` is zero-filled, i.e. fully transparent.
            let mut canvas = RgbaImage::new(FAVICON_SIZE, FAVICON_SIZE);
            // `replace`, not `overlay`: copy pixels exactly rather than alpha-blending onto the canvas.
            imageops::replace(
                &mut canvas,
                &scaled,
                i64::from((FAVICON_SIZE - w) / 2),
                i64::from((FAVICON_SIZE - h) / 2),
            );
            canvas
        }
    };
    clear_invisible_colour(&mut out);

    let png = encode_png(&out)?;
    let sha256_hex = format!("{:x}", Sha256::digest(&png));
    Ok(ProcessedImage { width: out.width(), height: out.height(), png, sha256_hex })
}

/// Recognise SVG (or any XML, which is how SVG is usually exported) by its leading text, so it gets its
/// own error. Tolerates a UTF-8 BOM, leading whitespace, a doctype, a leading comment (as written by
/// design tools) and any letter case. Only the first KiB is looked at.
fn looks_like_svg(bytes: &[u8]) -> bool {
    let head = bytes.get(..1024).unwrap_or(bytes);
    let head = head.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(head);
    let start = head.iter().position(|b| !b.is_ascii_whitespace()).unwrap_or(head.len());
    let head = head.get(start..).unwrap_or_default();
    let starts = |prefix: &[u8]| head.get(..prefix.len()).is_some_and(|h| h.eq_ignore_ascii_case(prefix));
    starts(b"<svg")
        || starts(b"<?xml")
        || starts(b"<!doctype svg")
        || (starts(b"<!--") && head.windows(4).any(|w| w.eq_ignore_ascii_case(b"<svg")))
}

fn decode_limits() -> Limits {
    // `Limits` is `#[non_exhaustive]`, so start from the defaults and tighten every field.
    let mut limits = Limits::default();
    limits.max_image_width = Some(MAX_DECODE_DIMENSION);
    limits.max_image_height = Some(MAX_DECODE_DIMENSION);
    limits.max_alloc = Some(MAX_DECODE_ALLOC);
    limits
}

fn decode(bytes: &[u8], format: Format) -> Result<DynamicImage, ImageError> {
    // The format is the one we sniffed, passed explicitly: the reader must never fall back to guessing.
    let mut reader = ImageReader::with_format(Cursor::new(bytes), format.image_format());
    reader.limits(decode_limits());
    // The decoder reads only the header here and checks the dimension limits against it, which is what
    // makes a decompression bomb fail before any pixel buffer is allocated.
    let mut decoder = reader.into_decoder().map_err(map_decode_error)?;
    // `ImageReader::decode` would also reserve the output buffer against `max_alloc`; going through
    // `into_decoder` (to read the orientation) skips that, so do the same check by hand.
    if decoder.total_bytes() > MAX_DECODE_ALLOC {
        return Err(ImageError::TooManyPixels);
    }
    // Orientation is advisory metadata: unreadable EXIF must not reject an otherwise valid picture, and
    // real corruption is still caught by the pixel decode below.
    let orientation = decoder.orientation().unwrap_or(Orientation::NoTransforms);
    let mut image = DynamicImage::from_decoder(decoder).map_err(map_decode_error)?;
    // Apply it to the pixels now, because the EXIF that carried it is about to be discarded.
    image.apply_orientation(orientation);
    Ok(image)
}

fn map_decode_error(err: ::image::ImageError) -> ImageError {
    match err {
        ::image::ImageError::Limits(_) => ImageError::TooManyPixels,
        // Everything else (malformed data, truncation surfacing as an I/O error, a feature of the format
        // the decoder does not implement) means "we cannot read this file". The detail goes to the log,
        // not to the reseller; decoder messages describe the structure, they do not quote the input.
        other => {
            tracing::debug!(error = %other, "rejected image upload that failed to decode");
            ImageError::Corrupt
        }
    }
}

/// Largest size with the aspect ratio of `w`×`h` that fits in `max_w`×`max_h`; never 0 in either axis.
/// With `upscale == false` an image already inside the box keeps its size.
fn fit_within(w: u32, h: u32, max_w: u32, max_h: u32, upscale: bool) -> (u32, u32) {
    if w == 0 || h == 0 || (!upscale && w <= max_w && h <= max_h) {
        return (w, h);
    }
    let (w64, h64, max_w64, max_h64) = (u64::from(w), u64::from(h), u64::from(max_w), u64::from(max_h));
    // Integer arithmetic (no float rounding surprises): compare max_w/w with max_h/h by cross-multiplying.
    let (nw, nh) = if max_w64 * h64 <= max_h64 * w64 {
        (max_w64, (h64 * max_w64 + w64 / 2) / w64)
    } else {
        ((w64 * max_h64 + h64 / 2) / h64, max_h64)
    };
    let clamp = |v: u64, max: u32| u32::try_from(v).unwrap_or(max).clamp(1, max);
    (clamp(nw, max_w), clamp(nh, max_h))
}

/// Resample with Lanczos3, premultiplying alpha around the resize.
///
/// The resampler averages channels independently; on straight (non-premultiplied) alpha the colour of
/// invisible pixels (often black) then bleeds into the visible edge and logos on transparent
/// backgrounds get a dark halo. Premultiplying makes invisible pixels contribute nothing.
fn resize_rgba(image: RgbaImage, w: u32, h: u32) -> RgbaImage {
    if image.dimensions() == (w, h) {
        return image;
    }
    if image.pixels().all(|p| p.0[3] == u8::MAX) {
        return imageops::resize(&image, w, h, FilterType::Lanczos3);
    }
    let mut image = image;
    for p in image.pixels_mut() {
        let a = u16::from(p.0[3]);
        for c in &mut p.0[..3] {
            // Rounded c·a/255; the result is ≤ 255 so the narrowing cannot fail.
            *c = u8::try_from((u16::from(*c) * a + 127) / 255).unwrap_or(u8::MAX);
        }
    }
    let mut out = imageops::resize(&image, w, h, FilterType::Lanczos3);
    for p in out.pixels_mut() {
        let a = u32::from(p.0[3]);
        if a == 0 {
            continue; // cleared by `clear_invisible_colour`
        }
        for c in &mut p.0[..3] {
            // Lanczos overshoots, so a colour can exceed its alpha; saturate instead of wrapping.
            *c = u8::try_from((u32::from(*c) * 255 + a / 2) / a).unwrap_or(u8::MAX);
        }
    }
    out
}

/// Zero the colour of fully transparent pixels. They are invisible, so this changes nothing on screen,
/// but it stops the RGB of invisible pixels being used to smuggle data through our re-encoding, and it
/// compresses better.
fn clear_invisible_colour(image: &mut RgbaImage) {
    for p in image.pixels_mut() {
        if p.0[3] == 0 {
            p.0 = [0; 4];
        }
    }
}

fn encode_png(image: &RgbaImage) -> Result<Vec<u8>, ImageError> {
    let mut png = Vec::new();
    // Fixed settings (best compression, adaptive filter) keep the output byte-for-byte deterministic; the
    // images are at most 512×256, so the slower compression costs little and is paid once per upload.
    PngEncoder::new_with_quality(&mut png, CompressionType::Best, PngFilter::Adaptive)
        .write_image(image.as_raw(), image.width(), image.height(), ExtendedColorType::Rgba8)
        .map_err(|err| {
            // Encoding a well-formed in-memory RGBA8 buffer into a `Vec` cannot realistically fail;
            // if it ever does, the upload is still the only thing we can report on.
            tracing::error!(error = %err, "failed to encode processed image as PNG");
            ImageError::Corrupt
        })?;
    Ok(png)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use ::image::{Rgb, RgbImage, Rgba};

    // ---- helpers -------------------------------------------------------------------------------------

    /// A non-trivial RGBA pattern of 4×4 blocks: varied enough that encoders cannot collapse it into
    /// something degenerate, regular enough that even a 2000×1000 PNG stays well under the 2 MiB limit.
    fn pattern(w: u32, h: u32) -> RgbaImage {
        RgbaImage::from_fn(w, h, |x, y| {
            let (bx, by) = (x / 4, y / 4);
            Rgba([(bx * 37 % 256) as u8, (by * 53 % 256) as u8, ((bx ^ by) * 17 % 256) as u8, 255])
        })
    }

    fn encode(image: &DynamicImage, format: ImageFormat) -> Vec<u8> {
        let mut out = Cursor::new(Vec::new());
        image.write_to(&mut out, format).unwrap();
        out.into_inner()
    }

    fn png_bytes(w: u32, h: u32) -> Vec<u8> {
        encode(&DynamicImage::ImageRgba8(pattern(w, h)), ImageFormat::Png)
    }

    fn jpeg_bytes(w: u32, h: u32) -> Vec<u8> {
        encode(&DynamicImage::ImageRgb8(DynamicImage::ImageRgba8(pattern(w, h)).to_rgb8()), ImageFormat::Jpeg)
    }

    fn decode_output(processed: &ProcessedImage) -> RgbaImage {
        ::image::load_from_memory_with_format(&processed.png, ImageFormat::Png).unwrap().into_rgba8()
    }

    fn contains(haystack: &[u8], needle: &[u8]) -> bool {
        haystack.windows(needle.len()).any(|w| w == needle)
    }

    /// Bitwise CRC-32 (IEEE, as used by PNG). Slow, but only ever run on a few test chunks.
    fn crc32(data: &[u8]) -> u32 {
        let mut crc = 0xFFFF_FFFFu32;
        for &byte in data {
            crc ^= u32::from(byte);
            for _ in 0..8 {
                crc = if crc & 1 == 1 { (crc >> 1) ^ 0xEDB8_8320 } else { crc >> 1 };
            }
        }
        !crc
    }

    fn png_chunk(kind: &[u8; 4], data: &[u8]) -> Vec<u8> {
        let mut chunk = Vec::new();
        chunk.extend_from_slice(&u32::try_from(data.len()).unwrap().to_be_bytes());
        chunk.extend_from_slice(kind);
        chunk.extend_from_slice(data);
        let mut crc_input = kind.to_vec();
        crc_input.extend_from_slice(data);
        chunk.extend_from_slice(&crc32(&crc_input).to_be_bytes());
        chunk
    }

    /// Names of the chunks in a PNG, in order.
    fn png_chunk_names(png: &[u8]) -> Vec<String> {
        let mut names = Vec::new();
        let mut pos = 8;
        while pos + 8 <= png.len() {
            let len = u32::from_be_bytes(png[pos..pos + 4].try_into().unwrap()) as usize;
            names.push(String::from_utf8_lossy(&png[pos + 4..pos + 8]).into_owned());
            pos += 12 + len;
        }
        names
    }

    /// Minimal little-endian TIFF/EXIF block holding one tag: Orientation = `orientation`, followed by a
    /// marker string so tests can check that the EXIF does not survive.
    fn exif_with_orientation(orientation: u16) -> Vec<u8> {
        let mut exif = b"II\x2A\x00\x08\x00\x00\x00".to_vec(); // header, IFD0 at offset 8
        exif.extend_from_slice(&1u16.to_le_bytes()); // one entry
        exif.extend_from_slice(&0x0112u16.to_le_bytes()); // tag: Orientation
        exif.extend_from_slice(&3u16.to_le_bytes()); // type: SHORT
        exif.extend_from_slice(&1u32.to_le_bytes()); // count
        exif.extend_from_slice(&u32::from(orientation).to_le_bytes()); // value, left-justified
        exif.extend_from_slice(&0u32.to_le_bytes()); // no next IFD
        exif.extend_from_slice(b"EXIF-GPS-SECRET");
        exif
    }

    // ---- sniffing ------------------------------------------------------------------------------------

    #[test]
    fn sniff_recognises_accepted_formats_by_magic_bytes() {
        assert_eq!(sniff(&png_bytes(2, 2)), Some(Format::Png));
        assert_eq!(sniff(&jpeg_bytes(2, 2)), Some(Format::Jpeg));
        assert_eq!(sniff(b"RIFF\x10\x00\x00\x00WEBPVP8L"), Some(Format::WebP));
    }

    #[test]
    fn sniff_rejects_lookalikes_and_short_input() {
        assert_eq!(sniff(b""), None);
        assert_eq!(sniff(b"\x89PNG"), None); // truncated signature
        assert_eq!(sniff(b"\xFF\xD8"), None);
        assert_eq!(sniff(b"RIFF\x10\x00\x00\x00WAVEfmt "), None); // RIFF, but audio
        assert_eq!(sniff(b"RIFF\x10\x00\x00\x00WEB"), None);
        assert_eq!(sniff(b"GIF89a\x01\x00\x01\x00"), None);
        assert_eq!(sniff(b"<svg xmlns=\"http://www.w3.org/2000/svg\"/>"), None);
    }

    // ---- round trips ---------------------------------------------------------------------------------

    #[test]
    fn png_round_trip_keeps_small_logo_size() {
        let out = process_upload(&png_bytes(300, 100), AssetKind::Logo).unwrap();
        assert_eq!((out.width, out.height), (300, 100));
        assert!(out.png.starts_with(b"\x89PNG\r\n\x1a\n"));
        let decoded = decode_output(&out);
        assert_eq!(decoded.dimensions(), (300, 100));
        // Opaque and not resized: the pixels must survive exactly.
        assert_eq!(decoded, pattern(300, 100));
    }

    #[test]
    fn jpeg_round_trip() {
        let out = process_upload(&jpeg_bytes(120, 80), AssetKind::Logo).unwrap();
        assert_eq!((out.width, out.height), (120, 80));
        assert_eq!(decode_output(&out).dimensions(), (120, 80));
    }

    #[test]
    fn webp_round_trip() {
        // The crate only encodes lossless WebP (VP8L), which is all we need to produce an input.
        let webp = encode(&DynamicImage::ImageRgba8(pattern(40, 30)), ImageFormat::WebP);
        assert_eq!(sniff(&webp), Some(Format::WebP));
        let out = process_upload(&webp, AssetKind::Logo).unwrap();
        assert_eq!((out.width, out.height), (40, 30));
        assert_eq!(decode_output(&out), pattern(40, 30)); // lossless both ways
        let favicon = process_upload(&webp, AssetKind::Favicon).unwrap();
        assert_eq!((favicon.width, favicon.height), (64, 64));
    }

    #[test]
    fn output_png_has_only_critical_chunks() {
        let out = process_upload(&jpeg_bytes(50, 50), AssetKind::Logo).unwrap();
        let names = png_chunk_names(&out.png);
        assert_eq!(names.first().map(String::as_str), Some("IHDR"));
        assert_eq!(names.last().map(String::as_str), Some("IEND"));
        assert!(names.iter().all(|n| n == "IHDR" || n == "IDAT" || n == "IEND"), "{names:?}");
    }

    // ---- geometry ------------------------------------------------------------------------------------

    #[test]
    fn large_logo_is_downscaled_to_fit() {
        let out = process_upload(&png_bytes(2000, 1000), AssetKind::Logo).unwrap();
        assert_eq!((out.width, out.height), (512, 256));
        assert_eq!(decode_output(&out).dimensions(), (512, 256));
    }

    #[test]
    fn tall_logo_keeps_aspect_ratio() {
        let out = process_upload(&png_bytes(100, 1000), AssetKind::Logo).unwrap();
        assert_eq!((out.width, out.height), (26, 256)); // 25.6 rounded
    }

    #[test]
    fn tiny_logo_is_not_upscaled() {
        let out = process_upload(&png_bytes(10, 5), AssetKind::Logo).unwrap();
        assert_eq!((out.width, out.height), (10, 5));
    }

    #[test]
    fn favicon_is_always_64_square() {
        for (w, h) in [(64, 64), (256, 256), (16, 16), (1, 1), (300, 100), (30, 400)] {
            let out = process_upload(&png_bytes(w, h), AssetKind::Favicon).unwrap();
            assert_eq!((out.width, out.height), (64, 64), "input {w}x{h}");
            assert_eq!(decode_output(&out).dimensions(), (64, 64));
        }
    }

    #[test]
    fn wide_favicon_is_padded_with_transparency_not_cropped() {
        // 200×100 → 64×32, centred: rows 0..16 and 48..64 are padding.
        let out = decode_output(&process_upload(&png_bytes(200, 100), AssetKind::Favicon).unwrap());
        assert_eq!(out.get_pixel(32, 0).0, [0, 0, 0, 0]);
        assert_eq!(out.get_pixel(32, 63).0, [0, 0, 0, 0]);
        assert_eq!(out.get_pixel(0, 32).0[3], 255); // full width used
        assert_eq!(out.get_pixel(63, 32).0[3], 255);
    }

    #[test]
    fn fit_within_never_returns_zero() {
        assert_eq!(fit_within(4096, 1, 512, 256, false), (512, 1));
        assert_eq!(fit_within(1, 4096, 64, 64, true), (1, 64));
        assert_eq!(fit_within(2000, 1000, 512, 256, false), (512, 256));
        assert_eq!(fit_within(10, 5, 512, 256, false), (10, 5));
        assert_eq!(fit_within(16, 16, 64, 64, true), (64, 64));
    }

    #[test]
    fn downscaling_transparent_logo_has_no_dark_halo() {
        // White disc on a transparent *black* background: without premultiplied resampling, the edge
        // pixels would mix in the black of the invisible pixels and turn grey.
        let img = RgbaImage::from_fn(1024, 1024, |x, y| {
            let (dx, dy) = (f64::from(x) - 512.0, f64::from(y) - 512.0);
            if dx * dx + dy * dy < 400.0 * 400.0 {
                Rgba([255, 255, 255, 255])
            } else {
                Rgba([0, 0, 0, 0])
            }
        });
        let out = decode_output(
            &process_upload(&encode(&DynamicImage::ImageRgba8(img), ImageFormat::Png), AssetKind::Logo).unwrap(),
        );
        assert_eq!(out.dimensions(), (256, 256));
        for p in out.pixels() {
            if p.0[3] > 8 {
                assert!(p.0[..3].iter().all(|&c| c >= 240), "grey fringe pixel {p:?}");
            } else if p.0[3] == 0 {
                assert_eq!(p.0, [0, 0, 0, 0]);
            }
        }
    }

    #[test]
    fn invisible_pixels_lose_their_colour() {
        // Data hidden in the RGB of fully transparent pixels must not survive.
        let img = RgbaImage::from_fn(8, 8, |x, _| if x < 4 { Rgba([1, 2, 3, 0]) } else { Rgba([9, 9, 9, 255]) });
        let out = decode_output(
            &process_upload(&encode(&DynamicImage::ImageRgba8(img), ImageFormat::Png), AssetKind::Logo).unwrap(),
        );
        assert_eq!(out.get_pixel(0, 0).0, [0, 0, 0, 0]);
        assert_eq!(out.get_pixel(7, 7).0, [9, 9, 9, 255]);
    }

    // ---- metadata stripping --------------------------------------------------------------------------

    #[test]
    fn png_text_chunk_is_dropped() {
        let clean = png_bytes(20, 20);
        // Insert a tEXt chunk right after IHDR (8-byte signature + 25-byte IHDR chunk).
        let mut with_text = clean[..33].to_vec();
        with_text.extend(png_chunk(b"tEXt", b"Comment\0SECRET token=abc"));
        with_text.extend_from_slice(&clean[33..]);
        assert!(contains(&with_text, b"SECRET"));

        let out = process_upload(&with_text, AssetKind::Logo).unwrap();
        assert!(!contains(&out.png, b"SECRET"));
        assert!(!contains(&out.png, b"tEXt"));
        assert_eq!((out.width, out.height), (20, 20));
    }

    #[test]
    fn jpeg_exif_is_dropped_and_orientation_applied() {
        let rgb = RgbImage::from_fn(40, 20, |x, _| if x < 20 { Rgb([255, 0, 0]) } else { Rgb([0, 0, 255]) });
        let mut jpeg = Vec::new();
        let mut encoder = ::image::codecs::jpeg::JpegEncoder::new_with_quality(&mut jpeg, 95);
        // Orientation 6 = "rotate 90° clockwise to display".
        encoder.set_exif_metadata(exif_with_orientation(6)).unwrap();
        encoder.write_image(rgb.as_raw(), 40, 20, ExtendedColorType::Rgb8).unwrap();
        assert!(contains(&jpeg, b"EXIF-GPS-SECRET"));

        let out = process_upload(&jpeg, AssetKind::Logo).unwrap();
        assert_eq!((out.width, out.height), (20, 40), "orientation must be applied to the pixels");
        assert!(!contains(&out.png, b"EXIF-GPS-SECRET"));
        assert!(!contains(&out.png, b"eXIf"));
        // Rotated clockwise, the left (red) half ends up on top.
        let decoded = decode_output(&out);
        let top = decoded.get_pixel(10, 5).0;
        let bottom = decoded.get_pixel(10, 35).0;
        assert!(top[0] > 200 && top[2] < 60, "top {top:?}");
        assert!(bottom[2] > 200 && bottom[0] < 60, "bottom {bottom:?}");
    }

    #[test]
    fn jpeg_polyglot_trailer_is_dropped() {
        let mut polyglot = jpeg_bytes(32, 32);
        polyglot.extend_from_slice(b"<script>alert(document.cookie)</script>");
        let out = process_upload(&polyglot, AssetKind::Logo).unwrap();
        assert_eq!((out.width, out.height), (32, 32));
        assert!(!contains(&out.png, b"<script>"));
    }

    // ---- refusals ------------------------------------------------------------------------------------

    #[test]
    fn svg_is_refused_with_its_own_error() {
        let cases: [&[u8]; 6] = [
            b"<svg xmlns=\"http://www.w3.org/2000/svg\"><script>alert(1)</script></svg>",
            b"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<svg xmlns=\"http://www.w3.org/2000/svg\"/>",
            b"\xEF\xBB\xBF<svg xmlns=\"http://www.w3.org/2000/svg\"/>",
            b"\xEF\xBB\xBF \r\n\t<?xml version=\"1.0\"?><svg/>",
            b"<SVG viewBox=\"0 0 1 1\"/>",
            b"<!-- Generator: Adobe Illustrator -->\n<svg xmlns=\"http://www.w3.org/2000/svg\"/>",
        ];
        for svg in cases {
            assert_eq!(process_upload(svg, AssetKind::Logo), Err(ImageError::SvgRefused), "{svg:?}");
        }
        assert_eq!(ImageError::SvgRefused.to_string(), "SVG logos are not accepted; upload a PNG, JPEG or WebP");
    }

    #[test]
    fn other_formats_are_unsupported() {
        let cases: [&[u8]; 6] = [
            b"<!DOCTYPE html><html><body><script>alert(1)</script></body></html>",
            b"GIF89a\x01\x00\x01\x00\x80\x00\x00\xFF\xFF\xFF\x00\x00\x00!\xF9\x04\x01\x00\x00\x00\x00,\x00\x00\x00\x00\x01\x00\x01\x00\x00\x02\x02D\x01\x00;",
            b"BM\x3A\x00\x00\x00\x00\x00\x00\x00\x36\x00\x00\x00\x28\x00\x00\x00\x01\x00\x00\x00\x01\x00\x00\x00",
            b"RIFF\x10\x00\x00\x00WAVEfmt ",
            b"%PDF-1.7\n",
            b"\x00",
        ];
        for bytes in cases {
            assert_eq!(process_upload(bytes, AssetKind::Favicon), Err(ImageError::Unsupported), "{bytes:?}");
        }
    }

    #[test]
    fn oversized_upload_is_refused_before_anything_else() {
        // Starts with a valid PNG signature to show the size check comes first.
        let mut big = png_bytes(4, 4);
        big.resize(MAX_UPLOAD_BYTES + 1, 0);
        assert_eq!(process_upload(&big, AssetKind::Logo), Err(ImageError::TooLarge));
        let svg = vec![b' '; MAX_UPLOAD_BYTES + 1];
        assert_eq!(process_upload(&svg, AssetKind::Logo), Err(ImageError::TooLarge));
    }

    #[test]
    fn empty_upload_is_refused() {
        assert_eq!(process_upload(&[], AssetKind::Logo), Err(ImageError::Empty));
    }

    #[test]
    fn truncated_png_is_corrupt() {
        let png = png_bytes(64, 64);
        let truncated = &png[..png.len() / 2];
        assert_eq!(sniff(truncated), Some(Format::Png));
        assert_eq!(process_upload(truncated, AssetKind::Logo), Err(ImageError::Corrupt));
    }

    #[test]
    fn garbage_after_magic_bytes_is_corrupt() {
        let mut jpeg = vec![0xFF, 0xD8, 0xFF];
        jpeg.extend_from_slice(&[0x42; 64]);
        assert_eq!(process_upload(&jpeg, AssetKind::Logo), Err(ImageError::Corrupt));
        let webp = b"RIFF\x20\x00\x00\x00WEBPVP8L\x14\x00\x00\x00not really a bitstream";
        assert_eq!(process_upload(webp, AssetKind::Logo), Err(ImageError::Corrupt));
    }

    #[test]
    fn decompression_bomb_header_is_refused() {
        // A ~60-byte PNG declaring 100000×100000 RGBA (40 GB decoded). With limits it must be rejected
        // from the header alone.
        let mut ihdr = Vec::new();
        ihdr.extend_from_slice(&100_000u32.to_be_bytes());
        ihdr.extend_from_slice(&100_000u32.to_be_bytes());
        ihdr.extend_from_slice(&[8, 6, 0, 0, 0]); // 8-bit RGBA, deflate, no filter, no interlace
        let mut bomb = b"\x89PNG\r\n\x1a\n".to_vec();
        bomb.extend(png_chunk(b"IHDR", &ihdr));
        bomb.extend(png_chunk(b"IDAT", &[0x78, 0x9C, 0x03, 0x00, 0x00, 0x00, 0x00, 0x01]));
        bomb.extend(png_chunk(b"IEND", &[]));

        let result = process_upload(&bomb, AssetKind::Logo);
        assert!(matches!(result, Err(ImageError::TooManyPixels | ImageError::Corrupt)), "{result:?}");
    }

    #[test]
    fn just_over_dimension_limit_is_too_many_pixels() {
        // A real, valid, small-on-disk PNG (flat colour compresses to almost nothing) one pixel too wide.
        let png =
            encode(&DynamicImage::ImageLuma8(::image::GrayImage::new(MAX_DECODE_DIMENSION + 1, 1)), ImageFormat::Png);
        assert!(png.len() < MAX_UPLOAD_BYTES);
        assert_eq!(process_upload(&png, AssetKind::Logo), Err(ImageError::TooManyPixels));
    }

    #[test]
    fn error_messages_are_readable_and_distinct() {
        let all = [
            ImageError::TooLarge,
            ImageError::Empty,
            ImageError::Unsupported,
            ImageError::SvgRefused,
            ImageError::TooManyPixels,
            ImageError::Corrupt,
        ];
        let messages: Vec<String> = all.iter().map(ToString::to_string).collect();
        for (i, m) in messages.iter().enumerate() {
            assert!(m.len() > 15 && m.is_ascii(), "{m}");
            assert!(messages.iter().skip(i + 1).all(|other| other != m));
        }
    }

    // ---- determinism ---------------------------------------------------------------------------------

    #[test]
    fn same_input_gives_same_output_and_hash() {
        let input = jpeg_bytes(700, 300);
        let a = process_upload(&input, AssetKind::Logo).unwrap();
        let b = process_upload(&input, AssetKind::Logo).unwrap();
        assert_eq!(a, b);
        assert_eq!(a.sha256_hex.len(), 64);
        assert!(a.sha256_hex.bytes().all(|c| c.is_ascii_digit() || (b'a'..=b'f').contains(&c)));
        assert_eq!(a.sha256_hex, format!("{:x}", Sha256::digest(&a.png)));
        let favicon = process_upload(&input, AssetKind::Favicon).unwrap();
        assert_ne!(favicon.sha256_hex, a.sha256_hex);
    }

    #[test]
    fn debug_output_does_not_dump_bytes() {
        let out = process_upload(&png_bytes(4, 4), AssetKind::Logo).unwrap();
        let debug = format!("{out:?}");
        assert!(debug.contains("png_len"));
        assert!(debug.len() < 200, "{debug}");
    }
}
