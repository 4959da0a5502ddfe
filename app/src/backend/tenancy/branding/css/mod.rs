//! Resellers' custom CSS: parsed, filtered through an allow-list and written out again by us.
//!
//! Why: the seed stored a reseller's CSS and echoed it raw into a `<style>` element on every page of the
//! storefront. Anyone able to edit it could close the element (`</style><script>…`) and run script in every
//! customer's session, or stay inside CSS and still exfiltrate (`url(//evil/?…)`, attribute selectors that
//! leak input values) or execute (`expression()`, `behavior`, `-moz-binding`).
//!
//! So the input is never echoed, not even filtered in place. It is tokenised and parsed with servo's
//! `cssparser` (the same tokeniser rules as browsers, including escapes, comments and CDO/CDC), every piece is
//! checked against an allow-list, and the output is a fresh canonical serialisation written here
//! (`sel{prop:value;}`). What is not understood is dropped: a rule with one bad selector, a declaration
//! with one bad token, an at-rule we do not know. Only cost rejects the whole input: more than
//! [`MAX_CSS_INPUT_BYTES`] bytes read, more than [`MAX_CSS_BYTES`] bytes written out, or more than
//! [`MAX_CSS_RULES`] rules (plus [`CssError::Unsafe`], the fail-closed final check, which no input is known
//! to reach).
//!
//! What designers get (what the output can contain, by construction):
//! - style rules whose selectors are described in [`selectors`]: types, `*`, classes, ids, all four
//!   combinators, pseudo-classes including `:not() :is() :where() :nth-*()`, pseudo-elements
//!   (`::before`, `::after`, `::placeholder`, ...), and presence/equality attribute selectors (partial
//!   matches too on structural attributes such as `class`);
//! - declarations of allow-listed properties (about 400 standard ones, with vendor prefixes, including
//!   shorthands and logical properties) and of any custom property `--name`, whose values are built from
//!   identifiers, numbers (at most 3 decimals), dimensions with known units, percentages, hex colours,
//!   strings, `,`, `+ - * /`, grid line names and the functions of [`values::FUNCTIONS`]: `var()` and the
//!   maths functions, colours, gradients, transforms, filters, easing, `repeat()`/`minmax()`, shapes,
//!   counters. `content: "…"` on `::before`/`::after` is a string like any other;
//! - `@media` with every media type and feature (level 4, the range syntax rewritten without `<`/`>`),
//!   `@supports` over declarations and `selector()`, `@container` (size queries, as `@media`), `@layer`
//!   (statements and blocks), nested at most [`MAX_GROUP_DEPTH`] deep, and `@keyframes` (also
//!   `@-webkit-keyframes`) with `from`/`to`/percentages.
//!
//! What is refused, however it is spelled (escapes, comments, case, NUL bytes): everything that loads
//! (`url()` in any form, `@import`, `image-set()`, `image()`, `@font-face`, `@namespace`), leaks (`attr()`,
//! attribute selectors matching part of a non-structural value or comparing `value`/`nonce`) or runs
//! (`expression()`, `behavior`, `-moz-binding`, `javascript:`), and every other at-rule (`@page`,
//! `@property`, `@scope`, `@charset`, ...), nested rules and `:has()`.
//!
//! Strings are re-quoted with `"` and may not contain `<`, `>`, `@`, quotes or backslashes; characters
//! outside printable ASCII (and `&`) in strings and identifiers are written as `\hex ` escapes. So the
//! output never contains `<` (no `</style`, no `<!--`), its only `>` are child combinators written ` > `
//! (no `-->`), its only `@` start the at-rules above, and its only backslashes start those escapes. As a
//! last line of defence every selector, declaration and the whole result are decoded and searched for
//! [`FORBIDDEN`] words (`url(`, `expression`, `javascript`, ...) and those shapes; the price is that an
//! innocent `.binding` class is dropped too. Sanitising is idempotent:
//! `sanitize_css(sanitize_css(x)) == sanitize_css(x)`.
//!
//! [`sanitize_css_scoped`] writes the same rules limited to one element (the live preview of
//! `/manage/branding`): every selector is put under `.scope`, and `:root`/`html`/`body` become the scope.

mod conditions;
mod selectors;
mod values;

#[cfg(test)]
mod corpus;
#[cfg(test)]
mod tests;

use cssparser::{
    AtRuleParser, CowRcStr, ParseError, Parser, ParserInput, ParserState, QualifiedRuleParser, StyleSheetParser, Token,
};

use values::parse_declaration_list;

/// Largest custom CSS we store, in bytes, as written out cleanly (64 KB): plenty for a theme. The output
/// can be longer than the input (`.5` is written `0.5`, `a>b` is `a > b`), so minified CSS may be refused
/// here although its input was smaller.
pub const MAX_CSS_BYTES: usize = 64 * 1024;
/// Largest custom CSS we read, in bytes (128 KB): comments, whitespace and dropped rules do not count
/// towards [`MAX_CSS_BYTES`], but parsing them has a cost. Anything larger is refused before parsing.
pub const MAX_CSS_INPUT_BYTES: usize = 2 * MAX_CSS_BYTES;
/// Most rules (style rules, keyframes and at-rules, at any depth, kept or dropped) in one custom stylesheet.
pub const MAX_CSS_RULES: usize = 3_000;
/// How deep `@media`, `@supports`, `@container` and `@layer` blocks may nest. Deeper blocks are dropped, which also
/// bounds our recursion.
pub const MAX_GROUP_DEPTH: usize = 4;

/// The limits a sanitisation runs under: [`Limits::STORED`] for everything a reseller saves; tests that
/// read whole framework stylesheets raise them (the limits are about cost, not safety).
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// The input, before parsing.
    pub input_bytes: usize,
    /// The output, written out cleanly.
    pub bytes: usize,
    pub rules: usize,
}

impl Limits {
    pub const STORED: Limits = Limits { input_bytes: MAX_CSS_INPUT_BYTES, bytes: MAX_CSS_BYTES, rules: MAX_CSS_RULES };
}

/// Why custom CSS was refused as a whole. Everything else is dropped piece by piece instead.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CssError {
    #[error("Custom CSS can be at most {} KB ({limit} bytes) as written; this is {size} bytes.", .limit / 1024)]
    TooLarge { size: usize, limit: usize },
    #[error(
        "Custom CSS can be at most {} KB ({limit} bytes) once written out cleanly; this comes to {size} bytes.",
        .limit / 1024
    )]
    TooLargeOnceCleaned { size: usize, limit: usize },
    #[error("Custom CSS can have at most {limit} rules.")]
    TooManyRules { limit: usize },
    /// The final check found something the allow-list should have stopped. Never expected: it exists so
    /// that a bug in the filters fails closed instead of reaching a page.
    #[error("This custom CSS could not be made safe.")]
    Unsafe,
}

/// Substrings that must never appear in the output, compared after decoding CSS escapes and lowercasing.
/// `<` covers `</style` and `<!--`, `-->` is there for good measure (a `>` must also stand alone, see
/// [`contains_forbidden`]); the words cover the script-running, fetching and data-copying CSS features,
/// however they were spelled in the input.
const FORBIDDEN: &[&str] = &[
    "<",
    "-->",
    "@import",
    "@font-face",
    "@namespace",
    "url(",
    "image-set(",
    "attr(",
    "expression",
    "behavior",
    "binding",
    "javascript",
    "vbscript",
];

/// The at-rules our output may contain, as written (each followed by a space, `{` or `;`).
const AT_RULES: &[&str] = &["@media ", "@supports ", "@container ", "@layer", "@keyframes ", "@-webkit-keyframes "];

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
/// Errors for input over [`MAX_CSS_INPUT_BYTES`], cleaned output over [`MAX_CSS_BYTES`], for more than
/// [`MAX_CSS_RULES`] rules, and, fail-closed, if the final check finds a forbidden word.
pub fn sanitize_css(input: &str) -> Result<String, CssError> {
    sanitize_with(input, Limits::STORED, None)
}

/// [`sanitize_css`], with every rule limited to the descendants of the element with class `scope` (which
/// must be a plain `[a-z][a-z0-9-]*` class name). Not idempotent, by design: it is for display only.
pub fn sanitize_css_scoped(input: &str, scope: &str) -> Result<String, CssError> {
    let valid = scope.starts_with(|c: char| c.is_ascii_lowercase())
        && scope.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    if !valid {
        return Err(CssError::Unsafe);
    }
    sanitize_with(input, Limits::STORED, Some(scope))
}

/// The sanitiser under explicit limits, optionally scoped.
pub fn sanitize_with(input: &str, limits: Limits, scope: Option<&str>) -> Result<String, CssError> {
    if input.len() > limits.input_bytes {
        return Err(CssError::TooLarge { size: input.len(), limit: limits.input_bytes });
    }
    let mut parser_input = ParserInput::new(input);
    let mut parser = Parser::new(&mut parser_input);
    let mut budget = Budget { rules_seen: 0, limit: limits.rules, exceeded: false };
    let context = Context { scope };
    let rules = parse_rule_list(&mut parser, &mut budget, context, 0);
    if budget.exceeded {
        return Err(CssError::TooManyRules { limit: limits.rules });
    }
    let css = rules.join("\n");
    // Escapes (`é` -> `\e9 `) and canonical spelling (`.5` -> `0.5`) can make the output longer than the
    // input; an output that would itself be refused would break idempotence (and the storage limit).
    if css.len() > limits.bytes {
        return Err(CssError::TooLargeOnceCleaned { size: css.len(), limit: limits.bytes });
    }
    if contains_forbidden(&css) {
        return Err(CssError::Unsafe);
    }
    Ok(css)
}

/// The rule count, shared by every nesting level.
struct Budget {
    rules_seen: usize,
    limit: usize,
    exceeded: bool,
}

impl Budget {
    /// Counts one more rule; false once over the limit.
    fn count(&mut self) -> bool {
        self.rules_seen += 1;
        if self.rules_seen > self.limit {
            self.exceeded = true;
        }
        !self.exceeded
    }
}

/// What every level of a sanitisation shares besides the budget.
#[derive(Clone, Copy)]
struct Context<'s> {
    /// The class every selector is put under, for the preview.
    scope: Option<&'s str>,
}

/// Parses a list of rules (the stylesheet, or a group rule's body) into serialised kept rules.
fn parse_rule_list(input: &mut Parser<'_, '_>, budget: &mut Budget, context: Context<'_>, depth: usize) -> Vec<String> {
    let mut rule_parser = RuleListParser { budget, context, depth };
    let mut rules = Vec::new();
    let mut items = StyleSheetParser::new(input, &mut rule_parser);
    while let Some(item) = items.next() {
        if !items.parser.budget.count() {
            break;
        }
        // Err: the rule was not allowed and cssparser has already skipped it. Ok(None): allowed but empty.
        if let Ok(Some(rule)) = item {
            rules.push(rule);
        }
    }
    rules
}

struct RuleListParser<'b, 's> {
    budget: &'b mut Budget,
    context: Context<'s>,
    depth: usize,
}

impl<'i> QualifiedRuleParser<'i> for RuleListParser<'_, '_> {
    /// The serialised selector list.
    type Prelude = String;
    type QualifiedRule = Option<String>;
    type Error = Disallowed;

    fn parse_prelude<'t>(&mut self, input: &mut Parser<'i, 't>) -> PResult<'i, String> {
        let list = selectors::parse_selector_list(input)?;
        Ok(selectors::write_selector_list(&list, self.context.scope))
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

/// The at-rules we keep, with their serialised preludes.
enum AtPrelude {
    Media(String),
    Supports(String),
    Container(String),
    /// `@layer` names (`a.b`), possibly none (an anonymous layer block).
    Layer(Vec<String>),
    /// The at-keyword as written (`@keyframes`, `@-webkit-keyframes`) and the animation name.
    Keyframes(&'static str, String),
}

impl AtPrelude {
    /// Everything the prelude will write, for the forbidden-word check.
    fn text(&self) -> String {
        match self {
            AtPrelude::Media(text) | AtPrelude::Supports(text) | AtPrelude::Container(text) => text.clone(),
            AtPrelude::Layer(names) => names.join(","),
            AtPrelude::Keyframes(_, name) => name.clone(),
        }
    }
}

impl<'i> AtRuleParser<'i> for RuleListParser<'_, '_> {
    type Prelude = AtPrelude;
    type AtRule = Option<String>;
    type Error = Disallowed;

    fn parse_prelude<'t>(&mut self, name: CowRcStr<'i>, input: &mut Parser<'i, 't>) -> PResult<'i, AtPrelude> {
        // `@import`, `@font-face`, `@namespace`, `@charset`, `@page`, `@property`, ...: all dropped.
        let group = self.depth < MAX_GROUP_DEPTH;
        let name = name.to_ascii_lowercase();
        let prelude = match name.as_str() {
            "media" if group => AtPrelude::Media(conditions::parse_media_query_list(input)?),
            "supports" if group => AtPrelude::Supports(conditions::parse_supports_condition(input)?),
            "container" if group => AtPrelude::Container(conditions::parse_container_prelude(input)?),
            "layer" if group => AtPrelude::Layer(parse_layer_names(input)?),
            "keyframes" => AtPrelude::Keyframes("@keyframes", parse_keyframes_name(input)?),
            "-webkit-keyframes" => AtPrelude::Keyframes("@-webkit-keyframes", parse_keyframes_name(input)?),
            _ => return Err(disallowed(input)),
        };
        // Names are free identifiers (`@layer expressionstyle`, `@keyframes javascripty`): like selectors and
        // declarations, a prelude holding a forbidden word is dropped here, so that the whole-sheet check
        // never has to refuse the sheet.
        if contains_forbidden(&prelude.text()) {
            return Err(disallowed(input));
        }
        Ok(prelude)
    }

    /// Only `@layer a, b;` has no block.
    fn rule_without_block(&mut self, prelude: AtPrelude, _start: &ParserState) -> Result<Option<String>, ()> {
        match prelude {
            AtPrelude::Layer(names) if !names.is_empty() => Ok(Some(format!("@layer {};", names.join(",")))),
            _ => Err(()),
        }
    }

    fn parse_block<'t>(
        &mut self,
        prelude: AtPrelude,
        _start: &ParserState,
        input: &mut Parser<'i, 't>,
    ) -> PResult<'i, Option<String>> {
        let head = match prelude {
            AtPrelude::Media(query) => format!("@media {query}"),
            AtPrelude::Supports(condition) => format!("@supports {condition}"),
            AtPrelude::Container(condition) => format!("@container {condition}"),
            AtPrelude::Layer(names) if names.is_empty() => "@layer".to_owned(),
            AtPrelude::Layer(names) if names.len() == 1 => format!("@layer {}", names[0]),
            AtPrelude::Layer(_) => return Err(disallowed(input)),
            AtPrelude::Keyframes(keyword, name) => {
                let frames = parse_keyframe_list(input, self.budget);
                if frames.is_empty() {
                    return Ok(None);
                }
                return Ok(Some(format!("{keyword} {name}{{{}}}", frames.join("\n"))));
            }
        };
        let rules = parse_rule_list(input, self.budget, self.context, self.depth + 1);
        if rules.is_empty() {
            return Ok(None);
        }
        Ok(Some(format!("{head}{{{}}}", rules.join("\n"))))
    }
}

/// `@layer` names: `a`, `a.b`, comma-separated; written `a.b,c`.
fn parse_layer_names<'i>(input: &mut Parser<'i, '_>) -> PResult<'i, Vec<String>> {
    if input.is_exhausted() {
        return Ok(Vec::new());
    }
    input.parse_comma_separated(|input| {
        let mut parts = Vec::new();
        loop {
            let part = {
                let ident = input.expect_ident()?;
                values::serialize_ident(ident)
            };
            parts.push(part.ok_or_else(|| disallowed(input))?);
            // `a.b`: the `.` must touch both names.
            let (dot, end) = match input.next_including_whitespace() {
                Ok(Token::Delim('.')) => (true, false),
                Ok(Token::WhiteSpace(_)) | Err(_) => (false, true),
                Ok(_) => (false, false),
            };
            if end {
                // Only whitespace may follow the name, up to the comma or the block.
                input.expect_exhausted()?;
                break;
            }
            if !dot {
                return Err(disallowed(input));
            }
        }
        Ok(parts.join("."))
    })
}

/// An animation name: an identifier (not a CSS-wide keyword or `none`) or a string.
fn parse_keyframes_name<'i>(input: &mut Parser<'i, '_>) -> PResult<'i, String> {
    let name = match input.next()?.clone() {
        Token::Ident(name) => {
            let reserved = ["none", "initial", "inherit", "unset", "revert", "revert-layer", "default"]
                .iter()
                .any(|r| name.eq_ignore_ascii_case(r));
            values::serialize_ident(&name).filter(|_| !reserved)
        }
        Token::QuotedString(text) => values::serialize_string(&text),
        _ => None,
    };
    let name = name.ok_or_else(|| disallowed(input))?;
    input.expect_exhausted()?;
    Ok(name)
}

/// The body of `@keyframes`: keyframe blocks `from`, `to`, `50%`, `0%,100%`, each with declarations.
fn parse_keyframe_list(input: &mut Parser<'_, '_>, budget: &mut Budget) -> Vec<String> {
    let mut parser = KeyframeListParser;
    let mut frames = Vec::new();
    for item in StyleSheetParser::new(input, &mut parser) {
        if !budget.count() {
            break;
        }
        if let Ok(Some(frame)) = item {
            frames.push(frame);
        }
    }
    frames
}

struct KeyframeListParser;

impl<'i> QualifiedRuleParser<'i> for KeyframeListParser {
    /// The serialised keyframe selectors.
    type Prelude = String;
    type QualifiedRule = Option<String>;
    type Error = Disallowed;

    fn parse_prelude<'t>(&mut self, input: &mut Parser<'i, 't>) -> PResult<'i, String> {
        let stops = input.parse_comma_separated(|input| {
            let stop = match input.next()?.clone() {
                Token::Ident(name) if name.eq_ignore_ascii_case("from") => Some("from".to_owned()),
                Token::Ident(name) if name.eq_ignore_ascii_case("to") => Some("to".to_owned()),
                Token::Percentage { unit_value, .. } if (0.0..=1.0).contains(&unit_value) => {
                    values::serialize_number(f64::from(unit_value) * 100.0).map(|n| n + "%")
                }
                _ => None,
            };
            stop.ok_or_else(|| disallowed(input))
        })?;
        Ok(stops.join(","))
    }

    fn parse_block<'t>(
        &mut self,
        stops: String,
        _start: &ParserState,
        input: &mut Parser<'i, 't>,
    ) -> PResult<'i, Option<String>> {
        let declarations = parse_declaration_list(input);
        if declarations.is_empty() {
            return Ok(None);
        }
        Ok(Some(format!("{stops}{{{}}}", declarations.concat())))
    }
}

impl<'i> AtRuleParser<'i> for KeyframeListParser {
    type Prelude = ();
    type AtRule = Option<String>;
    type Error = Disallowed;
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

/// True if `css`, once escapes are decoded and case folded, contains any [`FORBIDDEN`] substring, a `>`
/// that is not a child combinator standing alone (` > `), an `@` that does not start one of [`AT_RULES`],
/// or a backslash-newline line continuation (never produced by our serialiser).
fn contains_forbidden(css: &str) -> bool {
    let decoded = decode_css_escapes(css).to_lowercase();
    FORBIDDEN.iter().any(|word| decoded.contains(word))
        || decoded.match_indices('>').any(|(i, _)| !(decoded[..i].ends_with(' ') && decoded[i + 1..].starts_with(' ')))
        || decoded.match_indices('@').any(|(i, _)| !AT_RULES.iter().any(|rule| decoded[i..].starts_with(rule)))
        || ["\\\n", "\\\r", "\\\u{c}"].iter().any(|trick| css.contains(trick))
}
