//! The preludes of `@media`, `@container` and `@supports`, parsed and written back canonically.
//!
//! `@media`: Media Queries level 4, every media type and feature: `[not|only] type [and condition]` or a
//! condition of `not`, `and`, `or` and parentheses over features `(name)` and `(name: value)`, where a value
//! is a number, a dimension, a ratio (`16/9`) or an identifier. The range syntax (`(width >= 40rem)`) would
//! put `<` or `>` in the output, so it is rewritten into the equivalent `min-`/`max-` form:
//! `(width >= 40rem)` is `(min-width:40rem)`, `(width < 40rem)` is `(not (min-width:40rem))`, and
//! `(30rem <= width <= 60rem)` is `((min-width:30rem) and (max-width:60rem))`. (Browsers that read the
//! range syntax also read `not` inside a condition: both came with level 4.)
//!
//! `@container`: an optional container name and a condition as in `@media`.
//!
//! `@supports`: `not`, `and`, `or` and parentheses over declarations (checked like any declaration) and
//! `selector(...)` (checked like any selector).

use cssparser::{Parser, Token};

use super::selectors::parse_one_selector;
use super::values::{parse_declaration, serialize_dimension, serialize_ident, serialize_number};
use super::{disallowed, PResult};

/// How deep parentheses may nest in a condition. Bounds our recursion.
const MAX_CONDITION_DEPTH: usize = 6;

/// Features that take a range, so may be written with `min-`/`max-` and with the range syntax.
const RANGE_FEATURES: &[&str] = &[
    "width",
    "height",
    "aspect-ratio",
    "resolution",
    "color",
    "color-index",
    "monochrome",
    "device-width",
    "device-height",
    "device-aspect-ratio",
];

// ---- @media ----------------------------------------------------------------------------------------------

/// `query ( , query )*`, queries joined by `,`.
pub(super) fn parse_media_query_list<'i>(input: &mut Parser<'i, '_>) -> PResult<'i, String> {
    let queries = input.parse_comma_separated(parse_media_query)?;
    Ok(queries.join(","))
}

/// `[not|only]? type [and condition-without-or]?` or a condition.
fn parse_media_query<'i>(input: &mut Parser<'i, '_>) -> PResult<'i, String> {
    if let Ok(condition) = input.try_parse(|input| parse_condition(input, 0, Kind::Media)) {
        input.expect_exhausted()?;
        return Ok(condition);
    }
    let mut out = String::new();
    let mut media_type = input.expect_ident_cloned()?.to_ascii_lowercase();
    if matches!(media_type.as_str(), "not" | "only") {
        out.push_str(&media_type);
        out.push(' ');
        media_type = input.expect_ident_cloned()?.to_ascii_lowercase();
    }
    let reserved = matches!(media_type.as_str(), "not" | "only" | "and" | "or" | "layer");
    let media_type = serialize_ident(&media_type).filter(|_| !reserved).ok_or_else(|| disallowed(input))?;
    out.push_str(&media_type);
    if input.is_exhausted() {
        return Ok(out);
    }
    input.expect_ident_matching("and")?;
    // After a type, `or` is not allowed at the top level (`screen and (a) or (b)` is invalid).
    let condition = parse_condition(input, 0, Kind::MediaAfterType)?;
    input.expect_exhausted()?;
    Ok(format!("{out} and {condition}"))
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Media,
    /// A media condition after `type and`: no `or` at its top level.
    MediaAfterType,
    Supports,
}

/// `not <in-parens>` | `<in-parens> [and <in-parens>]*` | `<in-parens> [or <in-parens>]*`.
fn parse_condition<'i>(input: &mut Parser<'i, '_>, depth: usize, kind: Kind) -> PResult<'i, String> {
    if depth > MAX_CONDITION_DEPTH {
        return Err(disallowed(input));
    }
    if input.try_parse(|input| input.expect_ident_matching("not")).is_ok() {
        return Ok(format!("not {}", parse_in_parens(input, depth, kind)?));
    }
    let mut out = parse_in_parens(input, depth, kind)?;
    let mut operator: Option<&'static str> = None;
    while !input.is_exhausted() {
        let word = {
            let ident = input.expect_ident()?;
            ["and", "or"].into_iter().find(|w| ident.eq_ignore_ascii_case(w))
        };
        let word = word.ok_or_else(|| disallowed(input))?;
        // One kind of operator per level, as the grammar says; and no `or` after `screen and`.
        if operator.is_some_and(|o| o != word) || (word == "or" && kind == Kind::MediaAfterType) {
            return Err(disallowed(input));
        }
        operator = Some(word);
        out.push(' ');
        out.push_str(word);
        out.push(' ');
        out.push_str(&parse_in_parens(input, depth, kind)?);
    }
    Ok(out)
}

/// `( condition )`, `( feature )` / `( declaration )`, or for `@supports`, `selector( ... )`.
fn parse_in_parens<'i>(input: &mut Parser<'i, '_>, depth: usize, kind: Kind) -> PResult<'i, String> {
    let inner_kind = if kind == Kind::Supports { Kind::Supports } else { Kind::Media };
    match input.next()?.clone() {
        Token::ParenthesisBlock => input.parse_nested_block(|input| {
            if let Ok(condition) = input.try_parse(|input| {
                let c = parse_condition(input, depth + 1, inner_kind)?;
                input.expect_exhausted()?;
                Ok::<_, cssparser::ParseError<'i, super::Disallowed>>(c)
            }) {
                return Ok(format!("({condition})"));
            }
            match kind {
                Kind::Supports => parse_supports_declaration(input),
                Kind::Media | Kind::MediaAfterType => parse_media_feature(input),
            }
        }),
        Token::Function(name) if kind == Kind::Supports && name.eq_ignore_ascii_case("selector") => {
            let selector = input.parse_nested_block(parse_one_selector)?;
            Ok(format!("selector({selector})"))
        }
        _ => Err(disallowed(input)),
    }
}

/// A media feature value: a number, a dimension with a known unit, a ratio or an identifier.
fn parse_feature_value<'i>(input: &mut Parser<'i, '_>) -> PResult<'i, String> {
    let value = match input.next()?.clone() {
        Token::Number { value, .. } => {
            let number = serialize_number(f64::from(value)).ok_or_else(|| disallowed(input))?;
            // A ratio: `16/9`, `16 / 9`.
            if input.try_parse(|input| input.expect_delim('/')).is_ok() {
                let denominator = match input.next()? {
                    Token::Number { value, .. } => serialize_number(f64::from(*value)),
                    _ => None,
                };
                Some(format!("{number}/{}", denominator.ok_or_else(|| disallowed(input))?))
            } else {
                Some(number)
            }
        }
        Token::Dimension { value, unit, .. } => serialize_dimension(value, &unit),
        Token::Ident(name) => serialize_ident(&name).map(|n| n.to_ascii_lowercase()),
        _ => None,
    };
    value.ok_or_else(|| disallowed(input))
}

/// Inside the parentheses of a media feature: `name`, `name: value`, or the range syntax.
fn parse_media_feature<'i>(input: &mut Parser<'i, '_>) -> PResult<'i, String> {
    // `name` or `name: value` or `name op value`.
    if let Ok(name) = input.try_parse(|input| input.expect_ident_cloned().map(|n| n.to_ascii_lowercase())) {
        let name = serialize_ident(&name).ok_or_else(|| disallowed(input))?;
        if input.is_exhausted() {
            return Ok(format!("({name})"));
        }
        if input.try_parse(|input| input.expect_colon()).is_ok() {
            let value = parse_feature_value(input)?;
            input.expect_exhausted()?;
            return Ok(format!("({name}:{value})"));
        }
        let op = parse_comparison(input)?;
        let value = parse_feature_value(input)?;
        input.expect_exhausted()?;
        return range(&name, op, &value).ok_or_else(|| disallowed(input));
    }
    // `value op name` or `value op name op value`.
    let low = parse_feature_value(input)?;
    let first = parse_comparison(input)?;
    let name = input.expect_ident_cloned()?.to_ascii_lowercase();
    let name = serialize_ident(&name).ok_or_else(|| disallowed(input))?;
    if input.is_exhausted() {
        return range(&name, first.flipped(), &low).ok_or_else(|| disallowed(input));
    }
    let second = parse_comparison(input)?;
    let high = parse_feature_value(input)?;
    input.expect_exhausted()?;
    // Both comparisons must point the same way (`a < width < b` or `a > width > b`).
    let same_way =
        matches!((first, second), (Cmp::Lt | Cmp::Le, Cmp::Lt | Cmp::Le) | (Cmp::Gt | Cmp::Ge, Cmp::Gt | Cmp::Ge));
    if !same_way {
        return Err(disallowed(input));
    }
    let lower = range(&name, first.flipped(), &low).ok_or_else(|| disallowed(input))?;
    let upper = range(&name, second, &high).ok_or_else(|| disallowed(input))?;
    Ok(format!("({lower} and {upper})"))
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Cmp {
    Lt,
    Le,
    Gt,
    Ge,
    Eq,
}

impl Cmp {
    /// The same comparison with its sides swapped (`10px < width` is `width > 10px`).
    fn flipped(self) -> Cmp {
        match self {
            Cmp::Lt => Cmp::Gt,
            Cmp::Le => Cmp::Ge,
            Cmp::Gt => Cmp::Lt,
            Cmp::Ge => Cmp::Le,
            Cmp::Eq => Cmp::Eq,
        }
    }
}

/// `<`, `<=`, `>`, `>=` or `=` (no space allowed between the two characters).
fn parse_comparison<'i>(input: &mut Parser<'i, '_>) -> PResult<'i, Cmp> {
    let first = match input.next()? {
        Token::Delim('<') => Cmp::Lt,
        Token::Delim('>') => Cmp::Gt,
        Token::Delim('=') => return Ok(Cmp::Eq),
        _ => return Err(disallowed(input)),
    };
    let equals = input.try_parse(|input| match input.next_including_whitespace()? {
        Token::Delim('=') => Ok(()),
        _ => Err(disallowed(input)),
    });
    Ok(match (first, equals.is_ok()) {
        (Cmp::Lt, true) => Cmp::Le,
        (Cmp::Gt, true) => Cmp::Ge,
        (op, _) => op,
    })
}

/// `name op value` as a `min-`/`max-` feature: `None` if `name` is not a range feature.
fn range(name: &str, op: Cmp, value: &str) -> Option<String> {
    if !RANGE_FEATURES.contains(&name) {
        return None;
    }
    Some(match op {
        Cmp::Ge => format!("(min-{name}:{value})"),
        Cmp::Le => format!("(max-{name}:{value})"),
        Cmp::Gt => format!("(not (max-{name}:{value}))"),
        Cmp::Lt => format!("(not (min-{name}:{value}))"),
        Cmp::Eq => format!("({name}:{value})"),
    })
}

// ---- @container -----------------------------------------------------------------------------------------

/// `[name] condition`, the condition over size features as in `@media` (`(min-width: 30rem)`,
/// `(width > 30rem)`); `style()` queries are refused.
pub(super) fn parse_container_prelude<'i>(input: &mut Parser<'i, '_>) -> PResult<'i, String> {
    let name = input
        .try_parse(|input| {
            let name = input.expect_ident_cloned()?.to_string();
            let reserved = ["not", "and", "or", "none"].iter().any(|r| name.eq_ignore_ascii_case(r));
            serialize_ident(&name).filter(|_| !reserved).ok_or_else(|| disallowed(input))
        })
        .ok();
    let condition = parse_condition(input, 0, Kind::Media)?;
    input.expect_exhausted()?;
    Ok(match name {
        Some(name) => format!("{name} {condition}"),
        None => condition,
    })
}

// ---- @supports -------------------------------------------------------------------------------------------

/// The condition of `@supports`.
pub(super) fn parse_supports_condition<'i>(input: &mut Parser<'i, '_>) -> PResult<'i, String> {
    let condition = parse_condition(input, 0, Kind::Supports)?;
    input.expect_exhausted()?;
    Ok(condition)
}

/// `(property: value)`: allowed only if the declaration itself would be kept. Written `(prop:value)`.
fn parse_supports_declaration<'i>(input: &mut Parser<'i, '_>) -> PResult<'i, String> {
    let name = input.expect_ident_cloned()?;
    input.expect_colon()?;
    let declaration = parse_declaration(&name, input)?;
    Ok(format!("({})", declaration.trim_end_matches(';')))
}
