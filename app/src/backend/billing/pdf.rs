//! Invoices as PDF, written directly: no rendering engine, no fonts to ship, no floats.
//!
//! A4 pages in PDF 1.4 with the two base-14 fonts every reader has (Helvetica and Helvetica-Bold, WinAnsi
//! encoding), so nothing is embedded and a document is a few kilobytes. Text is measured with the fonts'
//! published widths (in thousandths of the font size) so amounts line up on the right and long descriptions
//! wrap. Pages break as needed, the table header repeats, and every page says "page n of N". Content
//! streams are left uncompressed: the file stays inspectable and small enough. Characters outside WinAnsi
//! print as `?` (the HTML invoice shows them as they are).
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

#[derive(Clone, Copy)]
enum Font {
    Regular,
    Bold,
}

impl Font {
    const fn resource(self) -> &'static str {
        match self {
            Font::Regular => "F1",
            Font::Bold => "F2",
        }
    }
}

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
}

impl Writer {
    fn new(d: &Document) -> Writer {
        Writer {
            title: d.title.clone(),
            period: d.period.clone(),
            pages: Vec::new(),
            page: String::new(),
            y: PAGE_H - 60,
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

    fn text(&mut self, x: i64, font: Font, size: i64, s: &str) {
        self.page.push_str(&format!("BT /{} {size} Tf {x} {} Td {} Tj ET\n", font.resource(), self.y, literal(s)));
    }

    fn text_right(&mut self, x: i64, font: Font, size: i64, s: &str) {
        let w = width(s, font, size);
        self.text(x - w, font, size, s);
    }

    /// Closes the last page, numbers them all and writes the file with its cross-reference table.
    fn finish(mut self) -> Vec<u8> {
        self.pages.push(std::mem::take(&mut self.page));
        let total = self.pages.len();
        let title = self.title.clone();
        let mut objects: Vec<String> = Vec::new();
        // 1 catalog, 2 page tree, 3-4 fonts, 5 info; then a (page, content) pair per page.
        let first_page = 6;
        let kids: Vec<String> = (0..total).map(|i| format!("{} 0 R", first_page + 2 * i)).collect();
        objects.push("<< /Type /Catalog /Pages 2 0 R >>".into());
        objects.push(format!("<< /Type /Pages /Kids [{}] /Count {total} >>", kids.join(" ")));
        objects.push("<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>".into());
        objects.push("<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica-Bold /Encoding /WinAnsiEncoding >>".into());
        objects.push(format!("<< /Title {} /Producer (EZSCALE Workspaces) >>", literal(&title)));
        for (i, body) in self.pages.iter().enumerate() {
            let footer = format!("Page {} of {total}", i + 1);
            let footer = format!(
                "0.4 g BT /F1 8 Tf {} 40 Td {} Tj ET BT /F1 8 Tf {LEFT} 40 Td {} Tj ET 0 g\n",
                RIGHT - width(&footer, Font::Regular, 8),
                literal(&footer),
                literal(&title)
            );
            let content = format!("{body}{footer}");
            objects.push(format!(
                "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 {PAGE_W} {PAGE_H}] \
                 /Resources << /Font << /F1 3 0 R /F2 4 0 R >> >> /Contents {} 0 R >>",
                first_page + 2 * i + 1
            ));
            objects.push(format!("<< /Length {} >>\nstream\n{content}endstream", content.len()));
        }
        let mut out = b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n".to_vec();
        let mut offsets = Vec::with_capacity(objects.len());
        for (i, o) in objects.iter().enumerate() {
            offsets.push(out.len());
            out.extend_from_slice(format!("{} 0 obj\n{o}\nendobj\n", i + 1).as_bytes());
        }
        let xref = out.len();
        out.extend_from_slice(format!("xref\n0 {}\n0000000000 65535 f \n", objects.len() + 1).as_bytes());
        for off in offsets {
            out.extend_from_slice(format!("{off:010} 00000 n \n").as_bytes());
        }
        out.extend_from_slice(
            format!("trailer\n<< /Size {} /Root 1 0 R /Info 5 0 R >>\nstartxref\n{xref}\n%%EOF\n", objects.len() + 1)
                .as_bytes(),
        );
        out
    }
}

/// A PDF literal string in WinAnsi: `(` `)` `\` escaped, bytes above ASCII as octal escapes, so the file
/// itself stays 7-bit apart from its binary marker.
fn literal(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('(');
    for c in s.chars() {
        let b = win_ansi(c);
        match b {
            b'(' | b')' | b'\\' => {
                out.push('\\');
                out.push(char::from(b));
            }
            0x20..=0x7e => out.push(char::from(b)),
            _ => out.push_str(&format!("\\{b:03o}")),
        }
    }
    out.push(')');
    out
}

/// The WinAnsiEncoding byte for `c`; `?` when it has none, a space for control characters.
fn win_ansi(c: char) -> u8 {
    let u = u32::from(c);
    match u {
        0x20..=0x7e | 0xa0..=0xff => u8::try_from(u).unwrap_or(b'?'),
        0..=0x1f | 0x7f..=0x9f => b' ',
        _ => match c {
            '€' => 0x80,
            '‚' => 0x82,
            'ƒ' => 0x83,
            '„' => 0x84,
            '…' => 0x85,
            '†' => 0x86,
            '‡' => 0x87,
            'ˆ' => 0x88,
            '‰' => 0x89,
            'Š' => 0x8a,
            '‹' => 0x8b,
            'Œ' => 0x8c,
            'Ž' => 0x8e,
            '\u{2018}' => 0x91,
            '\u{2019}' => 0x92,
            '\u{201c}' => 0x93,
            '\u{201d}' => 0x94,
            '•' => 0x95,
            '–' => 0x96,
            '—' => 0x97,
            '˜' => 0x98,
            '™' => 0x99,
            'š' => 0x9a,
            '›' => 0x9b,
            'œ' => 0x9c,
            'ž' => 0x9e,
            'Ÿ' => 0x9f,
            _ => b'?',
        },
    }
}

/// Glyph widths of printable ASCII (32–126) in 1/1000 of the font size, from the fonts' AFM files.
#[rustfmt::skip]
const HELVETICA: [u16; 95] = [
    278, 278, 355, 556, 556, 889, 667, 191, 333, 333, 389, 584, 278, 333, 278, 278,
    556, 556, 556, 556, 556, 556, 556, 556, 556, 556, 278, 278, 584, 584, 584, 556,
    1015, 667, 667, 722, 722, 667, 611, 778, 722, 278, 500, 667, 556, 833, 722, 778,
    667, 778, 722, 667, 611, 722, 667, 944, 667, 667, 611, 278, 278, 278, 469, 556,
    333, 556, 556, 500, 556, 556, 278, 556, 556, 222, 222, 500, 222, 833, 556, 556,
    556, 556, 333, 500, 278, 556, 500, 722, 500, 500, 500, 334, 260, 334, 584,
];
#[rustfmt::skip]
const HELVETICA_BOLD: [u16; 95] = [
    278, 333, 474, 556, 556, 889, 722, 238, 333, 333, 389, 584, 278, 333, 278, 278,
    556, 556, 556, 556, 556, 556, 556, 556, 556, 556, 333, 333, 584, 584, 584, 611,
    975, 722, 722, 722, 722, 667, 611, 778, 722, 278, 556, 722, 611, 833, 722, 778,
    667, 778, 722, 667, 611, 722, 667, 944, 667, 667, 611, 333, 278, 333, 584, 556,
    333, 556, 611, 556, 611, 556, 333, 611, 611, 278, 278, 556, 278, 889, 611, 611,
    611, 611, 389, 556, 333, 611, 556, 778, 556, 556, 500, 389, 280, 389, 584,
];

fn glyph_width(b: u8, font: Font) -> i64 {
    let table = match font {
        Font::Regular => &HELVETICA,
        Font::Bold => &HELVETICA_BOLD,
    };
    match b {
        0x20..=0x7e => i64::from(table[usize::from(b - 0x20)]),
        0x96 => 556,  // en dash
        0xb7 => 278,  // middle dot
        0x97 => 1000, // em dash
        0xd7 => 584,
        _ => 556,
    }
}

/// The width of `s` in points at `size`, rounded up.
fn width(s: &str, font: Font, size: i64) -> i64 {
    let units: i64 = s.chars().map(|c| glyph_width(win_ansi(c), font)).sum();
    (units * size + 999) / 1000
}

/// Splits `s` into rows no wider than `max` points, at spaces where it can (a word longer than a row is cut).
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
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::domain::invoice::{BilledSession, DocumentLine};
    use crate::domain::money::{Currency, Money};
    use crate::domain::time::Timestamp;

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

    /// Checks the file's skeleton the way a reader does: every xref offset lands on its object, `startxref`
    /// lands on the table, stream lengths are exact, and the page tree counts the page objects.
    fn check_structure(pdf: &[u8]) -> usize {
        // Byte offsets must stay exact: the binary marker's bytes become '?' one for one.
        let ascii: Vec<u8> = pdf.iter().map(|b| if b.is_ascii() { *b } else { b'?' }).collect();
        let text = String::from_utf8(ascii).unwrap();
        assert!(pdf.starts_with(b"%PDF-1.4\n"));
        assert!(text.ends_with("%%EOF\n"));
        let sx = text.rfind("startxref\n").unwrap();
        let xref: usize = text[sx + 10..].lines().next().unwrap().parse().unwrap();
        assert!(pdf[xref..].starts_with(b"xref\n"));
        let table = &text[xref..sx];
        let mut lines = table.lines().skip(1);
        let size: usize = lines.next().unwrap().split(' ').nth(1).unwrap().parse().unwrap();
        let entries: Vec<&str> = lines.take(size).collect();
        assert_eq!(entries.len(), size);
        for (n, e) in entries.iter().enumerate().skip(1) {
            let off: usize = e[..10].parse().unwrap();
            assert!(pdf[off..].starts_with(format!("{n} 0 obj\n").as_bytes()), "object {n} not at {off}");
        }
        let mut rest = &text[..];
        while let Some(i) = rest.find("<< /Length ") {
            let after = &rest[i + 11..];
            let len: usize = after[..after.find(' ').unwrap()].parse().unwrap();
            let start = after.find("stream\n").unwrap() + 7;
            assert!(after[start + len..].starts_with("endstream"));
            rest = &after[start + len..];
        }
        let count: usize = text.split("/Count ").nth(1).unwrap().split(' ').next().unwrap().parse().unwrap();
        assert_eq!(text.matches("/Type /Page ").count(), count);
        count
    }

    /// The text a reader would show, decoded from the literal strings (enough for these documents).
    fn shown_text(pdf: &[u8]) -> String {
        let text = String::from_utf8_lossy(pdf);
        let mut out = String::new();
        for part in text.split(" Tj").filter(|p| p.ends_with(')')) {
            let Some(open) = part.rfind(" (") else { continue };
            let lit = &part[open + 2..part.len() - 1];
            let mut bytes = Vec::new();
            let mut it = lit.bytes().peekable();
            while let Some(b) = it.next() {
                if b != b'\\' {
                    bytes.push(b);
                    continue;
                }
                match it.peek() {
                    Some(d) if d.is_ascii_digit() => {
                        let oct: String = (0..3).filter_map(|_| it.next()).map(char::from).collect();
                        bytes.push(u8::from_str_radix(&oct, 8).unwrap());
                    }
                    Some(_) => bytes.push(it.next().unwrap()),
                    None => {}
                }
            }
            out.extend(bytes.iter().map(|b| match b {
                0x80 => '€',
                0x96 => '–',
                0x97 => '—',
                other => char::from(*other),
            }));
            out.push('\n');
        }
        out
    }

    #[test]
    fn a_short_invoice_is_one_well_formed_page_with_every_figure() {
        let v = view(2, 2);
        let pdf = invoice(&v);
        assert_eq!(check_structure(&pdf), 1);
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
        assert!(pdf.len() < 16_000, "{} bytes", pdf.len());
    }

    #[test]
    fn long_invoices_break_into_numbered_pages_that_repeat_the_header() {
        let v = view(30, 12);
        let pdf = invoice(&v);
        let pages = check_structure(&pdf);
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
    fn text_is_escaped_measured_and_wrapped() {
        assert_eq!(literal("a(b)c\\"), "(a\\(b\\)c\\\\)");
        assert_eq!(literal("€1 × 2 — 中"), "(\\2001 \\327 2 \\227 ?)");
        assert_eq!(literal("line\nbreak"), "(line break)");
        // "0.00" in Helvetica 10pt: 3 × 5.56 + 2.78 = 19.46 → 20.
        assert_eq!(width("0.00", Font::Regular, 10), 20);
        let rows = wrap(&"word ".repeat(60), Font::Regular, 10, DESC_W);
        assert!(rows.len() > 1);
        assert!(rows.iter().all(|r| width(r, Font::Regular, 10) <= DESC_W));
        let long = wrap(&"x".repeat(500), Font::Regular, 10, DESC_W);
        assert!(long.iter().all(|r| width(r, Font::Regular, 10) <= DESC_W));
        assert_eq!(long.concat().len(), 500);
        assert_eq!(wrap("", Font::Regular, 10, DESC_W), vec![String::new()]);
    }
}
