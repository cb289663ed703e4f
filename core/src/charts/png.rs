//! PNG from the same SVG a chart is drawn as (resvg), for reports and mail clients that do
//! not show SVG. Text is set in the bundled DejaVu Sans (core/assets/fonts, with its
//! licence), so a PNG looks the same on every machine, fonts installed or not.

use crate::error::{Error, Result};
use resvg::{tiny_skia, usvg};

static FONT: &[u8] = include_bytes!("../../assets/fonts/DejaVuSans.ttf");

/// `svg` rendered at `scale` (2.0 for a sharp picture on a high-density screen).
pub fn png(svg: &str, scale: f32) -> Result<Vec<u8>> {
    let mut opt = usvg::Options {
        font_family: "DejaVu Sans".into(),
        ..usvg::Options::default()
    };
    let db = opt.fontdb_mut();
    db.load_font_data(FONT.to_vec());
    db.set_sans_serif_family("DejaVu Sans");
    let bad = |e: &dyn std::fmt::Display| {
        Error::InvalidInput(format!("the chart could not be rendered as PNG: {e}"))
    };
    let tree = usvg::Tree::from_str(svg, &opt).map_err(|e| bad(&e))?;
    let size = tree
        .size()
        .to_int_size()
        .scale_by(scale)
        .ok_or_else(|| bad(&"a zero-sized picture"))?;
    let mut pixmap = tiny_skia::Pixmap::new(size.width(), size.height())
        .ok_or_else(|| bad(&"a zero-sized picture"))?;
    resvg::render(
        &tree,
        tiny_skia::Transform::from_scale(scale, scale),
        &mut pixmap.as_mut(),
    );
    pixmap.encode_png().map_err(|e| bad(&e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_text_with_the_bundled_font() {
        let svg = r##"<svg xmlns="http://www.w3.org/2000/svg" width="120" height="40"><rect width="120" height="40" fill="#ffffff"/><text x="4" y="28" font-family="sans-serif" font-size="20">Airlock</text></svg>"##;
        let bytes = png(svg, 1.0).unwrap();
        assert_eq!(&bytes[1..4], b"PNG");
        let pixmap = tiny_skia::Pixmap::decode_png(&bytes).unwrap();
        let dark = pixmap.pixels().iter().filter(|p| p.red() < 128).count();
        assert!(
            dark > 50,
            "the text was drawn with the bundled font ({dark} dark pixels)"
        );
    }
}
