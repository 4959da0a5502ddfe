//! Invoices as PDF, written directly: no rendering engine, no floats.
//!
//! A4 pages in PDF 1.4, in Noto Sans and its sister faces for Arabic, Chinese/Japanese and Korean, so a
//! customer named Łukasz, a reseller called "Облако", "東京クラウド" or "شركة السحاب" gets their name printed
//! as written. Only the glyphs a document uses are embedded: each face is a subset (`subsetter`) written as
//! a `Type0` font with `Identity-H` encoding over a `CIDFontType2`, with its widths and a `ToUnicode` map,
//! so text extraction and copy-paste give the text back exactly (`pdf/embed.rs`). The fonts are compiled
//! into the binary from pinned npm packages (`pdf/fonts.rs`, licence and provenance in `pdf/fonts/`).
//!
//! Each line of text goes through the Unicode bidi algorithm and is shaped with rustybuzz, in the first
//! face of the fallback chain that has each character (`pdf/shape.rs`): Arabic letters join and run right
//! to left. Glyphs are drawn in visual order, and each names its characters in the order a reader meets
//! them, which readers (`pdftotext` among them) turn back into reading order; a cluster whose glyphs cannot
//! each name their characters is marked with its `/ActualText`. Text is measured with the shaped advances (integers, thousandths of an em) so amounts
//! line up on the right and long descriptions wrap (at spaces, or between characters for text without
//! them). Pages break as needed, the table header repeats, and every page says "page n of N". Content
//! streams are left uncompressed (the embedded font programs are deflated): the file stays inspectable.
//! A typical one-page invoice (two lines, Noto Sans regular and bold) is 16 kB, where the base-14 fonts
//! (which printed "?" for anything outside Western European letters) made it 2.5 kB; one with names in six
//! scripts (six faces) is 32–37 kB; a 30-line, 5-page one 131 kB.
//!
//! A customer's invoice is printed from the invoice document (`billing::document`), the same value the
//! invoice page shows, so they cannot disagree; a reseller's wholesale bill from its stored lines
//! (`billing::wholesale`).

use crate::domain::invoice::InvoiceDocument;
use crate::domain::time::{format_utc, Timestamp};

/// A4 in points.
const PAGE_W: i64 = 595;
const PAGE_H: i64 = 842;
const LEFT: i64 = 50;
const RIGHT: i64 = PAGE_W - 50;
/// Below this a new page starts (room for the footer).
const BOTTOM: i64 = 70;
/// The description column ends here; amounts are right-aligned at `RIGHT`.
const DESC_W: i64 = 380;

mod embed;
mod fonts;
mod shape;

use self::embed::{stream, utf16_hex, Fonts};
use self::fonts::Style as Font;
use self::shape::{shape, Line};

/// What an invoice PDF prints, laid out as text: a customer's invoice or a reseller's wholesale bill.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Document {
    /// "Invoice INV-000042"
    pub title: String,
    pub period: String,
    pub status: String,
    pub issued: Option<Timestamp>,
    /// Who bills (top right, bold).
    pub seller: String,
    /// Who is billed (name, email …), under the seller.
    pub buyer: Vec<String>,
    pub lines: Vec<DocLine>,
    /// (label, amount, bold)
    pub totals: Vec<(String, String, bool)>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DocLine {
    pub description: String,
    pub amount: String,
    /// Small grey rows under the description (the sessions a line bills).
    pub details: Vec<String>,
}

impl From<&InvoiceDocument> for Document {
    fn from(v: &InvoiceDocument) -> Document {
        Document {
            title: v.title(),
            period: v.period.clone(),
            status: v.status.as_str().to_owned(),
            issued: v.issued,
            seller: v.company.clone(),
            buyer: vec![v.customer_name.clone(), v.customer_email.clone()],
            lines: v
                .lines
                .iter()
                .map(|l| DocLine {
                    description: l.description.clone(),
                    amount: l.amount.to_string(),
                    details: l
                        .sessions
                        .iter()
                        .map(|s| {
                            format!(
                                "{} \u{2013} {} \u{b7} {} \u{d7} 15 min",
                                format_utc(s.started_at),
                                s.ended_at.map(format_utc).unwrap_or_else(|| "running".into()),
                                s.increments
                            )
                        })
                        .collect(),
                })
                .collect(),
            totals: vec![
                ("Total".into(), v.total.to_string(), true),
                ("Paid from credit".into(), v.credit_applied.to_string(), false),
                ("Paid by card".into(), v.card_paid.to_string(), false),
                ("Amount due".into(), v.due.to_string(), true),
            ],
        }
    }
}

/// A customer's invoice as a PDF document.
pub fn invoice(v: &InvoiceDocument) -> Vec<u8> {
    render(&Document::from(v))
}

/// A customer's invoice as a PDF, rendered on a blocking thread: shaping and subsetting take milliseconds
/// of CPU for a long invoice, which on an async worker would hold up every request and job queued behind
/// it, and the billing run of one tenant could not use a second core.
pub async fn invoice_off_thread(v: &InvoiceDocument) -> crate::backend::Result<Vec<u8>> {
    render_off_thread(Document::from(v)).await
}

/// [`render`] on a blocking thread (see [`invoice_off_thread`]).
pub async fn render_off_thread(d: Document) -> crate::backend::Result<Vec<u8>> {
    tokio::task::spawn_blocking(move || render(&d))
        .await
        .map_err(|e| crate::backend::BackendError::Blocking(e.to_string()))
}

/// The document as PDF bytes.
pub fn render(d: &Document) -> Vec<u8> {
    let mut w = Writer::new(d);
    w.header(d);
    w.table_header();
    for line in &d.lines {
        let desc = wrap(&line.description, Font::Regular, 10, DESC_W);
        // Keep a line's first rows with its amount.
        w.ensure(14 * i64::try_from(desc.len().min(3)).unwrap_or(3) + 4);
        for (i, row) in desc.iter().enumerate() {
            w.text(LEFT, Font::Regular, 10, row);
            if i == 0 {
                w.text_right(RIGHT, Font::Regular, 10, &line.amount);
            }
            w.advance(13);
            if i + 1 < desc.len() {
                w.ensure(13);
            }
        }
        for detail in &line.details {
            w.ensure(11);
            w.gray(true);
            w.text(LEFT + 10, Font::Regular, 8, detail);
            w.gray(false);
            w.advance(10);
        }
        w.advance(4);
        w.rule(LEFT, RIGHT);
        w.advance(10);
    }
    w.ensure(15 * i64::try_from(d.totals.len()).unwrap_or(4) + 10);
    w.advance(6);
    for (label, amount, strong) in &d.totals {
        let font = if *strong { Font::Bold } else { Font::Regular };
        w.text_right(RIGHT - 110, font, 10, label);
        w.text_right(RIGHT, font, 10, amount);
        w.advance(15);
    }
    w.finish()
}

struct Writer {
    /// "Invoice INV-000042", on every page and in the document's info.
    title: String,
    period: String,
    pages: Vec<String>,
    page: String,
    y: i64,
    fonts: Fonts,
}

impl Writer {
    fn new(d: &Document) -> Writer {
        Writer {
            title: d.title.clone(),
            period: d.period.clone(),
            pages: Vec::new(),
            page: String::new(),
            y: PAGE_H - 60,
            fonts: Fonts::default(),
        }
    }

    /// The first page's header: title, period and status, issue date; seller and buyer on the right.
    fn header(&mut self, d: &Document) {
        let title = self.title.clone();
        self.text(LEFT, Font::Bold, 18, &title);
        self.text_right(RIGHT, Font::Bold, 10, &d.seller);
        self.advance(22);
        let left = [
            format!("Period {} \u{b7} {}", d.period, d.status),
            d.issued.map(|t| format!("Issued {}", format_utc(t))).unwrap_or_default(),
        ];
        for i in 0..left.len().max(d.buyer.len()) {
            if let Some(l) = left.get(i) {
                self.gray(true);
                self.text(LEFT, Font::Regular, 10, l);
                self.gray(false);
            }
            if let Some(r) = d.buyer.get(i) {
                self.text_right(RIGHT, Font::Regular, 10, r);
            }
            self.advance(13);
        }
        self.advance(20);
    }

    fn table_header(&mut self) {
        self.gray(true);
        self.text(LEFT, Font::Bold, 8, "DESCRIPTION");
        self.text_right(RIGHT, Font::Bold, 8, "AMOUNT");
        self.gray(false);
        self.advance(5);
        self.rule(LEFT, RIGHT);
        self.advance(14);
    }

    /// Starts a new page unless `needed` points fit above the bottom margin.
    fn ensure(&mut self, needed: i64) {
        if self.y - needed >= BOTTOM {
            return;
        }
        self.pages.push(std::mem::take(&mut self.page));
        self.y = PAGE_H - 60;
        let continued = format!("{} (continued) \u{b7} period {}", self.title, self.period);
        self.text(LEFT, Font::Bold, 11, &continued);
        self.advance(24);
        self.table_header();
    }

    fn advance(&mut self, dy: i64) {
        self.y -= dy;
    }

    fn gray(&mut self, on: bool) {
        self.page.push_str(if on { "0.4 g\n" } else { "0 g\n" });
    }

    /// A thin grey rule across the table at the current height.
    fn rule(&mut self, x0: i64, x1: i64) {
        self.page.push_str(&format!("0.8 G 0.5 w {x0} {y} m {x1} {y} l S 0 G\n", y = self.y));
    }

    /// `s` starting at `x` points on the current line.
    fn text(&mut self, x: i64, font: Font, size: i64, s: &str) {
        let line = shape(s, font);
        let ops = show(&mut self.fonts, x * 1000, self.y, font, size, &line);
        self.page.push_str(&ops);
    }

    /// `s` ending exactly at `x` points (amounts line up on their last digit).
    fn text_right(&mut self, x: i64, font: Font, size: i64, s: &str) {
        let line = shape(s, font);
        let ops = show(&mut self.fonts, x * 1000 - line.width * size, self.y, font, size, &line);
        self.page.push_str(&ops);
    }

    /// Closes the last page, numbers them all and writes the file with its cross-reference table.
    fn finish(mut self) -> Vec<u8> {
        self.pages.push(std::mem::take(&mut self.page));
        let total = self.pages.len();
        let title = self.title.clone();
        // Footers first: they use glyphs too, and the fonts are written once every glyph is known.
        let mut contents = Vec::with_capacity(total);
        for (i, body) in std::mem::take(&mut self.pages).into_iter().enumerate() {
            let footer = shape(&format!("Page {} of {total}", i + 1), Font::Regular);
            let right = show(&mut self.fonts, RIGHT * 1000 - footer.width * 8, 40, Font::Regular, 8, &footer);
            let left = show(&mut self.fonts, LEFT * 1000, 40, Font::Regular, 8, &shape(&title, Font::Regular));
            contents.push(format!("{body}0.4 g\n{right}{left}0 g\n"));
        }
        // 1 catalog, 2 page tree, 3 info, 4 the pages' shared resources; then a (page, content) pair per
        // page; then six objects per font.
        let first_page = 5;
        let first_font = first_page + 2 * total;
        let (font_objects, font_resources) = self.fonts.objects(first_font);
        let kids: Vec<String> = (0..total).map(|i| format!("{} 0 R", first_page + 2 * i)).collect();
        let mut objects: Vec<Vec<u8>> = vec![
            b"<< /Type /Catalog /Pages 2 0 R >>".to_vec(),
            format!("<< /Type /Pages /Kids [{}] /Count {total} >>", kids.join(" ")).into_bytes(),
            format!("<< /Title <FEFF{}> /Producer (EZSCALE Workspaces) >>", utf16_hex(&title)).into_bytes(),
            format!("<< /Font {font_resources} >>").into_bytes(),
        ];
        for (i, content) in contents.iter().enumerate() {
            objects.push(
                format!(
                    "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 {PAGE_W} {PAGE_H}] /Resources 4 0 R /Contents {} 0 R >>",
                    first_page + 2 * i + 1
                )
                .into_bytes(),
            );
            objects.push(stream("", content.as_bytes(), false));
        }
        objects.extend(font_objects);
        let mut out = b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n".to_vec();
        let mut offsets = Vec::with_capacity(objects.len());
        for (i, o) in objects.iter().enumerate() {
            offsets.push(out.len());
            out.extend_from_slice(format!("{} 0 obj\n", i + 1).as_bytes());
            out.extend_from_slice(o);
            out.extend_from_slice(b"\nendobj\n");
        }
        let xref = out.len();
        out.extend_from_slice(format!("xref\n0 {}\n0000000000 65535 f \n", objects.len() + 1).as_bytes());
        for off in offsets {
            out.extend_from_slice(format!("{off:010} 00000 n \n").as_bytes());
        }
        out.extend_from_slice(
            format!("trailer\n<< /Size {} /Root 1 0 R /Info 3 0 R >>\nstartxref\n{xref}\n%%EOF\n", objects.len() + 1)
                .as_bytes(),
        );
        out
    }
}

/// The operators that draw `line` with its left end at `x` (thousandths of a point) on baseline `y`.
///
/// Glyphs go out as two-byte codes in `TJ` arrays. A glyph's code advances the pen by its width in `/W`;
/// where the shaper moved it (kerning, joined Arabic forms, marks) a number in the array corrects the pen,
/// so the line ends exactly where it was measured. A vertical offset (a mark above or below its letter)
/// is a text rise (`Ts`). Where the fonts' `ToUnicode` maps cannot say what glyphs stand for (a cluster
/// of several glyphs, or a glyph that already stands for other text in this document), those glyphs are
/// marked with their `/ActualText`.
fn show(fonts: &mut Fonts, x: i64, y: i64, style: Font, size: i64, line: &Line) -> String {
    use std::fmt::Write;
    // Writing into a `String` cannot fail (the `let _ =` below). Everything is written in place: a
    // `format!` per glyph was a fifth of the time of a long invoice.
    let mut ops = String::with_capacity(16 + 6 * line.glyphs.len());
    let mut current: Option<usize> = None;
    let mut rise = 0;
    let mut array = String::new();
    let mut hex = String::new();
    // Glyphs still to draw inside an open `/ActualText` span.
    let mut in_span = 0usize;
    let flush = |ops: &mut String, array: &mut String, hex: &mut String| {
        if !hex.is_empty() {
            push_hex_string(array, hex);
        }
        if !array.is_empty() {
            ops.push('[');
            ops.push_str(array);
            ops.push_str("] TJ ");
            array.clear();
        }
    };
    for g in &line.glyphs {
        if current != Some(g.face) {
            flush(&mut ops, &mut array, &mut hex);
            let _ = write!(ops, "/{} {size} Tf ", Fonts::resource(style, g.face));
            current = Some(g.face);
        }
        if g.y_offset != rise {
            flush(&mut ops, &mut array, &mut hex);
            let _ = write!(ops, "{} Ts ", milli(i64::from(g.y_offset) * size));
            rise = g.y_offset;
        }
        let (code, width, names_it) = fonts.code(style, g);
        if in_span == 0 && (g.span > 0 || !names_it) {
            flush(&mut ops, &mut array, &mut hex);
            let actual = if g.span > 0 { &g.actual } else { &g.text };
            let _ = write!(ops, "/Span << /ActualText <FEFF{}> >> BDC ", utf16_hex(actual));
            in_span = g.span.max(1);
        }
        if g.x_offset != 0 {
            if !hex.is_empty() {
                push_hex_string(&mut array, &mut hex);
            }
            let _ = write!(array, " {} ", -g.x_offset);
        }
        push_hex4(&mut hex, code);
        let adjust = width - g.advance + g.x_offset;
        if adjust != 0 {
            push_hex_string(&mut array, &mut hex);
            let _ = write!(array, " {adjust} ");
        }
        if in_span > 0 {
            in_span -= 1;
            if in_span == 0 {
                flush(&mut ops, &mut array, &mut hex);
                ops.push_str("EMC ");
            }
        }
    }
    flush(&mut ops, &mut array, &mut hex);
    if in_span > 0 {
        ops.push_str("EMC ");
    }
    if rise != 0 {
        ops.push_str("0 Ts ");
    }
    format!("BT {} {y} Td {ops}ET\n", milli(x))
}

/// Moves the codes gathered in `hex` into `array` as one hex string (`<…>`).
fn push_hex_string(array: &mut String, hex: &mut String) {
    array.push('<');
    array.push_str(hex);
    array.push('>');
    hex.clear();
}

/// `code` as four upper-case hex digits, as `format!("{code:04X}")` writes it.
fn push_hex4(out: &mut String, code: u16) {
    const DIGITS: &[u8; 16] = b"0123456789ABCDEF";
    for shift in [12, 8, 4, 0] {
        out.push(char::from(DIGITS[usize::from((code >> shift) & 0xF)]));
    }
}

/// Thousandths as a PDF number: `12345` → `12.345`, `-500` → `-0.5`.
fn milli(v: i64) -> String {
    let sign = if v < 0 { "-" } else { "" };
    let (whole, frac) = (v.unsigned_abs() / 1000, v.unsigned_abs() % 1000);
    if frac == 0 {
        format!("{sign}{whole}")
    } else {
        format!("{sign}{whole}.{}", format!("{frac:03}").trim_end_matches('0'))
    }
}

/// The width of `s` in points at `size`, rounded up (its shaped advances).
fn width(s: &str, font: Font, size: i64) -> i64 {
    (shape(s, font).width * size + 999) / 1000
}

/// Splits `s` into rows no wider than `max` points, at spaces where it can (a word longer than a row is
/// cut, which is also how text without spaces, such as Chinese or Japanese, wraps).
fn wrap(s: &str, font: Font, size: i64, max: i64) -> Vec<String> {
    let mut rows = Vec::new();
    let mut row = String::new();
    for word in s.split_whitespace() {
        let candidate = if row.is_empty() { word.to_owned() } else { format!("{row} {word}") };
        if width(&candidate, font, size) <= max {
            row = candidate;
            continue;
        }
        if !row.is_empty() {
            rows.push(std::mem::take(&mut row));
        }
        // A word wider than a row on its own: cut it.
        let mut piece = String::new();
        for c in word.chars() {
            piece.push(c);
            if width(&piece, font, size) > max {
                piece.pop();
                rows.push(std::mem::take(&mut piece));
                piece.push(c);
            }
        }
        row = piece;
    }
    if !row.is_empty() || rows.is_empty() {
        rows.push(row);
    }
    rows
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use std::collections::HashMap;
    use std::io::Read;

    use super::*;
    use crate::domain::invoice::{BilledSession, DocumentLine};
    use crate::domain::money::{Currency, Money};
    use crate::domain::time::Timestamp;
    use rustybuzz::ttf_parser;

    fn view(lines: usize, sessions_per_line: usize) -> InvoiceDocument {
        let eur = |m| Money::from_minor(m, Currency::EUR);
        InvoiceDocument {
            id: "inv-1".into(),
            number: "INV-000042".into(),
            kind: crate::domain::billing_state::InvoiceKind::Invoice,
            status: crate::domain::billing_state::InvoiceStatus::Finalised,
            period: "2026-10".into(),
            company: "Acme (Cloud) \\ Ltd".into(),
            customer_name: "Zoë Müller".into(),
            customer_email: "zoe@example.com".into(),
            issued: Some(Timestamp::from_millis(1_793_491_200_000)),
            lines: (0..lines)
                .map(|i| DocumentLine {
                    description: format!("Developer Pro workspace {i:08} — 8 × 15 min at €0.60/h"),
                    increments: 8,
                    rate: Some("0.60".into()),
                    amount: eur(120),
                    sessions: (0..sessions_per_line)
                        .map(|s| {
                            let t = 1_790_000_000_000 + i64::try_from(s).unwrap() * 3_600_000;
                            BilledSession {
                                started_at: Timestamp::from_millis(t),
                                ended_at: Some(Timestamp::from_millis(t + 1_800_000)),
                                increments: 2,
                            }
                        })
                        .collect(),
                })
                .collect(),
            total: eur(120 * i64::try_from(lines).unwrap()),
            credit_applied: eur(100),
            card_paid: eur(0),
            due: eur(120 * i64::try_from(lines).unwrap() - 100),
        }
    }

    /// An invoice whose names and lines are in every script the fonts cover.
    const SCRIPTS: [&str; 7] = [
        "Łukasz Żółć-Dąbrowski, Ğüneş Şahin, Nguyễn Thị Ánh",
        "ООО «Облако» — Ёлка и Щука",
        "Ελληνικά Σύννεφα Α.Ε.",
        "東京クラウド株式会社",
        "云计算有限公司 雲端運算",
        "서울 클라우드 주식회사",
        "شركة السحاب للحوسبة",
    ];

    fn every_script() -> InvoiceDocument {
        let mut v = view(0, 0);
        v.company = SCRIPTS[3].into();
        v.customer_name = SCRIPTS[0].into();
        v.lines = SCRIPTS
            .iter()
            .map(|s| DocumentLine {
                description: format!("Workspace {s}"),
                increments: 4,
                rate: Some("0.60".into()),
                amount: Money::from_minor(60, Currency::EUR),
                sessions: Vec::new(),
            })
            .collect();
        v
    }

    /// The file's objects by number, found through the cross-reference table the way a reader finds them,
    /// after checking the skeleton: every xref offset lands on its object, `startxref` lands on the table,
    /// stream lengths are exact, and the page tree counts the page objects.
    fn objects(pdf: &[u8]) -> HashMap<usize, Vec<u8>> {
        assert!(pdf.starts_with(b"%PDF-1.4\n"));
        assert!(pdf.ends_with(b"%%EOF\n"));
        let tail = String::from_utf8_lossy(&pdf[pdf.len() - 40..]).into_owned();
        let sx = tail.rfind("startxref\n").unwrap();
        let xref: usize = tail[sx + 10..].lines().next().unwrap().parse().unwrap();
        assert!(pdf[xref..].starts_with(b"xref\n"));
        let table = String::from_utf8_lossy(&pdf[xref..]).into_owned();
        let mut lines = table.lines().skip(1);
        let size: usize = lines.next().unwrap().split(' ').nth(1).unwrap().parse().unwrap();
        let offsets: Vec<usize> = lines.take(size).skip(1).map(|e| e[..10].parse().unwrap()).collect();
        assert_eq!(offsets.len(), size - 1);
        let mut out = HashMap::new();
        for (i, off) in offsets.iter().enumerate() {
            let n = i + 1;
            let head = format!("{n} 0 obj\n");
            assert!(pdf[*off..].starts_with(head.as_bytes()), "object {n} not at {off}");
            let body = &pdf[off + head.len()..];
            let body = if body.starts_with(b"<< /Length ") {
                // A stream: its length must land exactly on the end-of-line before `endstream`.
                let text = String::from_utf8_lossy(&body[..80.min(body.len())]).into_owned();
                let len: usize = text[11..].split(' ').next().unwrap().parse().unwrap();
                let start = text.find("stream\n").unwrap() + 7;
                assert!(body[start + len..].starts_with(b"\nendstream\nendobj\n"), "stream {n}'s length");
                body[..start + len].to_vec()
            } else {
                let end = body.windows(8).position(|w| w == b"\nendobj\n").unwrap();
                body[..end].to_vec()
            };
            out.insert(n, body);
        }
        let pages = String::from_utf8_lossy(&out[&2]).into_owned();
        let count: usize = pages.split("/Count ").nth(1).unwrap().split(' ').next().unwrap().parse().unwrap();
        let kids = out.values().filter(|o| o.starts_with(b"<< /Type /Page /Parent")).count();
        assert_eq!(kids, count);
        out
    }

    fn pages(pdf: &[u8]) -> usize {
        let o = objects(pdf);
        let pages = String::from_utf8_lossy(&o[&2]).into_owned();
        pages.split("/Count ").nth(1).unwrap().split(' ').next().unwrap().parse().unwrap()
    }

    /// A stream's data, inflated when it is compressed.
    fn data(obj: &[u8]) -> Vec<u8> {
        let start = obj.windows(7).position(|w| w == b"stream\n").unwrap() + 7;
        let head = String::from_utf8_lossy(&obj[..start]).into_owned();
        if head.contains("/FlateDecode") {
            let mut out = Vec::new();
            flate2::read::ZlibDecoder::new(&obj[start..]).read_to_end(&mut out).unwrap();
            out
        } else {
            obj[start..].to_vec()
        }
    }

    /// The data of the streams that the dictionaries starting with `dict` name at `key`, sorted.
    fn referenced_streams(pdf: &[u8], dict: &str, key: &str) -> Vec<Vec<u8>> {
        let o = objects(pdf);
        let mut found: Vec<Vec<u8>> = o
            .values()
            .filter(|obj| String::from_utf8_lossy(obj).starts_with(dict))
            .map(|d| data(&o[&reference(&String::from_utf8_lossy(d), key)]))
            .collect();
        found.sort();
        found
    }

    /// The object number after `key` in a dictionary (`/Contents 7 0 R`, `/DescendantFonts [8 0 R]`).
    fn reference(dict: &str, key: &str) -> usize {
        dict.split(key).nth(1).unwrap().trim_start().split(' ').next().unwrap().parse().unwrap()
    }

    fn hex_utf16(hex: &str) -> String {
        let units: Vec<u16> =
            (0..hex.len() / 4).map(|i| u16::from_str_radix(&hex[i * 4..i * 4 + 4], 16).unwrap()).collect();
        String::from_utf16(&units).unwrap()
    }

    /// Each font resource's ToUnicode map, code → text.
    fn to_unicode_maps(o: &HashMap<usize, Vec<u8>>) -> HashMap<String, HashMap<u16, String>> {
        let resources = String::from_utf8_lossy(&o[&4]).into_owned();
        let mut maps = HashMap::new();
        for entry in resources.split(" /").skip(2) {
            let mut tokens = entry.split(' ');
            let name = tokens.next().unwrap().to_owned();
            let font: usize = tokens.next().unwrap().parse().unwrap();
            let type0 = String::from_utf8_lossy(&o[&font]).into_owned();
            let cmap = String::from_utf8(data(&o[&reference(&type0, "/ToUnicode")])).unwrap();
            let mut map = HashMap::new();
            for line in cmap.lines().filter(|l| l.starts_with('<') && !l.contains("> <FFFF>")) {
                let (code, text) = line.split_once("> <").unwrap();
                map.insert(u16::from_str_radix(&code[1..], 16).unwrap(), hex_utf16(text.trim_end_matches('>')));
            }
            maps.insert(name, map);
        }
        maps
    }

    /// What a reader meets left to right, one drawn line (`BT … ET`) per row: glyph codes decoded through
    /// the fonts' ToUnicode maps, or a span's `/ActualText` where it has one. (Right-to-left runs come out
    /// reversed, as drawn; a reader such as `pdftotext` turns them back, which the integration test checks.)
    fn shown_text(pdf: &[u8]) -> String {
        let o = objects(pdf);
        let maps = to_unicode_maps(&o);
        let mut contents: Vec<(usize, usize)> = o
            .iter()
            .filter(|(_, v)| v.starts_with(b"<< /Type /Page /Parent"))
            .map(|(n, v)| (*n, reference(&String::from_utf8_lossy(v), "/Contents")))
            .collect();
        contents.sort_unstable();
        let mut out = String::new();
        for (_, c) in contents {
            let content = String::from_utf8(data(&o[&c])).unwrap();
            for line in content.lines().filter(|l| l.starts_with("BT ")) {
                let tokens: Vec<&str> = line.split(' ').collect();
                let mut font = String::new();
                let mut in_span = false;
                let mut i = 0;
                while i < tokens.len() {
                    let t = tokens[i];
                    if t == "Tf" {
                        font = tokens[i - 2].trim_start_matches('/').to_owned();
                    } else if t == "/ActualText" {
                        let hex = tokens[i + 1].trim_start_matches("<FEFF").trim_end_matches('>');
                        out.push_str(&hex_utf16(hex));
                        in_span = true;
                        i += 1;
                    } else if t == "EMC" {
                        in_span = false;
                    } else if !in_span {
                        for hex in t.split('<').skip(1) {
                            let hex = hex.split('>').next().unwrap();
                            for k in 0..hex.len() / 4 {
                                let code = u16::from_str_radix(&hex[k * 4..k * 4 + 4], 16).unwrap();
                                out.push_str(&maps[&font][&code]);
                            }
                        }
                    }
                    i += 1;
                }
                out.push('\n');
            }
        }
        out
    }

    #[test]
    fn a_short_invoice_is_one_well_formed_page_with_every_figure() {
        let v = view(2, 2);
        let pdf = invoice(&v);
        assert_eq!(pages(&pdf), 1);
        let shown = shown_text(&pdf);
        for needle in [
            "Invoice INV-000042",
            "Acme (Cloud) \\ Ltd",
            "Zoë Müller",
            "Developer Pro workspace 00000001 — 8 × 15 min at €0.60/h",
            "€1.20",
            "€2.40",
            "€1.40",
            "Page 1 of 1",
        ] {
            assert!(shown.contains(needle), "{needle:?} missing from:\n{shown}");
        }
        // Two faces (Noto Sans regular and bold), only the glyphs used: a few kilobytes each.
        assert!(pdf.len() < 40_000, "{} bytes", pdf.len());
        eprintln!("typical invoice (2 lines × 2 sessions): {} bytes", pdf.len());
    }

    #[test]
    fn long_invoices_break_into_numbered_pages_that_repeat_the_header() {
        let v = view(30, 12);
        let pdf = invoice(&v);
        let pages = pages(&pdf);
        assert!(pages >= 5, "{pages} pages");
        let shown = shown_text(&pdf);
        assert_eq!(shown.matches("DESCRIPTION").count(), pages);
        assert!(shown.contains(&format!("Page {pages} of {pages}")));
        assert_eq!(shown.matches("€1.20").count(), 30);
        // Every y position stays on the page, above the footer.
        let text = String::from_utf8_lossy(&pdf);
        for td in text.split(" Td").filter_map(|p| p.rsplit(' ').next()) {
            let y: i64 = td.parse().unwrap_or(100);
            assert!((40..=PAGE_H).contains(&y), "y {y}");
        }
    }

    #[test]
    fn every_script_reads_back_exactly_through_the_embedded_fonts() {
        let pdf = invoice(&every_script());
        let shown = shown_text(&pdf);
        for s in SCRIPTS {
            // Arabic is drawn right to left: met from the left, its characters come last to first.
            let drawn: String = if s.starts_with('ش') { s.chars().rev().collect() } else { s.to_owned() };
            assert!(shown.lines().any(|l| l == format!("Workspace {drawn}")), "{s:?} missing from:\n{shown}");
        }
        assert!(shown.lines().any(|l| l == SCRIPTS[3]), "the seller, bold:\n{shown}");
        assert!(shown.lines().any(|l| l == SCRIPTS[0]), "the buyer:\n{shown}");
        // Not one missing glyph: every code has its text.
        assert!(!shown.contains('?') && !shown.contains('\u{fffd}'), "{shown}");
        // Only Arabic needs spans: Noto Sans Arabic draws a letter as its undotted shape plus its dots, and
        // those pieces are shared between letters, so only `/ActualText` can say which letter they are.
        let text = String::from_utf8_lossy(&pdf);
        // (Noto Sans does the same with a few Vietnamese letters, such as ị.) Cyrillic, Greek, Chinese,
        // Japanese and Korean glyphs each name their own characters.
        for line in text.lines().filter(|l| l.starts_with("BT ")) {
            let arabic = line.contains("/R1 10 Tf");
            assert_eq!(arabic, arabic && line.contains("/ActualText"), "the Arabic line has spans: {line}");
            if line.contains("/R2 ") || line.contains("/R3 ") || line.contains("/B2 ") {
                assert!(!line.contains("/ActualText"), "{line}");
            }
        }
    }

    #[test]
    fn each_face_is_embedded_as_a_subset_whose_widths_match_its_glyphs() {
        let pdf = invoice(&every_script());
        let o = objects(&pdf);
        let resources = String::from_utf8_lossy(&o[&4]).into_owned();
        // Every face of the regular chain and Noto Sans and SC bold (title, seller).
        for name in ["R0", "R1", "R2", "R3", "B0", "B2"] {
            assert!(resources.contains(&format!("/{name} ")), "{name} in {resources}");
        }
        let mut faces = 0;
        for (n, obj) in &o {
            let dict = String::from_utf8_lossy(obj).into_owned();
            if !dict.starts_with("<< /Type /Font /Subtype /Type0") {
                continue;
            }
            faces += 1;
            assert!(dict.contains("/Encoding /Identity-H") && dict.contains("/ToUnicode "), "{dict}");
            let cid = String::from_utf8_lossy(&o[&reference(&dict, "/DescendantFonts [")]).into_owned();
            assert!(cid.contains("/Subtype /CIDFontType2"), "{cid}");
            let descriptor = String::from_utf8_lossy(&o[&reference(&cid, "/FontDescriptor")]).into_owned();
            let program = data(&o[&reference(&descriptor, "/FontFile2")]);
            let face = ttf_parser::Face::parse(&program, 0).expect("the subset is a font");
            // Each code's glyph in the subset: two bytes per code, from code 0.
            let map = data(&o[&reference(&cid, "/CIDToGIDMap")]);
            assert_eq!(map.len() % 2, 0);
            let gid_of = |code: u16| u16::from_be_bytes([map[usize::from(code) * 2], map[usize::from(code) * 2 + 1]]);
            assert_eq!(gid_of(0), 0, "code 0 is the missing-glyph box");
            // Codes in order of first use, glyphs in the face's order: the map is one-to-one.
            let mut gids: Vec<u16> = (0..u16::try_from(map.len() / 2).unwrap()).map(gid_of).collect();
            gids.sort_unstable();
            gids.dedup();
            assert_eq!(gids.len(), map.len() / 2, "object {n}: two codes share a glyph");
            // Widths: `/W [first [w w …] …]` must equal the advances of the codes' glyphs in the subset.
            let w = cid.split("/W [").nth(1).unwrap();
            let w = &w[..w.rfind("]]").unwrap() + 1];
            let mut checked = 0;
            for group in w.split(']').filter(|g| !g.trim().is_empty()) {
                let (first, widths) = group.split_once('[').unwrap();
                let first: u16 = first.trim().parse().unwrap();
                for (k, width) in widths.split_whitespace().enumerate() {
                    let gid = ttf_parser::GlyphId(gid_of(first + u16::try_from(k).unwrap()));
                    let upem = i64::from(face.units_per_em());
                    let own = shape::per_mille(i32::from(face.glyph_hor_advance(gid).unwrap()), upem);
                    assert_eq!(width.parse::<i32>().unwrap(), own, "object {n} glyph {gid:?}");
                    checked += 1;
                }
            }
            // Only the glyphs drawn (and the missing-glyph box, and the parts of composite glyphs such as
            // accented letters): a few dozen, of thousands in each face.
            assert!(usize::from(face.number_of_glyphs()) > checked, "object {n}");
            assert!(face.number_of_glyphs() < 120, "object {n}: {} glyphs", face.number_of_glyphs());
            let base = dict.split("/BaseFont /").nth(1).unwrap().split(' ').next().unwrap();
            assert!(base.len() > 7 && base.as_bytes()[6] == b'+', "subset tag: {base}");
        }
        assert_eq!(faces, 6);
        // The whole document stays small although SC alone is 10 MB.
        assert!(pdf.len() < 120_000, "{} bytes", pdf.len());
    }

    #[test]
    fn each_character_takes_the_first_face_that_has_it() {
        let faces = |s: &str| shape(s, Font::Regular).glyphs.iter().map(|g| g.face).collect::<Vec<_>>();
        assert_eq!(faces("Łž"), vec![0, 0]);
        assert_eq!(faces("Жω"), vec![0, 0]);
        assert_eq!(faces("東ク"), vec![2, 2]);
        assert_eq!(faces("한"), vec![3]);
        // The space between two Arabic words stays in the Arabic face, so the words shape as one run.
        assert!(faces("بب بب").iter().all(|f| *f == 1), "{:?}", faces("بب بب"));
        // Digits after Arabic go back to Noto Sans.
        let digits = shape("ب 42", Font::Regular);
        assert_eq!(digits.glyphs.iter().find(|g| g.text == "4").map(|g| g.face), Some(0));
    }

    #[test]
    fn arabic_is_joined_and_drawn_right_to_left() {
        let ids = |s: &str| shape(s, Font::Regular).glyphs.iter().map(|g| g.id).collect::<Vec<_>>();
        let word = shape("بيت", Font::Regular);
        assert!(word.glyphs.iter().all(|g| g.face == 1), "{word:?}");
        // Visual order: the last letter (final teh) is drawn first, at the left; each letter's glyphs name it.
        let met: String = word.glyphs.iter().map(|g| g.text.as_str()).collect();
        assert_eq!(met, "تيب");
        // Joined: initial beh, medial yeh and final teh are not the shapes the letters take alone.
        let alone: Vec<u16> = ["ت", "ي", "ب"].iter().flat_map(|c| ids(c)).collect();
        assert_ne!(ids("بيت"), alone);
        // The line is as wide as the shaped advances, and narrower than the letters set apart.
        assert!(word.width < ["ب", "ي", "ت"].iter().map(|c| shape(c, Font::Regular).width).sum::<i64>());
        // Lam followed by alef takes its mandatory lam-alef forms (Noto Sans Arabic draws them as a pair of
        // contextual glyphs), each naming its letter as a reader meets them.
        let la = shape("لا", Font::Regular);
        assert_eq!(la.glyphs.iter().map(|g| g.text.as_str()).collect::<String>(), "ال");
        assert_ne!(ids("لا"), ["ا", "ل"].iter().flat_map(|c| ids(c)).collect::<Vec<_>>());
        // A right-to-left name inside a left-to-right line keeps the line's order around it.
        let mixed = shape("Bill شركة Ltd", Font::Regular);
        let met: String = mixed.glyphs.iter().map(|g| g.text.as_str()).collect();
        assert_eq!(met, "Bill ةكرش Ltd");
        // The run is one span, as a reader meets it, ended by a left-to-right mark (text follows it).
        let run: Vec<&shape::Glyph> = mixed.glyphs.iter().filter(|g| g.face == 1).collect();
        assert_eq!((run[0].span, run[0].actual.as_str()), (run.len(), "ةكرش\u{200e}"));
        assert!(run[1..].iter().all(|g| g.span == 0));
        let ltr = shape("Łukasz Облако 東京", Font::Regular);
        assert_eq!(ltr.glyphs.iter().map(|g| g.text.as_str()).collect::<String>(), "Łukasz Облако 東京");
    }

    #[test]
    fn widths_are_the_fonts_advances_and_rows_wrap_within_the_column() {
        // Noto Sans has no kerning between these: the width is the sum of hmtx advances, read directly.
        let face = ttf_parser::Face::parse(fonts::REGULAR[0].data, 0).unwrap();
        let advance = |c| i64::from(face.glyph_hor_advance(face.glyph_index(c).unwrap()).unwrap());
        let units = 3 * advance('0') + advance('.');
        assert_eq!(shape("0.00", Font::Regular).width, units);
        assert_eq!(width("0.00", Font::Regular, 10), (units * 10 + 999) / 1000);
        let rows = wrap(&"word ".repeat(60), Font::Regular, 10, DESC_W);
        assert!(rows.len() > 1);
        assert!(rows.iter().all(|r| width(r, Font::Regular, 10) <= DESC_W));
        let long = wrap(&"x".repeat(500), Font::Regular, 10, DESC_W);
        assert!(long.iter().all(|r| width(r, Font::Regular, 10) <= DESC_W));
        assert_eq!(long.concat().len(), 500);
        assert_eq!(wrap("", Font::Regular, 10, DESC_W), vec![String::new()]);
        // Japanese has no spaces: it wraps by character, every row within the column, nothing lost.
        let jp = "東京クラウド株式会社".repeat(8);
        let rows = wrap(&jp, Font::Regular, 10, DESC_W);
        assert!(rows.len() > 1 && rows.iter().all(|r| width(r, Font::Regular, 10) <= DESC_W));
        assert_eq!(rows.concat(), jp);
    }

    #[test]
    fn numbers_and_text_are_written_the_way_pdf_reads_them() {
        assert_eq!(milli(12_345), "12.345");
        assert_eq!(milli(-500), "-0.5");
        assert_eq!(milli(40_000), "40");
        assert_eq!(milli(0), "0");
        assert_eq!(utf16_hex("Ł東"), "01416771");
        // Outside the Basic Multilingual Plane: a surrogate pair.
        assert_eq!(utf16_hex("𝄞"), "D834DD1E");
        // Control characters print as spaces.
        assert_eq!(shape("a\nb", Font::Regular).text, "a b");
        // Glyph codes, as `format!` would write them.
        for code in 0..=u16::MAX {
            let mut hex = String::new();
            push_hex4(&mut hex, code);
            assert_eq!(hex, format!("{code:04X}"));
        }
    }

    /// Font subsets are kept for the process: a document printed again, after others with other glyphs,
    /// is the same file, and documents with different glyphs embed different subsets.
    #[test]
    fn a_document_printed_again_is_the_same_file() {
        let short = invoice(&view(1, 1));
        let scripts = invoice(&every_script());
        let long = invoice(&view(6, 40));
        assert_eq!(invoice(&view(1, 1)), short);
        assert_eq!(invoice(&every_script()), scripts);
        assert_eq!(invoice(&view(6, 40)), long);
        let programs = |pdf: &[u8]| referenced_streams(pdf, "<< /Type /FontDescriptor", "/FontFile2");
        let (a, b) = (programs(&short), programs(&scripts));
        assert!(!a.is_empty() && a.iter().all(|p| !b.contains(p)), "a subset reused for other glyphs");

        // The same glyphs first drawn in another order (workspace names of the same letters): one subset, each
        // document's codes taken to it by its own map, and each reads back as written.
        let mut first = view(2, 1);
        first.lines[0].description = "Workspace QJK — 1 × 15 min".into();
        first.lines[1].description = "Workspace KJQ — 1 × 15 min".into();
        let mut second = first.clone();
        second.lines.reverse();
        let (pdf1, pdf2) = (invoice(&first), invoice(&second));
        assert_eq!(programs(&pdf1), programs(&pdf2), "the same glyphs, one subset");
        let maps = |pdf: &[u8]| referenced_streams(pdf, "<< /Type /Font /Subtype /CIDFontType2", "/CIDToGIDMap");
        assert_ne!(maps(&pdf1), maps(&pdf2), "codes are numbered in each document's order of first use");
        for (pdf, v) in [(&pdf1, &first), (&pdf2, &second)] {
            let text = shown_text(pdf);
            let at = |d: &str| text.find(d).unwrap_or_else(|| panic!("{d} in {text}"));
            assert!(at(&v.lines[0].description) < at(&v.lines[1].description), "{text}");
        }
    }
}
