//! From a string to positioned glyphs: the Unicode bidi algorithm orders the text for display, each
//! character is given the first face of the chain that has it, and each run of one face and one direction
//! is shaped by rustybuzz (a port of HarfBuzz): Arabic letters join (initial, medial, final forms and the
//! lam-alef ligature), marks sit on their letters, Latin kerns.
//!
//! Everything is in integers: rustybuzz reports positions in font units (`i32`) and we scale them to
//! thousandths of an em, the unit of PDF glyph widths and `TJ` adjustments; all bundled faces have 1,000
//! units per em, so that scaling is exact.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

use rustybuzz::{Direction, Face, Script, ShapePlan, UnicodeBuffer};
use unicode_bidi::{BidiInfo, Level};

use super::fonts::Style;

/// One glyph as it is drawn, left to right.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Glyph {
    /// Index of its face in the style's chain.
    pub face: usize,
    /// Its glyph id in that face (before subsetting).
    pub id: u16,
    /// How far the pen moves after it, in thousandths of an em.
    pub advance: i32,
    /// Where it sits relative to the pen (marks), in thousandths of an em.
    pub x_offset: i32,
    pub y_offset: i32,
    /// The characters it stands for, in the order a reader meets them when it reads the page left to
    /// right: a glyph drawn right to left lists its characters right to left too, because readers
    /// (poppler's `pdftotext` among them) turn a right-to-left run back into reading order by reversing it
    /// character by character. Empty for the later glyphs of a span (below).
    pub text: GlyphText,
    /// More than 0 on the first glyph of a marked span of that many glyphs whose `/ActualText` is
    /// `actual`: a cluster whose glyphs cannot each name their characters (a letter drawn as a base and a
    /// separate piece), or a whole right-to-left run holding such a cluster (see `shape`).
    pub span: usize,
    pub actual: GlyphText,
}

/// The characters a glyph stands for, shared: a kept word's glyphs are copied into every line that uses
/// the word (tens of thousands per long invoice), and copying them copied each glyph's characters too.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct GlyphText(Option<Arc<str>>);

impl GlyphText {
    pub fn as_str(&self) -> &str {
        self.0.as_deref().unwrap_or_default()
    }
}

impl std::ops::Deref for GlyphText {
    type Target = str;

    fn deref(&self) -> &str {
        self.as_str()
    }
}

impl From<String> for GlyphText {
    fn from(s: String) -> GlyphText {
        GlyphText((!s.is_empty()).then(|| s.into()))
    }
}

impl PartialEq<&str> for GlyphText {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

/// A line of text, shaped.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Line {
    /// The text as given (control characters made spaces), in logical order.
    pub text: String,
    /// In visual order.
    pub glyphs: Vec<Glyph>,
    /// Sum of the advances, in thousandths of an em.
    pub width: i64,
}

/// Shapes `s` in `style`.
pub(crate) fn shape(s: &str, style: Style) -> Line {
    if let Some(line) = by_words(s, style) {
        return line;
    }
    let text: String = s.chars().map(|c| if c.is_control() { ' ' } else { c }).collect();
    let mut line = Line { text: text.clone(), glyphs: Vec::new(), width: 0 };
    if text.is_empty() {
        return line;
    }
    // Every line is a left-to-right paragraph, as on the (English) invoice page: a right-to-left name sits
    // in it as an embedded run, and neutral characters around it follow the line, as a browser shows them.
    let bidi = BidiInfo::new(&text, Some(Level::ltr()));
    for para in &bidi.paragraphs {
        let (levels, runs) = bidi.visual_runs(para, para.range.clone());
        let last = runs.len().saturating_sub(1);
        for (r, run) in runs.into_iter().enumerate() {
            let rtl = levels.get(run.start).is_some_and(|l| l.is_rtl());
            let mut segments = segments(&text, run.start, run.end, style);
            if rtl {
                segments.reverse();
            }
            let first = line.glyphs.len();
            for (face, range) in segments {
                shape_segment(&text[range], face, rtl, style, &mut line);
            }
            if rtl {
                mark_rtl_run(&mut line.glyphs[first..], &text[run], r < last);
            }
        }
    }
    line.width = line.glyphs.iter().map(|g| i64::from(g.advance)).sum();
    line
}

/// Makes a right-to-left run one marked span whose `/ActualText` is the run as a reader meets it (last
/// character first).
///
/// Two reasons. A reader takes a span's text as one piece placed from where its first glyph starts to
/// where its last ends; Noto Sans Arabic draws a letter as its undotted shape plus its dots, a piece drawn
/// off the pen position, so a span per letter would leave gaps that a reader takes for spaces. And a reader
/// turns a right-to-left run back into reading order by reversing it up to the next left-to-right letter,
/// so the space and "(" in "شركة (Developer Basic)" would travel with the Arabic; a LEFT-TO-RIGHT MARK
/// (U+200E) after a run that has text after it ends the run where the bidi algorithm ended it.
fn mark_rtl_run(glyphs: &mut [Glyph], logical: &str, followed: bool) {
    let count = glyphs.len();
    for g in glyphs.iter_mut() {
        g.span = 0;
        g.actual = GlyphText::default();
    }
    if let Some(g) = glyphs.first_mut() {
        g.span = count;
        let mut actual: String = logical.chars().rev().collect();
        if followed {
            actual.push('\u{200e}');
        }
        g.actual = actual.into();
    }
}

/// Splits `text[start..end]` into ranges set in one face each, in logical order. A letter or digit takes
/// the first face that has it; anything else (spaces, punctuation, marks) stays in the face before it when
/// that face has it, so a space between two Arabic words does not break the run the shaper joins.
fn segments(text: &str, start: usize, end: usize, style: Style) -> Vec<(usize, std::ops::Range<usize>)> {
    let covers = |i: usize, c: char| style.covers(i, c);
    let mut out: Vec<(usize, std::ops::Range<usize>)> = Vec::new();
    let mut prev: Option<usize> = None;
    for (i, c) in text[start..end].char_indices() {
        let at = start + i;
        let face = match prev {
            Some(p) if !c.is_alphanumeric() && covers(p, c) => p,
            // No face has it: it stays in the current face, which draws its "missing glyph" box.
            _ => (0..super::fonts::CHAIN).find(|&f| covers(f, c)).or(prev).unwrap_or(0),
        };
        match out.last_mut() {
            Some((f, r)) if *f == face => r.end = at + c.len_utf8(),
            _ => out.push((face, at..at + c.len_utf8())),
        }
        prev = Some(face);
    }
    out
}

fn shape_segment(seg: &str, face_index: usize, rtl: bool, style: Style, line: &mut Line) {
    shape_run(seg, face_index, rtl, None, style, &mut line.glyphs);
}

/// Shapes `seg` in one face and direction, appending its glyphs to `glyphs`. The script is the one given,
/// or else the first the text's letters have (as `rustybuzz::shape` guesses it).
fn shape_run(seg: &str, face_index: usize, rtl: bool, script: Option<Script>, style: Style, glyphs: &mut Vec<Glyph>) {
    let Some(face) = style.faces().get(face_index) else { return };
    let mut buffer = UnicodeBuffer::new();
    buffer.push_str(seg);
    buffer.set_direction(if rtl { Direction::RightToLeft } else { Direction::LeftToRight });
    if let Some(script) = script {
        buffer.set_script(script);
    }
    buffer.guess_segment_properties();
    let plan = plan(style, face_index, face, buffer.direction(), buffer.script());
    let shaped = rustybuzz::shape_with_plan(face, &plan, buffer);
    let upem = i64::from(face.units_per_em());
    let infos = shaped.glyph_infos();
    let positions = shaped.glyph_positions();
    // Cluster values are byte offsets into `seg`; a cluster's text runs to the next cluster's start. The
    // glyphs of one cluster are adjacent in the output.
    let mut starts: Vec<usize> = infos.iter().filter_map(|g| usize::try_from(g.cluster).ok()).collect();
    starts.sort_unstable();
    starts.dedup();
    let mut i = 0;
    while i < infos.len() {
        let cluster = infos[i].cluster;
        let n = infos[i..].iter().take_while(|g| g.cluster == cluster).count();
        let from = usize::try_from(cluster).unwrap_or(0);
        let k = starts.partition_point(|s| *s < from);
        let to = starts.get(k + 1).copied().unwrap_or(seg.len());
        let chars: Vec<char> = seg.get(from..to).unwrap_or_default().chars().collect();
        // As a reader meets them left to right (see `Glyph::text`).
        let reading: Vec<char> = if rtl { chars.iter().rev().copied().collect() } else { chars.clone() };
        for (j, (info, pos)) in infos[i..i + n].iter().zip(&positions[i..i + n]).enumerate() {
            let whole = || GlyphText::from(reading.iter().collect::<String>());
            let (text, span, actual) = if n == 1 {
                (whole(), 0, GlyphText::default())
            } else if n == reading.len() {
                // As many glyphs as characters (a letter and its mark): one each, in drawing order.
                (GlyphText::from(reading[j].to_string()), 0, GlyphText::default())
            } else if j == 0 {
                (whole(), n, whole())
            } else {
                (GlyphText::default(), 0, GlyphText::default())
            };
            glyphs.push(Glyph {
                face: face_index,
                id: u16::try_from(info.glyph_id).unwrap_or(0),
                advance: per_mille(pos.x_advance, upem),
                x_offset: per_mille(pos.x_offset, upem),
                y_offset: per_mille(pos.y_offset, upem),
                text,
                span,
                actual,
            });
        }
        i += n;
    }
}

/// Whether a line made only of such characters and spaces shapes, in the first face of either style,
/// exactly as its words shaped one by one with a space between them: nothing in those faces substitutes
/// or positions across a space between them (no kerning with the space, no ligature or contextual form
/// that spans it). ASCII, and the signs invoices print between figures (– — · ×) and before them (€ £).
/// The unit test `words_shape_as_their_line` checks it pair by pair, and on whole invoice rows.
fn separable(c: char) -> bool {
    c.is_ascii_graphic() || c == ' ' || matches!(c, '\u{2013}' | '\u{2014}' | '\u{b7}' | '\u{d7}' | '€' | '£')
}

/// Words kept per thread before the store is emptied (a billing run meets a few hundred: dates, times,
/// counts, amounts, plan names).
const WORDS_KEPT: usize = 8192;

/// Shaped words, by their text.
type Words = HashMap<Box<str>, Box<[Glyph]>>;

thread_local! {
    /// Shaped words, by style and by whether their line has Latin letters (its script; see `by_words`).
    static WORDS: std::cell::RefCell<[Words; 4]> = Default::default();
}

/// `text` shaped a word at a time when it is made only of `separable` characters (every row of figures
/// an invoice prints: each session's dates, times and count, amounts, most descriptions), each word shaped
/// once per thread and then copied: shaping was most of a billing run's time, and those rows repeat the
/// same few hundred words. Such a line is all in the first face, left to right, so it is one run of the
/// bidi algorithm and one segment; the only thing shaping the whole line adds is its script, the first
/// its letters have (Latin if it has any, else none), which every word is shaped with. `None` for any
/// other text.
fn by_words(text: &str, style: Style) -> Option<Line> {
    if !text.chars().all(separable) || !text.chars().all(|c| style.covers(0, c)) {
        return None;
    }
    let latin = text.bytes().any(|b| b.is_ascii_alphabetic());
    let script = latin.then_some(rustybuzz::script::LATIN);
    let mut line = Line { text: text.to_owned(), glyphs: Vec::with_capacity(text.len()), width: 0 };
    WORDS.with_borrow_mut(|stores| {
        let store = &mut stores[usize::from(style == Style::Bold) * 2 + usize::from(latin)];
        if store.len() >= WORDS_KEPT {
            store.clear();
        }
        let mut word = |w: &str, glyphs: &mut Vec<Glyph>| {
            if let Some(shaped) = store.get(w) {
                glyphs.extend_from_slice(shaped);
                return;
            }
            let mut shaped = Vec::new();
            shape_run(w, 0, false, script, style, &mut shaped);
            glyphs.extend_from_slice(&shaped);
            store.insert(w.into(), shaped.into_boxed_slice());
        };
        for (i, w) in text.split(' ').enumerate() {
            if i > 0 {
                word(" ", &mut line.glyphs);
            }
            if !w.is_empty() {
                word(w, &mut line.glyphs);
            }
        }
    });
    line.width = line.glyphs.iter().map(|g| i64::from(g.advance)).sum();
    Some(line)
}

/// The shaping plan of a face for a direction and script: what `rustybuzz::shape` would build for the
/// buffer (no language, no user features), built once per process instead of once per segment (building
/// one reads the face's whole GSUB and GPOS feature lists, which was a tenth of a billing run's time).
fn plan(style: Style, face_index: usize, face: &Face<'static>, direction: Direction, script: Script) -> Arc<ShapePlan> {
    type Key = (Style, usize, Direction, Script);
    static PLANS: OnceLock<Mutex<HashMap<Key, Arc<ShapePlan>>>> = OnceLock::new();
    let key = (style, face_index, direction, script);
    let plans = PLANS.get_or_init(Mutex::default);
    if let Some(plan) = plans.lock().unwrap_or_else(|e| e.into_inner()).get(&key) {
        return plan.clone();
    }
    // Built outside the lock; two threads racing build the same plan and one copy is kept. A buffer that
    // holds only common characters (digits, punctuation) has no script, which `script()` reports as
    // UNKNOWN and the shaper itself treats as none.
    let known = (script != rustybuzz::script::UNKNOWN).then_some(script);
    let built = Arc::new(ShapePlan::new(face, direction, known, None, &[]));
    plans.lock().unwrap_or_else(|e| e.into_inner()).entry(key).or_insert(built).clone()
}

/// Font units to thousandths of an em, rounded to the nearest.
pub(crate) fn per_mille(units: i32, upem: i64) -> i32 {
    let units = i64::from(units);
    if upem == 1000 || upem <= 0 {
        return i32::try_from(units).unwrap_or(0);
    }
    let scaled = (units * 1000 + units.signum() * upem / 2) / upem;
    i32::try_from(scaled).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `text` shaped whole, as every line was before words were kept.
    fn whole(text: &str, style: Style) -> Line {
        let mut line = Line { text: text.to_owned(), glyphs: Vec::new(), width: 0 };
        shape_segment(text, 0, false, style, &mut line);
        line.width = line.glyphs.iter().map(|g| i64::from(g.advance)).sum();
        line
    }

    /// Every pair of separable characters on either side of a space shapes the same through the kept
    /// words as whole, in a line with letters (Latin) and without; and so do whole invoice rows (twice
    /// each: the second time every word comes from the store). Within a word nothing differs: a word is
    /// shaped whole, with its line's script.
    #[test]
    fn words_shape_as_their_line() {
        let signs = "\u{2013}\u{2014}\u{b7}\u{d7}€£".chars();
        let chars: Vec<char> = (0u8..128).map(char::from).chain(signs).filter(|c| separable(*c) && *c != ' ').collect();
        let rows = [
            "2026-11-03 14:00 \u{2013} 2026-11-03 15:00 \u{b7} 4 \u{d7} 15 min",
            "2026-11-30 23:59 \u{2013} running \u{b7} 96 \u{d7} 15 min",
            "Developer Basic (Developer Basic) \u{2014} 4 \u{d7} 15 min at $0.30/h",
            "Office Suite workspace 1a2b3c4d \u{2014} 12 \u{d7} 15 min at \u{20ac}0.3000/h",
            "Total",
            "Paid from credit",
            "\u{a3}1,234.56",
            "Page 3 of 12",
            "  two  spaces ",
            "AV To Ty Wa yo \"quoted\" it's f/i ff fi fl",
        ];
        for style in [Style::Regular, Style::Bold] {
            for a in &chars {
                for b in &chars {
                    for text in [format!("{a} {b}"), format!("x{a} {b}1")] {
                        assert_eq!(by_words(&text, style), Some(whole(&text, style)), "{text:?} in {style:?}");
                    }
                }
            }
            for row in rows {
                for _ in 0..2 {
                    if let Some(line) = by_words(row, style) {
                        assert_eq!(line, whole(row, style), "{row:?} in {style:?}");
                    }
                    assert_eq!(shape(row, style).glyphs, whole(row, style).glyphs, "{row:?} in {style:?}");
                }
            }
        }
        // Text outside the set is shaped whole.
        assert_eq!(by_words("Łukasz 4 \u{d7} 15 min", Style::Regular), None);
        assert_eq!(by_words("a\tb", Style::Regular), None);
    }

    /// The plans kept for the process shape exactly as `rustybuzz::shape` does with a plan of its own,
    /// in every face and script an invoice prints, and for text with no script (digits only).
    #[test]
    fn a_kept_plan_shapes_as_a_fresh_one() {
        let samples = [
            "Developer Basic — 4 × 15 min at $0.30/h",
            "2026-11-03 14:00 \u{2013} 2026-11-03 15:00 \u{b7} 4 \u{d7} 15 min",
            "0123456789",
            "شركة السحاب",
            "東京クラウド",
            "클라우드 회사",
            "Облако Łukasz",
        ];
        for style in [Style::Regular, Style::Bold] {
            for text in samples {
                for (face_index, face) in style.faces().iter().enumerate() {
                    for rtl in [false, true] {
                        let buffer = || {
                            let mut b = UnicodeBuffer::new();
                            b.push_str(text);
                            b.set_direction(if rtl { Direction::RightToLeft } else { Direction::LeftToRight });
                            b.guess_segment_properties();
                            b
                        };
                        // Twice: the second time the plan comes from the cache.
                        for _ in 0..2 {
                            let b = buffer();
                            let kept = plan(style, face_index, face, b.direction(), b.script());
                            let ours = rustybuzz::shape_with_plan(face, &kept, b);
                            let theirs = rustybuzz::shape(face, &[], buffer());
                            let ids = |g: &rustybuzz::GlyphBuffer| {
                                g.glyph_infos().iter().map(|i| (i.glyph_id, i.cluster)).collect::<Vec<_>>()
                            };
                            let at = |g: &rustybuzz::GlyphBuffer| {
                                g.glyph_positions()
                                    .iter()
                                    .map(|p| (p.x_advance, p.y_advance, p.x_offset, p.y_offset))
                                    .collect::<Vec<_>>()
                            };
                            assert_eq!(ids(&ours), ids(&theirs), "{text:?} in face {face_index}, rtl {rtl}");
                            assert_eq!(at(&ours), at(&theirs), "{text:?} in face {face_index}, rtl {rtl}");
                        }
                    }
                }
            }
        }
    }
}
