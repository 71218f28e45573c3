//! The one font every plot and contact sheet draws its text with, compiled into the binary.
//!
//! Why: plotters' default `ttf` feature looks fonts up through fontconfig, which links
//! fontconfig and freetype into the binary and fails on the machines people train on
//! (containers and cluster nodes have no fonts). With plotters' `ab_glyph` feature, text is
//! rasterised from font bytes registered here: a subset of DejaVu Sans (`font/README.md` says how
//! it was made; its licence is `font/LICENSE-DejaVu.txt`).

use std::sync::OnceLock;

/// The family name plots ask for; [`ensure_registered`] makes it resolve to the embedded font.
pub const FAMILY: &str = "sans-serif";

/// DejaVu Sans, cut down to Latin, Greek, Cyrillic and common symbols.
static DEJAVU_SANS: &[u8] = include_bytes!("font/DejaVuSans-subset.ttf");

/// Registers the embedded font as [`FAMILY`] (normal style; other styles fall back to it).
/// Call before drawing text; later calls do nothing. Fails only if the embedded bytes are not a
/// font, which a unit test rules out.
pub fn ensure_registered() -> Result<(), String> {
    static REGISTERED: OnceLock<Result<(), String>> = OnceLock::new();
    REGISTERED
        .get_or_init(|| {
            plotters::style::register_font(FAMILY, plotters::style::FontStyle::Normal, DEJAVU_SANS)
                .map_err(|_| "the embedded plot font cannot be read".to_string())
        })
        .clone()
}

#[cfg(test)]
mod tests {
    use super::*;
    use plotters::prelude::*;

    #[test]
    fn embedded_font_draws_text_without_system_fonts() {
        ensure_registered().unwrap();
        let mut buf = vec![255u8; 120 * 40 * 3];
        {
            let area = BitMapBackend::with_buffer(&mut buf, (120, 40)).into_drawing_area();
            area.draw_text(
                "Accuracy ±",
                &(FAMILY, 20).into_font().color(&BLACK),
                (4, 10),
            )
            .unwrap();
            area.present().unwrap();
        }
        let dark = buf.chunks(3).filter(|px| px[0] < 128).count();
        assert!(dark > 50, "text left {dark} dark pixels");
    }
}
