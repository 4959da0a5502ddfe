//! Selectors: what a rule may apply to, parsed into our own structure and written back canonically.
//!
//! Kept: type selectors and `*`, `.class`, `#id`, the four combinators (descendant, `>`, `+`, `~`), the
//! pseudo-classes of [`PSEUDO_CLASSES`] and vendor-prefixed ones, `:not() :is() :where()` over selectors
//! of the same kind, `:nth-*()` with *An+B*, `:lang()`, `:dir()`, the pseudo-elements of
//! [`PSEUDO_ELEMENTS`] and vendor-prefixed ones (`:before` is written `::before`), and attribute selectors
//! in their presence `[disabled]` and whole-value `[type="button"]` forms, and, on the structural attributes
//! of [`STRUCTURAL_ATTRIBUTES`] (`class`, `lang`, ...), the partial forms too (`pre[class*="language-"]`).
//!
//! Refused: the operators that match part of a value (`^= $= *= ~= |=`) on any other attribute: with one
//! rule per guess they are how CSS reads a token or password out of an attribute (`value`, `href`,
//! `data-*`, `content`) character by character; and the equality form on `value` and `nonce`, the
//! attributes that hold what a page must keep. (Nothing in our output can send a guess anywhere, since no
//! value can load a URL; these refusals are the second wall.)
//! Also refused: namespaces (`svg|a`), `:has()`, nesting (`&`), `::part()`/`::slotted()` and anything
//! unknown.
//!
//! The `>` of the child combinator is the only `>` our output can contain, always written ` > ` with a
//! space on each side: so `-->` can never form, and with `<` never written, neither can `</style` or `<!--`.

use cssparser::{Parser, Token};

use super::values::{serialize_ident, serialize_string};
use super::{contains_forbidden, disallowed, PResult};

/// How deep `:not(:is(...))` may nest. Bounds our recursion.
const MAX_SELECTOR_DEPTH: usize = 3;

const PSEUDO_CLASSES: &[&str] = &[
    "active",
    "any-link",
    "autofill",
    "checked",
    "default",
    "defined",
    "disabled",
    "empty",
    "enabled",
    "first-child",
    "first-of-type",
    "focus",
    "focus-visible",
    "focus-within",
    "fullscreen",
    "hover",
    "in-range",
    "indeterminate",
    "invalid",
    "last-child",
    "last-of-type",
    "link",
    "modal",
    "only-child",
    "only-of-type",
    "optional",
    "out-of-range",
    "paused",
    "placeholder-shown",
    "playing",
    "popover-open",
    "read-only",
    "read-write",
    "required",
    "root",
    "target",
    "user-invalid",
    "user-valid",
    "valid",
    "visited",
];

const PSEUDO_ELEMENTS: &[&str] = &[
    "after",
    "backdrop",
    "before",
    "cue",
    "file-selector-button",
    "first-letter",
    "first-line",
    "marker",
    "placeholder",
    "selection",
];

/// Pseudo-elements that CSS 2 wrote with one colon; we write them with two.
const LEGACY_PSEUDO_ELEMENTS: &[&str] = &["before", "after", "first-line", "first-letter"];

/// Attributes whose value may not be compared, even whole.
const SECRET_ATTRIBUTES: &[&str] = &["value", "nonce"];

/// Attributes that describe the page's structure and never hold user data or tokens: the only ones whose
/// value may be matched in part (`pre[class*="language-"]`, `[lang|=en]`), as syntax themes and frameworks do.
const STRUCTURAL_ATTRIBUTES: &[&str] = &["class", "dir", "lang", "role", "type"];

#[derive(Clone, Copy, PartialEq, Eq)]
enum Combinator {
    Descendant,
    Child,
    NextSibling,
    LaterSibling,
}

impl Combinator {
    fn as_str(self) -> &'static str {
        match self {
            Combinator::Descendant => " ",
            Combinator::Child => " > ",
            Combinator::NextSibling => " + ",
            Combinator::LaterSibling => " ~ ",
        }
    }
}

/// A compound selector: its simple selectors in order, each already serialised (`div`, `.a`, `:hover`).
type Compound = Vec<String>;

/// A complex selector: compounds, each but the first with the combinator before it.
#[derive(Default)]
pub(super) struct Complex {
    parts: Vec<(Option<Combinator>, Compound)>,
}

impl Complex {
    fn write(&self, out: &mut String) {
        for (combinator, compound) in &self.parts {
            if let Some(c) = combinator {
                out.push_str(c.as_str());
            }
            out.push_str(&compound.concat());
        }
    }

    /// The selector limited to the descendants of `.scope`: the page's root (`:root`, `html`, `body`) in
    /// front becomes the scope element itself, anything else is put under it (`.a` -> `.scope .a`).
    fn write_scoped(&self, scope: &str, out: &mut String) {
        let is_root = |s: &str| matches!(s, ":root" | "html" | "body");
        // Leading compounds that are only the page's root (`html body .a`) are dropped.
        let skip = self.parts.iter().take_while(|(_, c)| c.len() == 1 && is_root(&c[0])).count();
        let root_first = self.parts.first().and_then(|(_, c)| c.first()).is_some_and(|s| is_root(s));
        let (head, rest): (&[String], _) = if skip > 0 {
            (&[], &self.parts[skip..])
        } else if root_first {
            // `html.dark .a`, `:root[data-theme="dark"]`: the root's own conditions move to the scope.
            (&self.parts[0].1[1..], &self.parts[1..])
        } else {
            (&[], &self.parts[..])
        };
        out.push('.');
        out.push_str(scope);
        out.push_str(&head.concat());
        for (combinator, compound) in rest {
            out.push_str(combinator.unwrap_or(Combinator::Descendant).as_str());
            out.push_str(&compound.concat());
        }
    }
}

/// A selector list, serialised canonically (selectors joined by `,`), or with `scope` put in front of each.
pub(super) fn write_selector_list(list: &[Complex], scope: Option<&str>) -> String {
    let mut out = String::new();
    for (i, complex) in list.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        match scope {
            Some(scope) => complex.write_scoped(scope, &mut out),
            None => complex.write(&mut out),
        }
    }
    out
}

/// A rule's selector list. Refused whole if any selector in it is refused, as browsers do.
pub(super) fn parse_selector_list<'i>(input: &mut Parser<'i, '_>) -> PResult<'i, Vec<Complex>> {
    let list = parse_list(input, 0)?;
    if contains_forbidden(&write_selector_list(&list, None)) {
        return Err(disallowed(input));
    }
    Ok(list)
}

/// One complex selector for `@supports selector(...)`, serialised.
pub(super) fn parse_one_selector<'i>(input: &mut Parser<'i, '_>) -> PResult<'i, String> {
    let list = parse_selector_list(input)?;
    if list.len() != 1 {
        return Err(disallowed(input));
    }
    Ok(write_selector_list(&list, None))
}

struct ListBuilder {
    list: Vec<Complex>,
    complex: Complex,
    compound: Compound,
    /// The combinator seen since the last compound (whitespace gives a descendant one, which an explicit
    /// `>`, `+` or `~` replaces).
    pending: Option<Combinator>,
    /// The compound has a pseudo-element: only pseudo-classes may follow it.
    after_pseudo_element: bool,
}

impl ListBuilder {
    fn end_compound(&mut self) {
        if self.compound.is_empty() {
            return;
        }
        let combinator = if self.complex.parts.is_empty() { None } else { self.pending.take() };
        self.pending = None;
        self.complex.parts.push((combinator, std::mem::take(&mut self.compound)));
        self.after_pseudo_element = false;
    }

    /// `None` for an empty selector (`,a`, `a,,b`, `a,`) or one ending in a combinator (`a >`).
    fn end_complex(&mut self) -> Option<()> {
        self.end_compound();
        let dangling = matches!(self.pending, Some(c) if c != Combinator::Descendant);
        if self.complex.parts.is_empty() || dangling {
            return None;
        }
        self.pending = None;
        self.list.push(std::mem::take(&mut self.complex));
        Some(())
    }

    /// Before a simple selector: true if it starts a compound (where a type selector may stand).
    fn starting_compound(&self) -> bool {
        self.compound.is_empty()
    }
}

fn parse_list<'i>(input: &mut Parser<'i, '_>, depth: usize) -> PResult<'i, Vec<Complex>> {
    let mut b = ListBuilder {
        list: Vec::new(),
        complex: Complex::default(),
        compound: Vec::new(),
        pending: None,
        after_pseudo_element: false,
    };
    // Whitespace matters here (it is the descendant combinator), so comments are skipped but whitespace is
    // not: `.a/**/.b` is one compound, as in browsers.
    while let Ok(token) = input.next_including_whitespace() {
        let token = token.clone();
        let simple = match token {
            Token::WhiteSpace(_) => {
                b.end_compound();
                if !b.complex.parts.is_empty() && b.pending.is_none() {
                    b.pending = Some(Combinator::Descendant);
                }
                continue;
            }
            Token::Delim(c @ ('>' | '+' | '~')) => {
                b.end_compound();
                let explicit = matches!(b.pending, Some(p) if p != Combinator::Descendant);
                if b.complex.parts.is_empty() || explicit {
                    return Err(disallowed(input));
                }
                b.pending = Some(match c {
                    '>' => Combinator::Child,
                    '+' => Combinator::NextSibling,
                    _ => Combinator::LaterSibling,
                });
                continue;
            }
            Token::Comma => {
                b.end_complex().ok_or_else(|| disallowed(input))?;
                continue;
            }
            _ if b.after_pseudo_element && token != Token::Colon => None,
            // A type selector can only start a compound (`.a/**/div` is invalid, as in browsers).
            Token::Ident(name) if b.starting_compound() => serialize_ident(&name).map(|n| n.to_ascii_lowercase()),
            Token::Delim('*') if b.starting_compound() => Some("*".to_owned()),
            Token::IDHash(name) => serialize_ident(&name).map(|n| format!("#{n}")),
            Token::Delim('.') => match input.next_including_whitespace() {
                Ok(Token::Ident(name)) => serialize_ident(name).map(|n| format!(".{n}")),
                _ => None,
            },
            Token::SquareBracketBlock => Some(input.parse_nested_block(parse_attribute)?),
            Token::Colon => {
                let (text, is_element) = parse_pseudo(input, depth, b.after_pseudo_element)?;
                b.after_pseudo_element |= is_element;
                Some(text)
            }
            // `|`, `&`, strings, numbers, `{}`/`()` blocks, `<`, ...
            _ => None,
        };
        b.compound.push(simple.ok_or_else(|| disallowed(input))?);
    }
    b.end_complex().ok_or_else(|| disallowed(input))?;
    Ok(b.list)
}

/// After a `:`: a pseudo-class (`:hover`, `:not(.a)`, `:nth-child(2n+1)`) or pseudo-element (`::before`,
/// or legacy `:before`). Returns the serialisation and whether it is a pseudo-element.
fn parse_pseudo<'i>(input: &mut Parser<'i, '_>, depth: usize, after_element: bool) -> PResult<'i, (String, bool)> {
    let vendor = |name: &str| ["-webkit-", "-moz-", "-ms-"].iter().any(|p| name.starts_with(p) && name.len() > p.len());
    let valid_name = |name: &str| name.bytes().all(|b| b.is_ascii_lowercase() || b == b'-');
    match input.next_including_whitespace()?.clone() {
        Token::Colon if !after_element => {
            let name = match input.next_including_whitespace() {
                Ok(Token::Ident(name)) => name.to_ascii_lowercase(),
                _ => return Err(disallowed(input)),
            };
            let known = PSEUDO_ELEMENTS.contains(&name.as_str()) || (vendor(&name) && valid_name(&name));
            if !known {
                return Err(disallowed(input));
            }
            Ok((format!("::{name}"), true))
        }
        Token::Ident(name) => {
            let name = name.to_ascii_lowercase();
            if LEGACY_PSEUDO_ELEMENTS.contains(&name.as_str()) && !after_element {
                return Ok((format!("::{name}"), true));
            }
            let known = PSEUDO_CLASSES.contains(&name.as_str()) || (vendor(&name) && valid_name(&name));
            if !known {
                return Err(disallowed(input));
            }
            Ok((format!(":{name}"), false))
        }
        Token::Function(name) if !after_element => {
            let name = name.to_ascii_lowercase();
            let arguments = match name.as_str() {
                "not" | "is" | "where" if depth < MAX_SELECTOR_DEPTH => input.parse_nested_block(|input| {
                    let list = parse_list(input, depth + 1)?;
                    Ok(write_selector_list(&list, None))
                })?,
                "nth-child" | "nth-last-child" | "nth-of-type" | "nth-last-of-type" => {
                    input.parse_nested_block(|input| {
                        let (a, b) = cssparser::parse_nth(input)?;
                        input.expect_exhausted()?;
                        Ok(serialize_nth(a, b))
                    })?
                }
                "dir" => input.parse_nested_block(|input| {
                    let dir = {
                        let ident = input.expect_ident()?;
                        ["ltr", "rtl"].into_iter().find(|d| ident.eq_ignore_ascii_case(d))
                    };
                    input.expect_exhausted()?;
                    dir.map(str::to_owned).ok_or_else(|| disallowed(input))
                })?,
                "lang" => input.parse_nested_block(|input| {
                    let languages = input.parse_comma_separated(|input| {
                        let language = match input.next()? {
                            Token::Ident(name) => serialize_ident(name),
                            Token::QuotedString(text) => serialize_string(text),
                            _ => None,
                        };
                        language.ok_or_else(|| disallowed(input))
                    })?;
                    Ok(languages.join(","))
                })?,
                _ => return Err(disallowed(input)),
            };
            Ok((format!(":{name}({arguments})"), false))
        }
        _ => Err(disallowed(input)),
    }
}

/// *An+B* in its shortest canonical spelling: `2n+1`, `-n+3`, `n`, `5`, `2n-1`.
fn serialize_nth(a: i32, b: i32) -> String {
    let a_part = match a {
        0 => return b.to_string(),
        1 => "n".to_owned(),
        -1 => "-n".to_owned(),
        a => format!("{a}n"),
    };
    match b {
        0 => a_part,
        b if b > 0 => format!("{a_part}+{b}"),
        b => format!("{a_part}{b}"),
    }
}

/// Inside `[...]`: `name` or `name=value` (value an identifier or string, optional `i`/`s` flag). Written
/// `[name]` or `[name="value"]`.
fn parse_attribute<'i>(input: &mut Parser<'i, '_>) -> PResult<'i, String> {
    let name = {
        let ident = input.expect_ident()?;
        serialize_ident(ident).map(|n| n.to_ascii_lowercase())
    };
    let name = name.ok_or_else(|| disallowed(input))?;
    if input.is_exhausted() {
        return Ok(format!("[{name}]"));
    }
    let operator = match input.next()? {
        Token::Delim('=') => Some("="),
        Token::PrefixMatch => Some("^="),
        Token::SuffixMatch => Some("$="),
        Token::SubstringMatch => Some("*="),
        Token::IncludeMatch => Some("~="),
        Token::DashMatch => Some("|="),
        // `ns|a`, ...
        _ => None,
    };
    let operator = operator.ok_or_else(|| disallowed(input))?;
    let allowed = if operator == "=" {
        !SECRET_ATTRIBUTES.contains(&name.as_str())
    } else {
        STRUCTURAL_ATTRIBUTES.contains(&name.as_str())
    };
    if !allowed {
        return Err(disallowed(input));
    }
    let value = match input.next()? {
        Token::Ident(v) | Token::QuotedString(v) => serialize_string(v),
        _ => None,
    };
    let value = value.ok_or_else(|| disallowed(input))?;
    let flag = if input.is_exhausted() {
        String::new()
    } else {
        let flag = {
            let ident = input.expect_ident()?;
            ["i", "s"].into_iter().find(|f| ident.eq_ignore_ascii_case(f))
        };
        input.expect_exhausted()?;
        format!(" {}", flag.ok_or_else(|| disallowed(input))?)
    };
    Ok(format!("[{name}{operator}{value}{flag}]"))
}
