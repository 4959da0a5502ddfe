//! The fonts invoices are printed in: Noto Sans, Noto Sans Arabic, Noto Sans SC and Noto Sans KR, regular
//! and bold, compiled into the binary from the npm packages `@expo-google-fonts/noto-sans*` (static
//! TrueType instances of Google's Noto fonts, SIL Open Font License 1.1; see `pdf/fonts/README.md` for
//! the licence and how they get here). Nothing is read from disk at run time, so a server
//! prints every script wherever it is deployed.
//!
//! No single font covers every script, so each style is a fallback chain: a character is set in the first
//! face that has a glyph for it (see `shape`). Noto Sans comes first (Latin, Greek, Cyrillic, the symbols
//! of an invoice); Arabic; then SC, whose Han and kana cover Chinese and Japanese; then KR for Hangul.

use std::sync::OnceLock;

use rustybuzz::Face;

/// A face in a fallback chain: its PostScript name (what the PDF calls it) and its bytes.
pub(crate) struct FontFile {
    pub name: &'static str,
    pub data: &'static [u8],
}

macro_rules! noto {
    ($package:literal, $file:literal, $name:literal) => {
        FontFile {
            name: $name,
            data: include_bytes!(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/../node_modules/@expo-google-fonts/",
                $package,
                "/",
                $file
            )),
        }
    };
}

/// The regular chain, in fallback order.
pub(crate) static REGULAR: [FontFile; 4] = [
    noto!("noto-sans", "400Regular/NotoSans_400Regular.ttf", "NotoSans-Regular"),
    noto!("noto-sans-arabic", "400Regular/NotoSansArabic_400Regular.ttf", "NotoSansArabic-Regular"),
    noto!("noto-sans-sc", "400Regular/NotoSansSC_400Regular.ttf", "NotoSansSC-Regular"),
    noto!("noto-sans-kr", "400Regular/NotoSansKR_400Regular.ttf", "NotoSansKR-Regular"),
];

/// The bold chain, in the same order as [`REGULAR`].
pub(crate) static BOLD: [FontFile; 4] = [
    noto!("noto-sans", "700Bold/NotoSans_700Bold.ttf", "NotoSans-Bold"),
    noto!("noto-sans-arabic", "700Bold/NotoSansArabic_700Bold.ttf", "NotoSansArabic-Bold"),
    noto!("noto-sans-sc", "700Bold/NotoSansSC_700Bold.ttf", "NotoSansSC-Bold"),
    noto!("noto-sans-kr", "700Bold/NotoSansKR_700Bold.ttf", "NotoSansKR-Bold"),
];

/// How many faces a chain has.
pub(crate) const CHAIN: usize = 4;

/// The two styles an invoice uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) enum Style {
    Regular,
    Bold,
}

impl Style {
    pub(crate) fn files(self) -> &'static [FontFile; CHAIN] {
        match self {
            Style::Regular => &REGULAR,
            Style::Bold => &BOLD,
        }
    }

    /// The parsed faces of the chain, parsed once per process (parsing reads the tables' directories and
    /// builds the shaping caches; the glyph data stays in the binary's read-only bytes).
    pub(crate) fn faces(self) -> &'static [Face<'static>] {
        static PARSED: OnceLock<[Vec<Face<'static>>; 2]> = OnceLock::new();
        let parsed = PARSED.get_or_init(|| [parse(&REGULAR), parse(&BOLD)]);
        match self {
            Style::Regular => &parsed[0],
            Style::Bold => &parsed[1],
        }
    }
}

impl Style {
    /// Whether face `face` of the chain has a glyph for `c`. ASCII, most of every invoice, is answered from
    /// a table made once per process from the faces' own character maps (the same answer, without a
    /// character-map search per character and face).
    pub(crate) fn covers(self, face: usize, c: char) -> bool {
        static ASCII: OnceLock<[[u128; CHAIN]; 2]> = OnceLock::new();
        let tables = ASCII.get_or_init(|| {
            let table = |style: Style| {
                let mut bits = [0u128; CHAIN];
                for (f, faces) in bits.iter_mut().zip(style.faces()) {
                    for b in 0u8..128 {
                        if faces.glyph_index(char::from(b)).is_some() {
                            *f |= 1u128 << b;
                        }
                    }
                }
                bits
            };
            [table(Style::Regular), table(Style::Bold)]
        });
        let bits = &tables[usize::from(self == Style::Bold)];
        match (u32::from(c), bits.get(face)) {
            (code @ 0..128, Some(bits)) => bits & (1u128 << code) != 0,
            (_, _) => self.faces().get(face).is_some_and(|f| f.glyph_index(c).is_some()),
        }
    }
}

fn parse(files: &'static [FontFile; CHAIN]) -> Vec<Face<'static>> {
    files
        .iter()
        .map(|f| {
            // The bytes are compiled in from pinned packages; a face that does not parse is a broken
            // build, which the unit tests catch before anything ships.
            #[allow(clippy::expect_used)]
            Face::from_slice(f.data, 0).expect("a bundled font parses")
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The ASCII table gives the faces' own answer for every ASCII character, and characters outside it
    /// are asked of the face.
    #[test]
    fn coverage_is_the_faces_own() {
        for style in [Style::Regular, Style::Bold] {
            for (i, face) in style.faces().iter().enumerate() {
                let sample =
                    (0u8..128).map(char::from).chain("ŁžОблако東京クラウド클라우드شركة\u{2013}\u{d7}\u{b7}€".chars());
                for c in sample {
                    assert_eq!(style.covers(i, c), face.glyph_index(c).is_some(), "{c:?} in face {i} of {style:?}");
                }
            }
            assert!(!style.covers(CHAIN, 'a'), "no face past the chain's end");
            assert!(style.covers(0, 'a'));
        }
    }
}
