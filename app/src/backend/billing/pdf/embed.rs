//! The fonts of one document: which glyphs of which faces it uses, and those glyphs as embedded font
//! subsets.
//!
//! Each face used becomes a `Type0` font with `Identity-H` encoding over a `CIDFontType2` (TrueType
//! outlines), its program cut down by `subsetter` to the glyphs the document draws. The two-byte codes in
//! the content streams number the glyphs 1, 2, 3 … in the order the document first uses them (0 is the
//! "missing glyph" box); the subset keeps its glyphs in the face's own order, and the `/CIDToGIDMap`
//! stream takes each code to its glyph there. So a subset depends only on which glyphs a document uses,
//! and documents drawing the same glyphs in another order share it (see [`program`]). Widths (`/W`) come
//! from the face's own advances, and a `ToUnicode` CMap maps every code back to the characters it stands
//! for, so copying and text extraction give the text as written.

use std::collections::{BTreeMap, HashMap};
use std::io::Write;
use std::sync::{Arc, Mutex, OnceLock};

use subsetter::GlyphRemapper;

use super::fonts::Style;
use super::shape::{per_mille, Glyph, GlyphText};

/// The glyphs one face gives the document. Codes are handed out 1, 2, 3 … (0 is the face's glyph 0, the
/// missing-glyph box) and looked up by indexing, not hashing: a long invoice asks for a code tens of
/// thousands of times.
struct Used {
    /// By glyph of the face: its code, 0 while it has none.
    code_of: Vec<u16>,
    /// By code: the face's glyph.
    gids: Vec<u16>,
    /// By code: the advance in thousandths of an em, and the characters (first use wins); `None` for a code
    /// not drawn (glyph 0 until it is).
    glyphs: Vec<Option<(i32, GlyphText)>>,
}

impl Used {
    fn new(glyphs_in_face: u16) -> Used {
        Used { code_of: vec![0; usize::from(glyphs_in_face)], gids: vec![0], glyphs: vec![None] }
    }

    /// The code of the face's glyph `gid`, handed out now if it has none.
    fn code(&mut self, gid: u16) -> u16 {
        let i = usize::from(gid);
        if i >= self.code_of.len() {
            self.code_of.resize(i + 1, 0);
        }
        if self.code_of[i] == 0 && gid != 0 {
            // A face has at most 65,535 glyphs, so the codes fit in two bytes.
            self.code_of[i] = u16::try_from(self.gids.len()).unwrap_or(u16::MAX);
            self.gids.push(gid);
            self.glyphs.push(None);
        }
        self.code_of[i]
    }

    /// The drawn codes in order, with their widths and characters.
    fn drawn(&self) -> impl Iterator<Item = (u16, &(i32, GlyphText))> {
        self.glyphs.iter().enumerate().filter_map(|(c, g)| Some((u16::try_from(c).ok()?, g.as_ref()?)))
    }
}

/// Every face the document uses, keyed by style and position in the chain.
#[derive(Default)]
pub(crate) struct Fonts {
    used: BTreeMap<(Style, usize), Used>,
}

impl Fonts {
    /// The resource name of a face: `/R0` … for regular, `/B0` … for bold.
    pub(crate) fn resource(style: Style, face: usize) -> String {
        match style {
            Style::Regular => format!("R{face}"),
            Style::Bold => format!("B{face}"),
        }
    }

    /// The code `glyph` is drawn with, and its width in the font's `/W` (thousandths of an em). Also
    /// reports whether the code's `ToUnicode` entry says what this glyph stands for here (false when the
    /// same glyph already stands for other text in this document, e.g. one shape shared by two letters).
    pub(crate) fn code(&mut self, style: Style, glyph: &Glyph) -> (u16, i32, bool) {
        let used = self
            .used
            .entry((style, glyph.face))
            .or_insert_with(|| Used::new(style.faces().get(glyph.face).map_or(0, |f| f.number_of_glyphs())));
        let code = used.code(glyph.id);
        // The width is the face's, read once per glyph and document.
        let entry = used.glyphs[usize::from(code)].get_or_insert_with(|| {
            let face = style.faces().get(glyph.face);
            let upem = face.map_or(1000, |f| i64::from(f.units_per_em()));
            let width = face
                .and_then(|f| f.glyph_hor_advance(rustybuzz::ttf_parser::GlyphId(glyph.id)))
                .map_or(0, |w| per_mille(i32::from(w), upem));
            (width, glyph.text.clone())
        });
        // A glyph that stands for nothing by itself (the second glyph of a cluster) takes no entry of its
        // own: the first text it is seen with names it.
        if entry.1.is_empty() && !glyph.text.is_empty() {
            entry.1 = glyph.text.clone();
        }
        (code, entry.0, entry.1 == glyph.text)
    }

    /// The font objects, numbered from `first`, and the `/Font` resource dictionary naming them. Each face
    /// takes six objects: Type0 font, CIDFont, descriptor, font program, ToUnicode CMap, CIDToGIDMap.
    pub(crate) fn objects(&self, first: usize) -> (Vec<Vec<u8>>, String) {
        let mut objects = Vec::new();
        let mut resources = String::from("<<");
        for (&(style, face_index), used) in &self.used {
            let n = first + objects.len();
            let (Some(file), Some(face)) = (style.files().get(face_index), style.faces().get(face_index)) else {
                continue;
            };
            // By code: the face's glyph each code stands for; the subset holds them in the face's order.
            let by_code = &used.gids;
            let in_face_order = GlyphRemapper::new_from_glyphs_sorted(by_code);
            let Some(program) = program(style, face_index, file, &in_face_order) else { continue };
            let cid_to_gid: Vec<u8> =
                by_code.iter().flat_map(|g| in_face_order.get(*g).unwrap_or(0).to_be_bytes()).collect();
            let name = format!("{}+{}", subset_tag(&in_face_order), file.name);
            let upem = i64::from(face.units_per_em());
            let scale = |v: i16| per_mille(i32::from(v), upem);
            let bbox = face.global_bounding_box();
            let ascent = scale(face.ascender());
            let descent = scale(face.descender());
            let cap = face.capital_height().map_or(ascent, scale);
            let widths = widths(used);
            objects.push(
                format!(
                    "<< /Type /Font /Subtype /Type0 /BaseFont /{name} /Encoding /Identity-H \
                     /DescendantFonts [{} 0 R] /ToUnicode {} 0 R >>",
                    n + 1,
                    n + 4
                )
                .into_bytes(),
            );
            objects.push(
                format!(
                    "<< /Type /Font /Subtype /CIDFontType2 /BaseFont /{name} \
                     /CIDSystemInfo << /Registry (Adobe) /Ordering (Identity) /Supplement 0 >> \
                     /FontDescriptor {} 0 R /CIDToGIDMap {} 0 R /DW 1000 /W [{widths}] >>",
                    n + 2,
                    n + 5,
                )
                .into_bytes(),
            );
            objects.push(
                format!(
                    "<< /Type /FontDescriptor /FontName /{name} /Flags 4 /FontBBox [{} {} {} {}] \
                     /ItalicAngle 0 /Ascent {ascent} /Descent {descent} /CapHeight {cap} /StemV {} \
                     /FontFile2 {} 0 R >>",
                    scale(bbox.x_min),
                    scale(bbox.y_min),
                    scale(bbox.x_max),
                    scale(bbox.y_max),
                    if style == Style::Bold { 140 } else { 80 },
                    n + 3
                )
                .into_bytes(),
            );
            objects.push(stream(&format!("/Length1 {}", program.length), &program.deflated, true));
            objects.push(stream("", to_unicode(used).as_bytes(), false));
            objects.push(stream("", &cid_to_gid, false));
            resources.push_str(&format!(" /{} {n} 0 R", Fonts::resource(style, face_index)));
        }
        resources.push_str(" >>");
        (objects, resources)
    }
}

/// A face's subset as embedded: the deflated font program, and its length before deflating.
struct Program {
    length: usize,
    deflated: Vec<u8>,
}

/// Programs kept for the process before the store is emptied. Documents of one layout mostly use the same
/// glyphs, so a billing run's thousands of invoices need only a few.
const PROGRAMS_KEPT: usize = 256;

/// The subset of `file` holding the glyphs `remapper` numbers, deflated. A subset depends only on the face
/// and on those glyphs in that order, so it is made once per process and then reused: cutting and
/// compressing the font was an eighth of the time of a long invoice. Documents ask for their glyphs in the
/// face's order, whatever order they drew them in: in the order of first use, invoices that differed only
/// in that order (the same characters in other workspace names) each cut a subset of their own.
/// `None` when subsetting fails.
fn program(style: Style, face: usize, file: &super::fonts::FontFile, remapper: &GlyphRemapper) -> Option<Arc<Program>> {
    type Key = (Style, usize, Vec<u16>);
    static PROGRAMS: OnceLock<Mutex<HashMap<Key, Arc<Program>>>> = OnceLock::new();
    let key: Key = (style, face, remapper.remapped_gids().collect());
    let programs = PROGRAMS.get_or_init(Mutex::default);
    if let Some(p) = programs.lock().unwrap_or_else(|e| e.into_inner()).get(&key) {
        return Some(p.clone());
    }
    // Made outside the lock: two documents racing make the same program and one copy is kept.
    let subset = match subsetter::subset(file.data, 0, remapper) {
        Ok(p) => p,
        Err(e) => {
            // The faces are fixed at build time and the unit tests subset each of them, so this is a broken
            // build rather than bad input; the text then shows in no font at all.
            tracing::error!(font = file.name, error = ?e, "subsetting a bundled font failed");
            return None;
        }
    };
    let made = Arc::new(Program { length: subset.len(), deflated: deflate(&subset) });
    let mut kept = programs.lock().unwrap_or_else(|e| e.into_inner());
    if kept.len() >= PROGRAMS_KEPT {
        kept.clear();
    }
    Some(kept.entry(key).or_insert(made).clone())
}

/// The `/W` array: each run of consecutive codes as `first [w w …]`.
fn widths(used: &Used) -> String {
    let mut out = String::new();
    // The code after the last one written, while a run is open.
    let mut open: Option<Option<u16>> = None;
    for (code, (w, _)) in used.drawn() {
        if open != Some(Some(code)) {
            if open.is_some() {
                out.push_str("] ");
            }
            out.push_str(&format!("{code} ["));
        } else {
            out.push(' ');
        }
        out.push_str(&w.to_string());
        open = Some(code.checked_add(1));
    }
    if open.is_some() {
        out.push(']');
    }
    out
}

/// Six capital letters naming this subset (PDF's convention for subset fonts, so a reader never takes two
/// different subsets of one face for the same font): a hash of the glyphs it holds.
fn subset_tag(subset: &GlyphRemapper) -> String {
    let mut h: u32 = 0x811c_9dc5;
    for code in subset.remapped_gids() {
        for b in code.to_be_bytes() {
            h = (h ^ u32::from(b)).wrapping_mul(0x0100_0193);
        }
    }
    (0..6)
        .map(|i| {
            let letter = (h >> (i * 5)) % 26;
            char::from(b'A' + u8::try_from(letter).unwrap_or(0))
        })
        .collect()
}

/// The `ToUnicode` CMap: each code to the UTF-16BE of its characters (at most 100 entries per block).
fn to_unicode(used: &Used) -> String {
    let entries: Vec<(u16, &str)> =
        used.drawn().filter(|(_, (_, t))| !t.is_empty()).map(|(c, (_, t))| (c, t.as_str())).collect();
    let mut out = String::from(
        "/CIDInit /ProcSet findresource begin\n12 dict begin\nbegincmap\n\
         /CIDSystemInfo << /Registry (Adobe) /Ordering (UCS) /Supplement 0 >> def\n\
         /CMapName /Adobe-Identity-UCS def\n/CMapType 2 def\n\
         1 begincodespacerange\n<0000> <FFFF>\nendcodespacerange\n",
    );
    for block in entries.chunks(100) {
        out.push_str(&format!("{} beginbfchar\n", block.len()));
        for (code, text) in block {
            out.push_str(&format!("<{code:04X}> <{}>\n", utf16_hex(text)));
        }
        out.push_str("endbfchar\n");
    }
    out.push_str("endcmap\nCMapName currentdict /CMap defineresource pop\nend\nend\n");
    out
}

/// UTF-16BE of `s` as hex digits.
pub(crate) fn utf16_hex(s: &str) -> String {
    s.encode_utf16().map(|u| format!("{u:04X}")).collect()
}

/// A stream object; `extra` goes into its dictionary.
pub(crate) fn stream(extra: &str, body: &[u8], deflated: bool) -> Vec<u8> {
    let filter = if deflated { " /Filter /FlateDecode" } else { "" };
    let sep = if extra.is_empty() { "" } else { " " };
    let mut out = format!("<< /Length {}{filter}{sep}{extra} >>\nstream\n", body.len()).into_bytes();
    out.extend_from_slice(body);
    out.extend_from_slice(b"\nendstream");
    out
}

fn deflate(data: &[u8]) -> Vec<u8> {
    let mut z = flate2::write::ZlibEncoder::new(Vec::with_capacity(data.len() / 2), flate2::Compression::best());
    // Writing into a Vec cannot fail.
    let _ = z.write_all(data);
    z.finish().unwrap_or_default()
}
