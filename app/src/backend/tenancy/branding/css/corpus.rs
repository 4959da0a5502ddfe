//! The corpus check: ordinary CSS from real framework and theme stylesheets (`app/tests/css_corpus/`, see
//! its README for sources and licences) goes through the sanitiser, and at least 95 % of its declarations
//! must come out.
//!
//! Declarations are counted with cssparser on both sides, at every depth (inside `@media`, `@supports`,
//! `@layer`, `@keyframes`, ...). The denominator leaves out only what the sanitiser must refuse whatever
//! the selector: declarations whose value loads or copies page data (`url(` in any spelling, `image-set(`,
//! `attr(`, `expression(`), IE's `behavior`/`-ms-filter`/`filter: progid:` hacks, and the body of
//! `@font-face`, which exists only to load a font file. Everything else counts: a declaration lost
//! because its rule's selector or at-rule was refused counts as lost.

use cssparser::{
    AtRuleParser, CowRcStr, DeclarationParser, ParseError, Parser, ParserInput, ParserState, QualifiedRuleParser,
    RuleBodyItemParser, RuleBodyParser, StyleSheetParser,
};

use super::tests::assert_never_escapes_with;
use super::{decode_css_escapes, sanitize_with, Limits};

/// At-rules whose block holds rules (the rest hold declarations).
const GROUP_AT_RULES: &[&str] = &[
    "media",
    "supports",
    "layer",
    "container",
    "document",
    "-moz-document",
    "scope",
    "starting-style",
    "keyframes",
    "-webkit-keyframes",
    "-moz-keyframes",
    "-o-keyframes",
];

/// Loading, data-copying and script-running shapes: a declaration holding one must be refused.
const MUST_REFUSE: &[&str] = &["url(", "image-set(", "attr(", "expression(", "progid:"];
const MUST_REFUSE_PROPERTIES: &[&str] = &["behavior", "-ms-behavior", "-moz-binding", "-ms-filter"];

#[derive(Default, Debug, Clone, Copy, PartialEq, Eq)]
struct Count {
    /// Declarations that ordinary CSS may keep.
    ordinary: usize,
    /// Declarations that must be refused (not in the denominator).
    refused_by_design: usize,
}

impl std::ops::AddAssign for Count {
    fn add_assign(&mut self, other: Count) {
        self.ordinary += other.ordinary;
        self.refused_by_design += other.refused_by_design;
    }
}

fn count_declarations(css: &str) -> Count {
    let mut input = ParserInput::new(css);
    let mut parser = Parser::new(&mut input);
    count_rule_list(&mut parser, false)
}

fn count_rule_list(input: &mut Parser<'_, '_>, loads_only: bool) -> Count {
    let mut counter = Counter { loads_only };
    let mut total = Count::default();
    for count in StyleSheetParser::new(input, &mut counter).flatten() {
        total += count;
    }
    total
}

fn count_block(input: &mut Parser<'_, '_>, loads_only: bool) -> Count {
    let mut counter = Counter { loads_only };
    let mut total = Count::default();
    for count in RuleBodyParser::new(input, &mut counter).flatten() {
        total += count;
    }
    total
}

/// Counts declarations; `loads_only` marks a block (`@font-face`) whose declarations all count as refused.
struct Counter {
    loads_only: bool,
}

impl<'i> DeclarationParser<'i> for Counter {
    type Declaration = Count;
    type Error = ();

    fn parse_value<'t>(
        &mut self,
        name: CowRcStr<'i>,
        input: &mut Parser<'i, 't>,
        _start: &ParserState,
    ) -> Result<Count, ParseError<'i, ()>> {
        let start = input.position();
        while input.next().is_ok() {}
        let value = decode_css_escapes(input.slice_from(start)).to_ascii_lowercase();
        let name = decode_css_escapes(&name).to_ascii_lowercase();
        let refused = self.loads_only
            || MUST_REFUSE.iter().any(|w| value.contains(w))
            || MUST_REFUSE_PROPERTIES.contains(&name.as_str());
        Ok(if refused {
            Count { ordinary: 0, refused_by_design: 1 }
        } else {
            Count { ordinary: 1, refused_by_design: 0 }
        })
    }
}

impl<'i> QualifiedRuleParser<'i> for Counter {
    type Prelude = ();
    type QualifiedRule = Count;
    type Error = ();

    fn parse_prelude<'t>(&mut self, input: &mut Parser<'i, 't>) -> Result<(), ParseError<'i, ()>> {
        while input.next().is_ok() {}
        Ok(())
    }

    fn parse_block<'t>(
        &mut self,
        _: (),
        _start: &ParserState,
        input: &mut Parser<'i, 't>,
    ) -> Result<Count, ParseError<'i, ()>> {
        Ok(count_block(input, self.loads_only))
    }
}

impl<'i> AtRuleParser<'i> for Counter {
    /// Lowercase at-rule name.
    type Prelude = String;
    type AtRule = Count;
    type Error = ();

    fn parse_prelude<'t>(
        &mut self,
        name: CowRcStr<'i>,
        input: &mut Parser<'i, 't>,
    ) -> Result<String, ParseError<'i, ()>> {
        while input.next().is_ok() {}
        Ok(name.to_ascii_lowercase())
    }

    fn rule_without_block(&mut self, _: String, _start: &ParserState) -> Result<Count, ()> {
        Ok(Count::default())
    }

    fn parse_block<'t>(
        &mut self,
        name: String,
        _start: &ParserState,
        input: &mut Parser<'i, 't>,
    ) -> Result<Count, ParseError<'i, ()>> {
        Ok(if GROUP_AT_RULES.contains(&name.as_str()) {
            count_rule_list(input, self.loads_only)
        } else {
            count_block(input, self.loads_only || name == "font-face")
        })
    }
}

impl<'i> RuleBodyItemParser<'i, Count, ()> for Counter {
    fn parse_declarations(&self) -> bool {
        true
    }

    fn parse_qualified(&self) -> bool {
        // Nested style rules (CSS nesting) are counted too: the sanitiser drops them, and that counts.
        true
    }
}

/// The corpus files, name and content, sorted by name.
fn corpus() -> Vec<(String, String)> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/css_corpus");
    let mut files: Vec<(String, String)> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "css"))
        .map(|p| {
            let name = p.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
            let text = std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
            (name, text)
        })
        .collect();
    files.sort();
    files
}

/// What the corpus check measures, per file and in total.
struct Survival {
    ordinary_in: usize,
    refused_by_design: usize,
    out: usize,
}

fn measure(css: &str) -> Survival {
    let unlimited = Limits { input_bytes: usize::MAX, bytes: usize::MAX, rules: usize::MAX };
    let output = sanitize_with(css, unlimited, None).unwrap_or_else(|e| panic!("refused whole: {e}"));
    assert_never_escapes_with(css, &output);
    assert_eq!(sanitize_with(&output, unlimited, None).as_ref(), Ok(&output), "not idempotent");
    let before = count_declarations(css);
    let after = count_declarations(&output);
    assert_eq!(after.refused_by_design, 0, "a loading declaration survived");
    Survival { ordinary_in: before.ordinary, refused_by_design: before.refused_by_design, out: after.ordinary }
}

#[test]
fn the_declarations_of_ordinary_framework_and_theme_css_survive() {
    let files = corpus();
    assert!(files.len() >= 5, "the corpus has only {} files", files.len());
    let (mut total_in, mut total_out, mut total_refused) = (0, 0, 0);
    for (name, css) in &files {
        let s = measure(css);
        eprintln!(
            "css corpus: {name}: {} of {} declarations kept ({} %), {} refused by design",
            s.out,
            s.ordinary_in,
            Percent::of(s.out, s.ordinary_in),
            s.refused_by_design
        );
        total_in += s.ordinary_in;
        total_out += s.out;
        total_refused += s.refused_by_design;
    }
    let ratio = Percent::of(total_out, total_in);
    eprintln!(
        "css corpus: {} files, {total_out} of {total_in} declarations kept = {ratio} % ({total_refused} that \
         load or run refused by design)",
        files.len()
    );
    assert!(total_in >= 2_000, "the corpus is too small to mean anything: {total_in} declarations");
    assert!(total_out * 100 >= total_in * 95, "only {ratio} % of the corpus declarations survive");
}

#[test]
fn the_counter_counts_what_it_should() {
    let css = ".a{color:red;background:url(x)}@media (min-width:1px){.b{margin:0}}@font-face{font-family:x;src:url(y)}\
               @keyframes k{from{opacity:0}to{opacity:1}}.c{behavior:url(x.htc);b\\65havior:x}";
    assert_eq!(count_declarations(css), Count { ordinary: 4, refused_by_design: 5 });
}

/// `part` of `whole` in tenths of a percent (integers only), printed as "99.5".
struct Percent(usize);

impl Percent {
    fn of(part: usize, whole: usize) -> Percent {
        Percent((part * 1000).checked_div(whole).unwrap_or(1000))
    }
}

impl std::fmt::Display for Percent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{}", self.0 / 10, self.0 % 10)
    }
}
