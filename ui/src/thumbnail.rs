//! Small previews of received pictures, shown in their bubble. Made on the network thread from
//! the saved file (never the window's), with limits on what a file may ask to decode: a picture
//! crafted to unpack into gigabytes is refused, not decoded.

use std::path::Path;

use slint::{Rgba8Pixel, SharedPixelBuffer};

/// The longest side of a preview, in pixels.
pub const MAX_SIDE: u32 = 240;
/// Pictures with a side longer than this are not previewed.
const MAX_SOURCE_SIDE: u32 = 16_384;
/// Memory a decoder may take for one picture.
const MAX_DECODE_BYTES: u64 = 256 << 20;

/// Whether a file of this name is a picture we preview (by its extension).
pub fn is_picture(name: &str) -> bool {
    let lower = name.to_lowercase();
    [".png", ".jpg", ".jpeg"].iter().any(|ext| lower.ends_with(ext))
}

/// The picture at `path` scaled to fit [`MAX_SIDE`], keeping its proportions. Blocking.
pub fn make(path: &Path) -> Result<SharedPixelBuffer<Rgba8Pixel>, image::ImageError> {
    let mut reader = image::ImageReader::open(path)?.with_guessed_format()?;
    let mut limits = image::Limits::default();
    limits.max_image_width = Some(MAX_SOURCE_SIDE);
    limits.max_image_height = Some(MAX_SOURCE_SIDE);
    limits.max_alloc = Some(MAX_DECODE_BYTES);
    reader.limits(limits);
    let preview = reader.decode()?.thumbnail(MAX_SIDE, MAX_SIDE).to_rgba8();
    Ok(SharedPixelBuffer::clone_from_slice(preview.as_raw(), preview.width(), preview.height()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pictures_are_scaled_down_and_anything_else_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let wide = dir.path().join("wide.PNG");
        image::RgbImage::from_pixel(960, 480, image::Rgb([200, 30, 30])).save(&wide).unwrap();
        assert!(is_picture("wide.PNG") && is_picture("照片.jpeg") && !is_picture("notes.txt"));
        let preview = make(&wide).unwrap();
        assert_eq!((preview.width(), preview.height()), (240, 120));
        assert_eq!(preview.as_slice()[0], Rgba8Pixel { r: 200, g: 30, b: 30, a: 255 });

        let fake = dir.path().join("fake.png");
        std::fs::write(&fake, b"not a picture at all").unwrap();
        assert!(make(&fake).is_err());
        assert!(make(&dir.path().join("missing.png")).is_err());
        // A header that claims 100,000 x 100,000 pixels is refused before decoding.
        let huge = dir.path().join("huge.png");
        let mut header = Vec::new();
        header.extend_from_slice(b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR");
        header.extend_from_slice(&100_000u32.to_be_bytes());
        header.extend_from_slice(&100_000u32.to_be_bytes());
        header.extend_from_slice(&[8, 2, 0, 0, 0, 0, 0, 0, 0]);
        std::fs::write(&huge, header).unwrap();
        assert!(make(&huge).is_err());
    }
}
