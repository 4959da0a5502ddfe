//! Tenant branding: colours, their contrast, the company name and phone, and the theme's CSS variables.
//!
//! Why this is strict:
//! - A colour reaches the page inside a `<style>` element. Accepting only `#rgb`/`#rrggbb` and writing it
//!   back out as lowercase `#rrggbb` means nothing but hex digits can ever travel from a tenant's settings
//!   into that element; names, `rgb()`, whitespace or anything else is refused at the door.
//! - Tenants pick their own colours, and the text on their buttons must stay readable. The WCAG 2.x contrast
//!   ratio is computed here in integer fixed point (this module is shared with the WASM bundle and the domain
//!   forbids floating point), from a precomputed sRGB-to-linear table, so the server and the browser agree
//!   to the last digit.

use serde::{Deserialize, Serialize};

/// Why a branding value was refused. The messages are shown to the reseller as they are.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize, Deserialize)]
pub enum BrandingError {
    #[error("Colours are written #rrggbb, like #4f46e5")]
    InvalidColour,
    #[error("Enter a company name")]
    CompanyNameEmpty,
    #[error("A company name can be at most {max} characters")]
    CompanyNameTooLong { max: usize },
    #[error("A company name cannot contain control characters")]
    CompanyNameControlChars,
    #[error("A phone number may contain only digits, spaces and + - ( ) .")]
    PhoneInvalidChars,
    #[error("A phone number can be at most {max} characters")]
    PhoneTooLong { max: usize },
    #[error("A phone number needs at least one digit")]
    PhoneNoDigits,
}

/// An sRGB colour. Parsed only from `#rgb` or `#rrggbb`; always written as lowercase `#rrggbb`.
///
/// (De)serialises as that string, through [`Colour::parse`], so a stored or submitted bad colour fails
/// deserialisation instead of reaching a page.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Colour {
    pub r: u8,
    pub g: u8,
    pub b: u8,
}

impl Colour {
    pub const WHITE: Colour = Colour { r: 0xff, g: 0xff, b: 0xff };
    /// Tailwind's gray-900: the dark text colour, softer than pure black.
    pub const NEAR_BLACK: Colour = Colour { r: 0x11, g: 0x18, b: 0x27 };

    pub const fn new(r: u8, g: u8, b: u8) -> Self {
        Colour { r, g, b }
    }

    /// Parse `#rgb` or `#rrggbb` (hex digits in either case). Nothing else: no surrounding whitespace, no
    /// colour names, no `rgb()`, no alpha.
    pub fn parse(text: &str) -> Result<Colour, BrandingError> {
        let digits = text.strip_prefix('#').ok_or(BrandingError::InvalidColour)?.as_bytes();
        let mut nibbles = [0u8; 6];
        match digits.len() {
            3 => {
                for (i, &d) in digits.iter().enumerate() {
                    let n = hex_value(d)?;
                    nibbles[2 * i] = n;
                    nibbles[2 * i + 1] = n;
                }
            }
            6 => {
                for (slot, &d) in nibbles.iter_mut().zip(digits) {
                    *slot = hex_value(d)?;
                }
            }
            _ => return Err(BrandingError::InvalidColour),
        }
        Ok(Colour {
            r: (nibbles[0] << 4) | nibbles[1],
            g: (nibbles[2] << 4) | nibbles[3],
            b: (nibbles[4] << 4) | nibbles[5],
        })
    }

    /// Lowercase `#rrggbb`.
    pub fn to_hex(self) -> String {
        format!("#{:02x}{:02x}{:02x}", self.r, self.g, self.b)
    }

    /// WCAG 2.x relative luminance, scaled by [`LUMINANCE_SCALE`] (0 = black, 1_000_000 = white).
    pub fn relative_luminance(self) -> u32 {
        let lin = |v: u8| u64::from(SRGB_TO_LINEAR[usize::from(v)]);
        let weighted = 2126 * lin(self.r) + 7152 * lin(self.g) + 722 * lin(self.b);
        // At most 10_000 * 1_000_000 / 10_000, so the conversion cannot fail; saturate rather than panic.
        u32::try_from(weighted / 10_000).unwrap_or(u32::MAX)
    }
}

fn hex_value(digit: u8) -> Result<u8, BrandingError> {
    match digit {
        b'0'..=b'9' => Ok(digit - b'0'),
        b'a'..=b'f' => Ok(digit - b'a' + 10),
        b'A'..=b'F' => Ok(digit - b'A' + 10),
        _ => Err(BrandingError::InvalidColour),
    }
}

impl TryFrom<String> for Colour {
    type Error = BrandingError;

    fn try_from(text: String) -> Result<Self, Self::Error> {
        Colour::parse(&text)
    }
}

impl From<Colour> for String {
    fn from(colour: Colour) -> String {
        colour.to_hex()
    }
}

impl std::fmt::Display for Colour {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.to_hex())
    }
}

/// Fixed-point scale of [`SRGB_TO_LINEAR`] and of [`Colour::relative_luminance`]: 1.0 == 1_000_000.
pub const LUMINANCE_SCALE: u32 = 1_000_000;

/// The 0.05 flare term of the WCAG contrast formula, in [`LUMINANCE_SCALE`] units.
const FLARE: u64 = 50_000;

/// sRGB channel value (0..=255) to linear light, × 1_000_000, rounded to nearest. Generated with
/// `c = v / 255; c <= 0.04045 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4` in Python (float maths stays out of
/// the domain; the table is the only place it happened).
#[rustfmt::skip]
const SRGB_TO_LINEAR: [u32; 256] = [
    0, 304, 607, 911, 1214, 1518, 1821, 2125, 2428, 2732,
    3035, 3347, 3677, 4025, 4391, 4777, 5182, 5605, 6049, 6512,
    6995, 7499, 8023, 8568, 9134, 9721, 10330, 10960, 11612, 12286,
    12983, 13702, 14444, 15209, 15996, 16807, 17642, 18500, 19382, 20289,
    21219, 22174, 23153, 24158, 25187, 26241, 27321, 28426, 29557, 30713,
    31896, 33105, 34340, 35601, 36889, 38204, 39546, 40915, 42311, 43735,
    45186, 46665, 48172, 49707, 51269, 52861, 54480, 56128, 57805, 59511,
    61246, 63010, 64803, 66626, 68478, 70360, 72272, 74214, 76185, 78187,
    80220, 82283, 84376, 86500, 88656, 90842, 93059, 95307, 97587, 99899,
    102242, 104616, 107023, 109462, 111932, 114435, 116971, 119538, 122139, 124772,
    127438, 130136, 132868, 135633, 138432, 141263, 144128, 147027, 149960, 152926,
    155926, 158961, 162029, 165132, 168269, 171441, 174647, 177888, 181164, 184475,
    187821, 191202, 194618, 198069, 201556, 205079, 208637, 212231, 215861, 219526,
    223228, 226966, 230740, 234551, 238398, 242281, 246201, 250158, 254152, 258183,
    262251, 266356, 270498, 274677, 278894, 283149, 287441, 291771, 296138, 300544,
    304987, 309469, 313989, 318547, 323143, 327778, 332452, 337164, 341914, 346704,
    351533, 356400, 361307, 366253, 371238, 376262, 381326, 386429, 391572, 396755,
    401978, 407240, 412543, 417885, 423268, 428690, 434154, 439657, 445201, 450786,
    456411, 462077, 467784, 473531, 479320, 485150, 491021, 496933, 502886, 508881,
    514918, 520996, 527115, 533276, 539479, 545724, 552011, 558340, 564712, 571125,
    577580, 584078, 590619, 597202, 603827, 610496, 617207, 623960, 630757, 637597,
    644480, 651406, 658375, 665387, 672443, 679542, 686685, 693872, 701102, 708376,
    715694, 723055, 730461, 737910, 745404, 752942, 760525, 768151, 775822, 783538,
    791298, 799103, 806952, 814847, 822786, 830770, 838799, 846873, 854993, 863157,
    871367, 879622, 887923, 896269, 904661, 913099, 921582, 930111, 938686, 947307,
    955973, 964686, 973445, 982251, 991102, 1000000,
];

/// Luminances of the two colours as (higher, lower), each with the flare term added.
fn flared_pair(a: Colour, b: Colour) -> (u64, u64) {
    let la = u64::from(a.relative_luminance()) + FLARE;
    let lb = u64::from(b.relative_luminance()) + FLARE;
    if la >= lb {
        (la, lb)
    } else {
        (lb, la)
    }
}

/// WCAG 2.x contrast ratio × 100, rounded down: 100 (same colour) ..= 2100 (black on white). Symmetric.
pub fn contrast_ratio_x100(a: Colour, b: Colour) -> u32 {
    let (hi, lo) = flared_pair(a, b);
    // lo >= FLARE > 0, and the quotient is at most 2100.
    u32::try_from(hi * 100 / lo).unwrap_or(u32::MAX)
}

/// WCAG AA for normal text: contrast ratio >= 4.5, decided exactly (no rounding of the ratio first, so
/// #777777 on white, 4.478..., fails even though it "rounds to 4.5").
pub fn meets_aa(a: Colour, b: Colour) -> bool {
    let (hi, lo) = flared_pair(a, b);
    hi * 2 >= 9 * lo
}

/// The text colour for a background: white or near-black (#111827), whichever contrasts more.
pub fn readable_text_on(bg: Colour) -> Colour {
    // Compare the exact ratios, not the floored ×100 ones: white/bg vs bg/dark cross-multiplied.
    let white = u64::from(Colour::WHITE.relative_luminance()) + FLARE;
    let dark = u64::from(Colour::NEAR_BLACK.relative_luminance()) + FLARE;
    let back = u64::from(bg.relative_luminance()) + FLARE;
    if white * dark >= back * back {
        Colour::WHITE
    } else {
        Colour::NEAR_BLACK
    }
}

/// A tenant's look: the name shown in the header and its two brand colours.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Theme {
    pub company_name: String,
    pub primary: Colour,
    pub secondary: Colour,
}

impl Theme {
    pub const DEFAULT_PRIMARY: Colour = Colour::new(0x4f, 0x46, 0xe5);
    pub const DEFAULT_SECONDARY: Colour = Colour::new(0x0e, 0xa5, 0xe9);

    /// The EZSCALE default colours under the given name.
    pub fn default_for(company_name: impl Into<String>) -> Self {
        Theme { company_name: company_name.into(), primary: Self::DEFAULT_PRIMARY, secondary: Self::DEFAULT_SECONDARY }
    }

    /// The theme as CSS custom properties, for inlining in a `<style>` element:
    ///
    /// `html:root{--brand-primary:#rrggbb;--brand-primary-rgb:r g b;--brand-on-primary:#rrggbb;...}`
    ///
    /// `html:root` rather than `:root`: it outranks the defaults in the site stylesheet (plain `:root`)
    /// wherever the two appear in the document.
    ///
    /// Built only from fixed text, hex digits and decimal numbers: the company name is deliberately not
    /// part of it, so no tenant-typed text can ever end up inside the `<style>` element.
    pub fn css_variables(&self) -> String {
        let mut css = String::with_capacity(256);
        css.push_str("html:root{");
        for (name, colour) in [("primary", self.primary), ("secondary", self.secondary)] {
            let on = readable_text_on(colour);
            css.push_str(&format!(
                "--brand-{name}:{hex};--brand-{name}-rgb:{r} {g} {b};--brand-on-{name}:{on};",
                hex = colour.to_hex(),
                r = colour.r,
                g = colour.g,
                b = colour.b,
                on = on.to_hex(),
            ));
        }
        css.push('}');
        css
    }
}

/// Longest company name, in characters.
pub const COMPANY_NAME_MAX_CHARS: usize = 80;
/// Longest phone number, in characters.
pub const PHONE_MAX_CHARS: usize = 32;

/// Bidirectional formatting characters: not `char::is_control`, but they reorder the text around them, so
/// a name containing them can display as something else (a classic spoofing trick).
fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

/// A company name as it will be stored: trimmed, 1..=80 characters, no control characters.
pub fn validate_company_name(name: &str) -> Result<String, BrandingError> {
    let name = name.trim();
    if name.is_empty() {
        return Err(BrandingError::CompanyNameEmpty);
    }
    if name.chars().count() > COMPANY_NAME_MAX_CHARS {
        return Err(BrandingError::CompanyNameTooLong { max: COMPANY_NAME_MAX_CHARS });
    }
    if name.chars().any(|c| c.is_control() || is_bidi_control(c)) {
        return Err(BrandingError::CompanyNameControlChars);
    }
    Ok(name.to_owned())
}

/// An optional support phone number: blank means none (`Ok(None)`); otherwise trimmed, at most 32
/// characters of digits, spaces and `+ - ( ) .`, with at least one digit.
pub fn validate_phone(phone: &str) -> Result<Option<String>, BrandingError> {
    let phone = phone.trim();
    if phone.is_empty() {
        return Ok(None);
    }
    if !phone.chars().all(|c| c.is_ascii_digit() || matches!(c, ' ' | '+' | '-' | '(' | ')' | '.')) {
        return Err(BrandingError::PhoneInvalidChars);
    }
    // All ASCII from here, so bytes == characters.
    if phone.len() > PHONE_MAX_CHARS {
        return Err(BrandingError::PhoneTooLong { max: PHONE_MAX_CHARS });
    }
    if !phone.bytes().any(|b| b.is_ascii_digit()) {
        return Err(BrandingError::PhoneNoDigits);
    }
    Ok(Some(phone.to_owned()))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn c(hex: &str) -> Colour {
        Colour::parse(hex).unwrap_or_else(|e| panic!("bad colour {hex}: {e}"))
    }

    #[test]
    fn colours_parse_only_short_and_long_hex() {
        for (text, expected) in [
            ("#4f46e5", Colour::new(0x4f, 0x46, 0xe5)),
            ("#4F46E5", Colour::new(0x4f, 0x46, 0xe5)),
            ("#fff", Colour::WHITE),
            ("#AbC", Colour::new(0xaa, 0xbb, 0xcc)),
            ("#000000", Colour::new(0, 0, 0)),
        ] {
            assert_eq!(Colour::parse(text), Ok(expected), "{text}");
        }
        for text in [
            "",
            "#",
            "4f46e5",
            "#4f46e",
            "#4f46e5ff",
            "#ffff",
            " #fff",
            "#fff ",
            "#ggg",
            "red",
            "rgb(0,0,0)",
            "#+12345",
            "#-12345",
            "##fff",
            "#fff;",
            "#ffé",
            "#１２３",
            "#fff\0",
            "</style>",
        ] {
            assert_eq!(Colour::parse(text), Err(BrandingError::InvalidColour), "{text:?}");
        }
    }

    #[test]
    fn colours_write_lowercase_long_hex() {
        assert_eq!(c("#ABC").to_hex(), "#aabbcc");
        assert_eq!(c("#4F46E5").to_string(), "#4f46e5");
    }

    #[test]
    fn colours_serde_through_the_parser() {
        assert_eq!(serde_json::to_string(&c("#4F46E5")).unwrap(), "\"#4f46e5\"");
        assert_eq!(serde_json::from_str::<Colour>("\"#FFF\"").unwrap(), Colour::WHITE);
        for bad in ["\"red\"", "\"#12345\"", "\"</style>\"", "12", "{\"r\":1,\"g\":2,\"b\":3}"] {
            assert!(serde_json::from_str::<Colour>(bad).is_err(), "{bad}");
        }
        let theme = Theme::default_for("Acme");
        let json = serde_json::to_string(&theme).unwrap();
        assert_eq!(json, r##"{"company_name":"Acme","primary":"#4f46e5","secondary":"#0ea5e9"}"##);
        assert_eq!(serde_json::from_str::<Theme>(&json).unwrap(), theme);
        let bad = r##"{"company_name":"Acme","primary":"expression(alert(1))","secondary":"#0ea5e9"}"##;
        assert!(serde_json::from_str::<Theme>(bad).is_err());
    }

    #[test]
    fn luminance_table_ends() {
        assert_eq!(SRGB_TO_LINEAR[0], 0);
        assert_eq!(SRGB_TO_LINEAR[255], LUMINANCE_SCALE);
        assert!(SRGB_TO_LINEAR.windows(2).all(|w| w[0] < w[1]), "strictly increasing");
        assert_eq!(Colour::WHITE.relative_luminance(), LUMINANCE_SCALE);
        assert_eq!(c("#000").relative_luminance(), 0);
    }

    #[test]
    fn contrast_ratios_match_known_values() {
        // (a, b, ratio × 100 floored, passes AA). Reference ratios from the float formula:
        // e.g. #777777/white 4.478, #767676/white 4.542, #4f46e5/white 6.288.
        for (a, b, x100, aa) in [
            ("#000000", "#ffffff", 2100, true),
            ("#ffffff", "#ffffff", 100, false),
            ("#4f46e5", "#4f46e5", 100, false),
            ("#777777", "#ffffff", 447, false),
            ("#767676", "#ffffff", 454, true),
            ("#595959", "#ffffff", 700, true),
            ("#4f46e5", "#ffffff", 628, true),
            ("#0ea5e9", "#ffffff", 277, false),
            ("#111827", "#ffffff", 1773, true),
            ("#ff0000", "#ffffff", 399, false),
            ("#0000ff", "#ffffff", 859, true),
            ("#00ff00", "#000000", 1530, true),
            ("#ffff00", "#000000", 1955, true),
            ("#808080", "#000000", 531, true),
            ("#ff0000", "#00ff00", 291, false),
            ("#0ea5e9", "#111827", 640, true),
            ("#4f46e5", "#111827", 282, false),
        ] {
            assert_eq!(contrast_ratio_x100(c(a), c(b)), x100, "{a} on {b}");
            assert_eq!(contrast_ratio_x100(c(b), c(a)), x100, "{b} on {a}");
            assert_eq!(meets_aa(c(a), c(b)), aa, "{a} on {b}");
        }
    }

    #[test]
    fn readable_text_picks_the_stronger_contrast() {
        assert_eq!(readable_text_on(c("#4f46e5")), Colour::WHITE);
        assert_eq!(readable_text_on(c("#0ea5e9")), Colour::NEAR_BLACK);
        assert_eq!(readable_text_on(c("#000000")), Colour::WHITE);
        assert_eq!(readable_text_on(c("#ffffff")), Colour::NEAR_BLACK);
        assert_eq!(readable_text_on(c("#ffff00")), Colour::NEAR_BLACK);
        assert_eq!(readable_text_on(c("#b91c1c")), Colour::WHITE);
    }

    #[test]
    fn css_variables_are_exact() {
        let theme = Theme::default_for("</style><script>alert(1)</script>");
        assert_eq!(
            theme.css_variables(),
            "html:root{--brand-primary:#4f46e5;--brand-primary-rgb:79 70 229;--brand-on-primary:#ffffff;\
             --brand-secondary:#0ea5e9;--brand-secondary-rgb:14 165 233;--brand-on-secondary:#111827;}"
        );
    }

    #[test]
    fn company_names() {
        assert_eq!(validate_company_name("  Acme Cloud  "), Ok("Acme Cloud".to_owned()));
        assert_eq!(validate_company_name("Ünïcødé 株式会社"), Ok("Ünïcødé 株式会社".to_owned()));
        assert_eq!(validate_company_name(&"é".repeat(80)), Ok("é".repeat(80)));
        assert_eq!(validate_company_name(""), Err(BrandingError::CompanyNameEmpty));
        assert_eq!(validate_company_name(" \t\n "), Err(BrandingError::CompanyNameEmpty));
        assert_eq!(validate_company_name(&"a".repeat(81)), Err(BrandingError::CompanyNameTooLong { max: 80 }));
        for bad in ["Acme\0", "Ac\nme", "Ac\u{7}me", "Ac\u{202e}em", "Acme\u{85}x"] {
            assert_eq!(validate_company_name(bad), Err(BrandingError::CompanyNameControlChars), "{bad:?}");
        }
    }

    #[test]
    fn phones() {
        assert_eq!(validate_phone(""), Ok(None));
        assert_eq!(validate_phone("   "), Ok(None));
        assert_eq!(validate_phone(" +1 (555) 010-0199 "), Ok(Some("+1 (555) 010-0199".to_owned())));
        assert_eq!(validate_phone("020.7946.0000"), Ok(Some("020.7946.0000".to_owned())));
        assert_eq!(validate_phone(&"1".repeat(32)), Ok(Some("1".repeat(32))));
        assert_eq!(validate_phone(&"1".repeat(33)), Err(BrandingError::PhoneTooLong { max: 32 }));
        assert_eq!(validate_phone("+-()"), Err(BrandingError::PhoneNoDigits));
        for bad in ["555-CALL", "555\n1234", "<script>", "555_1234", "５５５", "1;2"] {
            assert_eq!(validate_phone(bad), Err(BrandingError::PhoneInvalidChars), "{bad:?}");
        }
    }

    #[test]
    fn error_messages_read_well() {
        assert_eq!(BrandingError::InvalidColour.to_string(), "Colours are written #rrggbb, like #4f46e5");
        assert_eq!(
            BrandingError::CompanyNameTooLong { max: 80 }.to_string(),
            "A company name can be at most 80 characters"
        );
    }

    fn any_colour() -> impl Strategy<Value = Colour> {
        (any::<u8>(), any::<u8>(), any::<u8>()).prop_map(|(r, g, b)| Colour { r, g, b })
    }

    proptest! {
        #[test]
        fn ratio_is_symmetric_and_bounded(a in any_colour(), b in any_colour()) {
            let ab = contrast_ratio_x100(a, b);
            prop_assert_eq!(ab, contrast_ratio_x100(b, a));
            prop_assert!((100..=2100).contains(&ab));
            prop_assert_eq!(meets_aa(a, b), meets_aa(b, a));
            // AA agrees with the floored ratio wherever the floor cannot hide the answer.
            if ab >= 450 { prop_assert!(meets_aa(a, b)); }
            if ab < 449 { prop_assert!(!meets_aa(a, b)); }
            prop_assert_eq!(contrast_ratio_x100(a, a), 100);
        }

        #[test]
        fn hex_round_trips(colour in any_colour()) {
            prop_assert_eq!(Colour::parse(&colour.to_hex()), Ok(colour));
            prop_assert_eq!(Colour::parse(&colour.to_hex().to_uppercase()), Ok(colour));
        }

        #[test]
        fn parse_never_panics(text in "\\PC{0,12}") {
            if let Ok(colour) = Colour::parse(&text) {
                prop_assert!(text.len() == 4 || text.len() == 7);
                prop_assert_eq!(colour.to_hex().len(), 7);
            }
        }

        #[test]
        fn parse_never_panics_near_misses(text in "#[0-9a-fA-F#gG \\n]{0,8}") {
            let _ = Colour::parse(&text);
        }

        #[test]
        fn readable_text_is_the_better_choice(bg in any_colour()) {
            let chosen = readable_text_on(bg);
            let other = if chosen == Colour::WHITE { Colour::NEAR_BLACK } else { Colour::WHITE };
            prop_assert!(contrast_ratio_x100(chosen, bg) >= contrast_ratio_x100(other, bg));
        }
    }
}
