//! Declarations: which properties are kept, the grammar their values must follow, and how names, strings
//! and numbers are written back.
//!
//! Safety comes from the value grammar, not from the property list: a value is made of identifiers,
//! numbers, dimensions with known units, percentages, hex colours, strings, `,`, `+ - * /`, `[line names]`
//! and calls to [`FUNCTIONS`], none of which can fetch anything (no `url()`, `image()`, `image-set()`,
//! `element()`, `cross-fade()`, `src()`, `paint()`, and no `attr()`, which would copy page data into CSS).
//! So even properties that *could* load (`background`, `cursor`, `content`, `mask-image`, `list-style`)
//! are kept: with these values they can only hold gradients, keywords and strings. The property list is
//! still an allow-list, so an unknown or historic property (`behavior`, `-moz-binding`, `-ms-filter`,
//! `-o-link`) is dropped whatever its value.

use cssparser::{
    AtRuleParser, CowRcStr, DeclarationParser, Parser, ParserState, QualifiedRuleParser, RuleBodyItemParser,
    RuleBodyParser, Token,
};

use super::{contains_forbidden, disallowed, Disallowed, PResult};

/// How deep functions and parentheses may nest in a value (`calc(min(1px, (2px + 3px)))` is 3). Bounds the
/// recursion: 128 KB of `calc(` must not overflow the stack.
pub(super) const MAX_VALUE_DEPTH: usize = 8;
/// Largest magnitude of a number we write back. Keeps every number printable as plain digits with 3
/// decimals (no exponents, no `inf`), which is what makes re-sanitising stable. Large enough for the
/// `z-index: 2147483647` of overlay libraries.
const MAX_NUMBER: f64 = 1e10;

/// Standard properties (lowercase). Each may also be written with a `-webkit-`, `-moz-`, `-ms-` or `-o-`
/// prefix; [`PREFIXED_ONLY`] lists the few that exist only prefixed.
const PROPERTIES: &[&str] = &[
    "accent-color",
    "align-content",
    "align-items",
    "align-self",
    "all",
    "animation",
    "animation-composition",
    "animation-delay",
    "animation-direction",
    "animation-duration",
    "animation-fill-mode",
    "animation-iteration-count",
    "animation-name",
    "animation-play-state",
    "animation-timing-function",
    "appearance",
    "aspect-ratio",
    "backdrop-filter",
    "backface-visibility",
    "background",
    "background-attachment",
    "background-blend-mode",
    "background-clip",
    "background-color",
    "background-image",
    "background-origin",
    "background-position",
    "background-position-x",
    "background-position-y",
    "background-repeat",
    "background-size",
    "block-size",
    "border",
    "border-block",
    "border-block-color",
    "border-block-end",
    "border-block-end-color",
    "border-block-end-style",
    "border-block-end-width",
    "border-block-start",
    "border-block-start-color",
    "border-block-start-style",
    "border-block-start-width",
    "border-block-style",
    "border-block-width",
    "border-bottom",
    "border-bottom-color",
    "border-bottom-left-radius",
    "border-bottom-right-radius",
    "border-bottom-style",
    "border-bottom-width",
    "border-collapse",
    "border-color",
    "border-end-end-radius",
    "border-end-start-radius",
    "border-image",
    "border-image-outset",
    "border-image-repeat",
    "border-image-slice",
    "border-image-source",
    "border-image-width",
    "border-inline",
    "border-inline-color",
    "border-inline-end",
    "border-inline-end-color",
    "border-inline-end-style",
    "border-inline-end-width",
    "border-inline-start",
    "border-inline-start-color",
    "border-inline-start-style",
    "border-inline-start-width",
    "border-inline-style",
    "border-inline-width",
    "border-left",
    "border-left-color",
    "border-left-style",
    "border-left-width",
    "border-radius",
    "border-right",
    "border-right-color",
    "border-right-style",
    "border-right-width",
    "border-spacing",
    "border-start-end-radius",
    "border-start-start-radius",
    "border-style",
    "border-top",
    "border-top-color",
    "border-top-left-radius",
    "border-top-right-radius",
    "border-top-style",
    "border-top-width",
    "border-width",
    "bottom",
    "box-decoration-break",
    "box-shadow",
    "box-sizing",
    "break-after",
    "break-before",
    "break-inside",
    "caption-side",
    "caret-color",
    "clear",
    "clip",
    "clip-path",
    "color",
    "color-adjust",
    "color-scheme",
    "column-count",
    "column-fill",
    "column-gap",
    "column-rule",
    "column-rule-color",
    "column-rule-style",
    "column-rule-width",
    "column-span",
    "column-width",
    "columns",
    "contain",
    "contain-intrinsic-size",
    "container",
    "container-name",
    "container-type",
    "content",
    "content-visibility",
    "counter-increment",
    "counter-reset",
    "counter-set",
    "cursor",
    "direction",
    "display",
    "empty-cells",
    "fill",
    "fill-opacity",
    "fill-rule",
    "filter",
    "flex",
    "flex-basis",
    "flex-direction",
    "flex-flow",
    "flex-grow",
    "flex-shrink",
    "flex-wrap",
    "float",
    "font",
    "font-display",
    "font-family",
    "font-feature-settings",
    "font-kerning",
    "font-optical-sizing",
    "font-size",
    "font-size-adjust",
    "font-smoothing",
    "font-stretch",
    "font-style",
    "font-synthesis",
    "font-variant",
    "font-variant-caps",
    "font-variant-east-asian",
    "font-variant-ligatures",
    "font-variant-numeric",
    "font-variation-settings",
    "font-weight",
    "forced-color-adjust",
    "gap",
    "grid",
    "grid-area",
    "grid-auto-columns",
    "grid-auto-flow",
    "grid-auto-rows",
    "grid-column",
    "grid-column-end",
    "grid-column-gap",
    "grid-column-start",
    "grid-gap",
    "grid-row",
    "grid-row-end",
    "grid-row-gap",
    "grid-row-start",
    "grid-template",
    "grid-template-areas",
    "grid-template-columns",
    "grid-template-rows",
    "hanging-punctuation",
    "height",
    "hyphenate-character",
    "hyphens",
    "image-orientation",
    "image-rendering",
    "inline-size",
    "inset",
    "inset-block",
    "inset-block-end",
    "inset-block-start",
    "inset-inline",
    "inset-inline-end",
    "inset-inline-start",
    "isolation",
    "justify-content",
    "justify-items",
    "justify-self",
    "left",
    "letter-spacing",
    "line-break",
    "line-clamp",
    "line-height",
    "list-style",
    "list-style-position",
    "list-style-type",
    "margin",
    "margin-block",
    "margin-block-end",
    "margin-block-start",
    "margin-bottom",
    "margin-inline",
    "margin-inline-end",
    "margin-inline-start",
    "margin-left",
    "margin-right",
    "margin-top",
    "mask",
    "mask-clip",
    "mask-composite",
    "mask-image",
    "mask-mode",
    "mask-origin",
    "mask-position",
    "mask-repeat",
    "mask-size",
    "mask-type",
    "max-block-size",
    "max-height",
    "max-inline-size",
    "max-width",
    "min-block-size",
    "min-height",
    "min-inline-size",
    "min-width",
    "mix-blend-mode",
    "object-fit",
    "object-position",
    "opacity",
    "order",
    "orphans",
    "outline",
    "outline-color",
    "outline-offset",
    "outline-style",
    "outline-width",
    "overflow",
    "overflow-anchor",
    "overflow-block",
    "overflow-clip-margin",
    "overflow-inline",
    "overflow-wrap",
    "overflow-x",
    "overflow-y",
    "overscroll-behavior",
    "overscroll-behavior-block",
    "overscroll-behavior-inline",
    "overscroll-behavior-x",
    "overscroll-behavior-y",
    "padding",
    "padding-block",
    "padding-block-end",
    "padding-block-start",
    "padding-bottom",
    "padding-inline",
    "padding-inline-end",
    "padding-inline-start",
    "padding-left",
    "padding-right",
    "padding-top",
    "page-break-after",
    "page-break-before",
    "page-break-inside",
    "paint-order",
    "perspective",
    "perspective-origin",
    "place-content",
    "place-items",
    "place-self",
    "pointer-events",
    "position",
    "print-color-adjust",
    "quotes",
    "resize",
    "right",
    "rotate",
    "row-gap",
    "ruby-position",
    "scale",
    "scroll-behavior",
    "scroll-margin",
    "scroll-margin-block",
    "scroll-margin-block-end",
    "scroll-margin-block-start",
    "scroll-margin-bottom",
    "scroll-margin-inline",
    "scroll-margin-inline-end",
    "scroll-margin-inline-start",
    "scroll-margin-left",
    "scroll-margin-right",
    "scroll-margin-top",
    "scroll-padding",
    "scroll-padding-block",
    "scroll-padding-block-end",
    "scroll-padding-block-start",
    "scroll-padding-bottom",
    "scroll-padding-inline",
    "scroll-padding-inline-end",
    "scroll-padding-inline-start",
    "scroll-padding-left",
    "scroll-padding-right",
    "scroll-padding-top",
    "scroll-snap-align",
    "scroll-snap-stop",
    "scroll-snap-type",
    "scrollbar-color",
    "scrollbar-gutter",
    "scrollbar-width",
    "shape-image-threshold",
    "shape-margin",
    "shape-outside",
    "shape-rendering",
    "stop-color",
    "stop-opacity",
    "stroke",
    "stroke-dasharray",
    "stroke-dashoffset",
    "stroke-linecap",
    "stroke-linejoin",
    "stroke-miterlimit",
    "stroke-opacity",
    "stroke-width",
    "tab-size",
    "table-layout",
    "text-align",
    "text-align-last",
    "text-anchor",
    "text-combine-upright",
    "text-decoration",
    "text-decoration-color",
    "text-decoration-line",
    "text-decoration-skip",
    "text-decoration-skip-ink",
    "text-decoration-style",
    "text-decoration-thickness",
    "text-emphasis",
    "text-emphasis-color",
    "text-emphasis-position",
    "text-emphasis-style",
    "text-indent",
    "text-justify",
    "text-orientation",
    "text-overflow",
    "text-rendering",
    "text-shadow",
    "text-size-adjust",
    "text-transform",
    "text-underline-offset",
    "text-underline-position",
    "text-wrap",
    "text-wrap-mode",
    "text-wrap-style",
    "top",
    "touch-action",
    "transform",
    "transform-box",
    "transform-origin",
    "transform-style",
    "transition",
    "transition-behavior",
    "transition-delay",
    "transition-duration",
    "transition-property",
    "transition-timing-function",
    "translate",
    "unicode-bidi",
    "user-select",
    "vector-effect",
    "vertical-align",
    "view-transition-name",
    "visibility",
    "white-space",
    "white-space-collapse",
    "widows",
    "width",
    "will-change",
    "word-break",
    "word-spacing",
    "word-wrap",
    "writing-mode",
    "z-index",
    "zoom",
];

/// Properties that exist only with a vendor prefix.
const PREFIXED_ONLY: &[&str] = &[
    "-webkit-font-smoothing",
    "-moz-osx-font-smoothing",
    "-webkit-tap-highlight-color",
    "-webkit-text-fill-color",
    "-webkit-text-stroke",
    "-webkit-text-stroke-color",
    "-webkit-text-stroke-width",
    "-webkit-overflow-scrolling",
    "-webkit-box-orient",
    "-webkit-box-align",
    "-webkit-box-pack",
    "-webkit-box-direction",
    "-webkit-box-flex",
    "-webkit-touch-callout",
    "-webkit-user-drag",
    "-webkit-line-clamp",
    "-ms-overflow-style",
    "-ms-flex-align",
    "-ms-flex-pack",
    "-ms-flex-positive",
    "-ms-flex-negative",
    "-ms-flex-preferred-size",
    "-ms-flex-order",
    "-ms-high-contrast-adjust",
    "-moz-tab-size",
    "-moz-focus-inner",
];

/// Prefixed spellings refused although their base property is kept: IE's `-ms-filter` takes a string that
/// can load an image (`progid:…AlphaImageLoader(src=…)`).
const PREFIXED_REFUSED: &[&str] = &["-ms-filter"];

const VENDOR_PREFIXES: &[&str] = &["-webkit-", "-moz-", "-ms-", "-o-"];

/// Functions allowed in values, written as spelled here (CSS function names are case-insensitive). Colours, maths,
/// gradients, transforms, filters, easing, grid, shapes and counters: none of them takes a URL.
pub(super) const FUNCTIONS: &[&str] = &[
    // colours
    "rgb",
    "rgba",
    "hsl",
    "hsla",
    "hwb",
    "lab",
    "lch",
    "oklab",
    "oklch",
    "color",
    "color-mix",
    "light-dark",
    // custom properties and maths
    "var",
    "calc",
    "-webkit-calc",
    "-moz-calc",
    "min",
    "max",
    "clamp",
    "round",
    "mod",
    "rem",
    "abs",
    "sign",
    "sin",
    "cos",
    "tan",
    "asin",
    "acos",
    "atan",
    "atan2",
    "pow",
    "sqrt",
    "hypot",
    "log",
    "exp",
    // gradients (and their old prefixed spellings)
    "linear-gradient",
    "radial-gradient",
    "conic-gradient",
    "repeating-linear-gradient",
    "repeating-radial-gradient",
    "repeating-conic-gradient",
    "-webkit-linear-gradient",
    "-webkit-radial-gradient",
    "-webkit-repeating-linear-gradient",
    "-webkit-repeating-radial-gradient",
    "-moz-linear-gradient",
    "-moz-radial-gradient",
    "-o-linear-gradient",
    // transforms
    "translate",
    "translateX",
    "translateY",
    "translateZ",
    "translate3d",
    "scale",
    "scaleX",
    "scaleY",
    "scaleZ",
    "scale3d",
    "rotate",
    "rotateX",
    "rotateY",
    "rotateZ",
    "rotate3d",
    "skew",
    "skewX",
    "skewY",
    "matrix",
    "matrix3d",
    "perspective",
    // filters
    "blur",
    "brightness",
    "contrast",
    "drop-shadow",
    "grayscale",
    "hue-rotate",
    "invert",
    "opacity",
    "saturate",
    "sepia",
    // easing
    "cubic-bezier",
    "steps",
    "linear",
    // grid, sizing, shapes, counters
    "repeat",
    "minmax",
    "fit-content",
    "inset",
    "circle",
    "ellipse",
    "polygon",
    "rect",
    "xywh",
    "counter",
    "counters",
];

pub(super) const UNITS: &[&str] = &[
    "px", "em", "rem", "ex", "rex", "ch", "rch", "cap", "rcap", "ic", "ric", "lh", "rlh", "vw", "vh", "vi", "vb",
    "vmin", "vmax", "svw", "svh", "svi", "svb", "svmin", "svmax", "lvw", "lvh", "lvi", "lvb", "lvmin", "lvmax", "dvw",
    "dvh", "dvi", "dvb", "dvmin", "dvmax", "cqw", "cqh", "cqi", "cqb", "cqmin", "cqmax", "pt", "pc", "cm", "mm", "q",
    "in", "deg", "rad", "grad", "turn", "s", "ms", "hz", "khz", "fr", "dpi", "dpcm", "dppx", "x",
];

/// Declarations inside a style rule or keyframe. Nested rules and at-rules are not parsed (`parse_qualified`
/// is false, the at-rule methods keep their rejecting defaults), so they are skipped.
struct DeclarationListParser;

impl<'i> DeclarationParser<'i> for DeclarationListParser {
    /// A serialised `prop:value;`.
    type Declaration = String;
    type Error = Disallowed;

    fn parse_value<'t>(
        &mut self,
        name: CowRcStr<'i>,
        input: &mut Parser<'i, 't>,
        _start: &ParserState,
    ) -> PResult<'i, String> {
        parse_declaration(&name, input)
    }
}

impl<'i> AtRuleParser<'i> for DeclarationListParser {
    type Prelude = ();
    type AtRule = String;
    type Error = Disallowed;
}

impl<'i> QualifiedRuleParser<'i> for DeclarationListParser {
    type Prelude = ();
    type QualifiedRule = String;
    type Error = Disallowed;
}

impl<'i> RuleBodyItemParser<'i, String, Disallowed> for DeclarationListParser {
    fn parse_declarations(&self) -> bool {
        true
    }

    fn parse_qualified(&self) -> bool {
        false
    }
}

/// The kept declarations of a block, each serialised as `prop:value;`.
pub(super) fn parse_declaration_list(input: &mut Parser<'_, '_>) -> Vec<String> {
    let mut parser = DeclarationListParser;
    RuleBodyParser::new(input, &mut parser).filter_map(Result::ok).collect()
}

/// The property's canonical name, if it is allowed: allow-listed standard properties, optionally with a
/// vendor prefix (case-insensitive, written lowercase), and custom properties `--[A-Za-z0-9_-]+`
/// (case-sensitive, kept as written).
fn property_name(name: &str) -> Option<String> {
    if let Some(rest) = name.strip_prefix("--") {
        let valid = !rest.is_empty() && rest.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        return valid.then(|| name.to_owned());
    }
    let lower = name.to_ascii_lowercase();
    if PREFIXED_REFUSED.contains(&lower.as_str()) {
        return None;
    }
    let base = VENDOR_PREFIXES.iter().find_map(|p| lower.strip_prefix(p)).unwrap_or(&lower);
    (PROPERTIES.contains(&base) || PREFIXED_ONLY.contains(&lower.as_str())).then_some(lower)
}

/// One declaration, `prop:value;` or `prop:value !important;`. Custom properties may be empty
/// (`--tw-ring-inset: ;` is valid CSS and used by frameworks).
pub(super) fn parse_declaration<'i>(name: &str, input: &mut Parser<'i, '_>) -> PResult<'i, String> {
    let property = property_name(name).ok_or_else(|| disallowed(input))?;
    let custom = property.starts_with("--");
    let (mut value, important) = parse_value(input, custom)?;
    if property == "display" && value.bytes().all(|b| b.is_ascii_alphabetic() || b == b'-' || b == b' ') {
        // Keywords only (not `var(--Name)`, whose name is case-sensitive): written lowercase, as before.
        value.make_ascii_lowercase();
    }
    let important = if important { " !important" } else { "" };
    let declaration = format!("{property}:{value}{important};");
    if contains_forbidden(&declaration) {
        return Err(disallowed(input));
    }
    Ok(declaration)
}

/// `!important` at the end of a value; the parser has just returned the `!`.
fn parse_important_tail<'i>(input: &mut Parser<'i, '_>) -> PResult<'i, ()> {
    input.expect_ident_matching("important")?;
    input.expect_exhausted()?;
    Ok(())
}

/// One component of a value, serialised. Commas are kept apart because they are written without spaces.
enum Piece {
    Comma,
    Word(String),
}

/// Pieces joined canonically: one space between words, none around commas. Always separating words also
/// means two tokens can never fuse into a different one (`/` then `*` can never become a comment).
fn join_pieces(pieces: &[Piece]) -> String {
    let mut out = String::new();
    let mut after_word = false;
    for piece in pieces {
        match piece {
            Piece::Comma => {
                out.push(',');
                after_word = false;
            }
            Piece::Word(word) => {
                if after_word {
                    out.push(' ');
                }
                out.push_str(word);
                after_word = true;
            }
        }
    }
    out
}

/// A whole declaration value, with its `!important` flag. Only a custom property may be empty.
fn parse_value<'i>(input: &mut Parser<'i, '_>, may_be_empty: bool) -> PResult<'i, (String, bool)> {
    let mut pieces = Vec::new();
    let mut important = false;
    // `next` skips whitespace and comments: our own spacing replaces the input's.
    while let Ok(token) = input.next() {
        let token = token.clone();
        if token == Token::Delim('!') {
            parse_important_tail(input)?;
            important = true;
            break;
        }
        pieces.push(parse_component(token, input, 0)?);
    }
    if pieces.is_empty() && !may_be_empty {
        return Err(disallowed(input));
    }
    let value = join_pieces(&pieces);
    // `--x: ;` is written `--x: ;` so it reads back as the same empty value.
    Ok((if value.is_empty() { " ".to_owned() } else { value }, important))
}

/// The arguments of a function or the inside of parentheses (`depth` > 0).
pub(super) fn parse_arguments<'i>(input: &mut Parser<'i, '_>, depth: usize) -> PResult<'i, String> {
    let mut pieces = Vec::new();
    while let Ok(token) = input.next() {
        let token = token.clone();
        pieces.push(parse_component(token, input, depth)?);
    }
    Ok(join_pieces(&pieces))
}

fn parse_component<'i>(token: Token<'i>, input: &mut Parser<'i, '_>, depth: usize) -> PResult<'i, Piece> {
    let word = match token {
        Token::Comma => return Ok(Piece::Comma),
        Token::Ident(name) => serialize_ident(&name),
        // Integers are written from their exact value (`2147483646` is not exactly an `f32`), unless the
        // tokeniser saturated it at the `i32` bounds.
        Token::Number { int_value: Some(int), .. } if int != i32::MAX && int != i32::MIN => Some(int.to_string()),
        Token::Number { value, .. } => serialize_number(f64::from(value)),
        // `unit_value` is the percentage divided by 100.
        Token::Percentage { unit_value, .. } => serialize_number(f64::from(unit_value) * 100.0).map(|n| n + "%"),
        Token::Dimension { value, unit, .. } => serialize_dimension(value, &unit),
        Token::Hash(digits) | Token::IDHash(digits) => serialize_hex_colour(&digits),
        Token::QuotedString(text) => serialize_string(&text),
        Token::Delim(c @ ('+' | '-' | '*' | '/')) => Some(c.to_string()),
        Token::Function(name) if depth < MAX_VALUE_DEPTH => {
            match FUNCTIONS.iter().find(|f| name.eq_ignore_ascii_case(f)) {
                Some(function) => {
                    let arguments = input.parse_nested_block(|input| parse_arguments(input, depth + 1))?;
                    Some(format!("{function}({arguments})"))
                }
                None => None,
            }
        }
        // Grouping parentheses, only inside functions (`calc((1px + 2px) * 2)`).
        Token::ParenthesisBlock if depth > 0 && depth < MAX_VALUE_DEPTH => {
            let inner = input.parse_nested_block(|input| parse_arguments(input, depth + 1))?;
            Some(format!("({inner})"))
        }
        // Grid line names: `[full-start] minmax(1rem, 1fr) [full-end]`, identifiers only.
        Token::SquareBracketBlock => Some(input.parse_nested_block(parse_line_names)?),
        // `url(` tokens, bad strings and urls, `{}` blocks, `!` inside functions, other delimiters
        // (`<`, `>`, `@`, `\`, ...), CDO/CDC, colons, semicolons, unicode ranges.
        _ => None,
    };
    word.map(Piece::Word).ok_or_else(|| disallowed(input))
}

/// `[name name ...]`, serialised `[a b]`.
fn parse_line_names<'i>(input: &mut Parser<'i, '_>) -> PResult<'i, String> {
    let mut names = Vec::new();
    while let Ok(token) = input.next() {
        let name = match token {
            Token::Ident(name) => serialize_ident(name),
            _ => None,
        };
        names.push(name.ok_or_else(|| disallowed(input))?);
    }
    Ok(format!("[{}]", names.join(" ")))
}

pub(super) fn serialize_dimension(value: f32, unit: &str) -> Option<String> {
    let unit = UNITS.iter().find(|u| unit.eq_ignore_ascii_case(u))?;
    Some(format!("{}{unit}", serialize_number(f64::from(value))?))
}

/// Append `c` as a CSS hex escape. The trailing space is always written: it ends the escape, so a
/// following hex digit or space can never be read as part of it.
pub(super) fn push_escape(out: &mut String, c: char) {
    out.push_str(&format!("\\{:x} ", u32::from(c)));
}

/// Non-ASCII characters that may appear (escaped) in identifiers and strings: anything but control
/// characters (C0, DEL and C1).
fn is_escapable(c: char) -> bool {
    !c.is_ascii() && !c.is_control()
}

/// An identifier (as decoded by the tokeniser) written back so that it tokenises to the same identifier:
/// ASCII letters, digits, `-`, `_` as they are, other non-ASCII as escapes. `None` for anything else (an
/// identifier holding `<`, `(`, `:`, ... can only come from escapes, and is refused rather than
/// re-escaped), and for identifiers that would not re-tokenise as one (leading digit, `-digit`, lone `-`).
pub(super) fn serialize_ident(name: &str) -> Option<String> {
    let mut chars = name.chars();
    let starts_an_ident = |c: char| c == '_' || c.is_ascii_alphabetic() || is_escapable(c);
    let valid_start = match chars.next()? {
        '-' => chars.next().is_some_and(|c| c == '-' || starts_an_ident(c)),
        c => starts_an_ident(c),
    };
    if !valid_start {
        return None;
    }
    let mut out = String::with_capacity(name.len());
    for c in name.chars() {
        if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
            out.push(c);
        } else if is_escapable(c) {
            push_escape(&mut out, c);
        } else {
            return None;
        }
    }
    Some(out)
}

/// A string re-quoted with `"`. Refused if it holds `<`, `>`, `@`, a backslash, a quote or a control character
/// (after the tokeniser decoded its escapes); `&` and non-ASCII are escaped.
pub(super) fn serialize_string(text: &str) -> Option<String> {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        match c {
            // `@` too: then the only `@` anywhere in the output is the one of `@media`.
            '<' | '>' | '@' | '\\' | '"' | '\'' => return None,
            c if c.is_control() => return None,
            // Escaped so the output reads the same if a template ever HTML-escapes it.
            '&' => push_escape(&mut out, c),
            c if c.is_ascii() => out.push(c),
            c => push_escape(&mut out, c),
        }
    }
    out.push('"');
    Some(out)
}

/// `#rgb`, `#rgba`, `#rrggbb` or `#rrggbbaa`, lowercased.
fn serialize_hex_colour(digits: &str) -> Option<String> {
    let valid = matches!(digits.len(), 3 | 4 | 6 | 8) && digits.bytes().all(|b| b.is_ascii_hexdigit());
    valid.then(|| format!("#{}", digits.to_ascii_lowercase()))
}

/// A number rounded to 3 decimals and written as plain digits (`-0.5`, `12`, `0.125`): no exponent, no
/// `+`, no trailing zeros. `None` for non-finite values and magnitudes over [`MAX_NUMBER`]. Rounding to a
/// fixed precision well above `f32`'s noise is what makes re-sanitising the output return it unchanged.
pub(super) fn serialize_number(value: f64) -> Option<String> {
    if !value.is_finite() || value.abs() > MAX_NUMBER {
        return None;
    }
    // |value| <= 1e10, so the product (at most 1e13) fits an i64 exactly.
    let thousandths = (value * 1000.0).round() as i64;
    let sign = if thousandths < 0 { "-" } else { "" };
    let magnitude = thousandths.unsigned_abs();
    let (whole, fraction) = (magnitude / 1000, magnitude % 1000);
    if fraction == 0 {
        return Some(format!("{sign}{whole}"));
    }
    let fraction = format!("{fraction:03}");
    Some(format!("{sign}{whole}.{}", fraction.trim_end_matches('0')))
}
