//! Bar charts as numbers: the value axis with "nice" ticks, and where every bar, tick, label and tooltip
//! sits in the SVG's coordinate box. Integer arithmetic only (money in minor units, time in minutes), so
//! the server's HTML and the browser's hydration place everything identically and the tests can check it.
//! The component that draws a [`Chart`] is `crate::charts::BarChart`.

use serde::{Deserialize, Serialize};

use crate::domain::money::{Currency, Money};
use crate::domain::time::format_minutes;

/// What a chart's values count.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Unit {
    /// Minor units of a currency (cents, pence).
    Money(Currency),
    /// Whole minutes.
    Minutes,
}

impl Unit {
    /// A value as the tooltip, the value labels and the table say it: "$4.50", "1 h 30 min".
    pub fn value(self, v: i64) -> String {
        match self {
            Unit::Money(c) => Money::from_minor(v, c).to_string(),
            Unit::Minutes => format_minutes(v),
        }
    }

    /// A tick of the value axis, `step` apart from the next. Money leaves out the cents when every tick
    /// is a whole amount ("$0", "$2", "$4"), and keeps them on all ticks otherwise ("$0.00", "$0.50").
    pub fn tick(self, v: i64, step: i64) -> String {
        match self {
            Unit::Money(c) if Money::from_minor(step, c).is_whole() => Money::from_minor(v, c).compact(),
            _ => self.value(v),
        }
    }

    /// What the value axis counts, in words.
    pub fn describe(self) -> String {
        match self {
            Unit::Money(c) => format!("Amounts in {}", c.code()),
            Unit::Minutes => "Time in hours and minutes".to_owned(),
        }
    }

    /// The steps a person finds natural between two ticks, smallest first: 1-2-5 of the minor unit for
    /// money (1¢ … 50¢, $1, $2, $5, $10 …); for time the clock's own (5, 10, 15, 30 min, 1, 2, 3, 6 h),
    /// then 1-2-5 of hours (10 h, 20 h, 50 h …).
    fn steps(self) -> Vec<i64> {
        let decades = |first: i64| {
            let mut out = Vec::new();
            let mut k = first;
            loop {
                for m in [1, 2, 5] {
                    match k.checked_mul(m) {
                        Some(s) => out.push(s),
                        None => return out,
                    }
                }
                match k.checked_mul(10) {
                    Some(next) => k = next,
                    None => return out,
                }
            }
        };
        match self {
            Unit::Money(_) => decades(1),
            Unit::Minutes => {
                let mut s = vec![1, 2, 5, 10, 15, 30, 60, 120, 180, 360];
                s.extend(decades(600));
                s
            }
        }
    }
}

/// The value axis: from `min` to `max` (zero always included), a tick every `step`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Axis {
    pub min: i64,
    pub max: i64,
    pub step: i64,
}

/// At most this many intervals between ticks: enough to read a value off, few enough for a phone.
pub const MAX_INTERVALS: i64 = 5;

/// Values beyond this are drawn at it (no real chart comes near; it keeps every product below in range).
const LIMIT: i64 = 100_000_000_000_000_000;

impl Axis {
    /// The smallest natural step that covers `lo..=hi` (and zero) in at most [`MAX_INTERVALS`] intervals,
    /// with the axis ends on whole steps.
    pub fn nice(lo: i64, hi: i64, unit: Unit) -> Axis {
        let (lo, hi) = (lo.clamp(-LIMIT, 0), hi.clamp(0, LIMIT));
        let steps = unit.steps();
        let mut chosen = Axis { min: 0, max: 1, step: 1 };
        for step in steps {
            let (bottom, top) = (lo.div_euclid(step), -((-hi).div_euclid(step)));
            // Nothing to show still gets one interval, so the axis has a height.
            let top = if top == bottom { bottom + 1 } else { top };
            chosen = Axis { min: bottom * step, max: top * step, step };
            if top - bottom <= MAX_INTERVALS {
                break;
            }
        }
        chosen
    }

    /// Every tick from `min` to `max`, ascending.
    pub fn ticks(&self) -> Vec<i64> {
        let n = (self.max - self.min) / self.step;
        (0..=n).map(|i| self.min + i * self.step).collect()
    }
}

/// How the series of one group share its place on the axis.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Arrangement {
    /// Side by side (values may be negative).
    Grouped,
    /// On top of each other, the bar's height being their sum. With a negative value it is drawn
    /// [`Grouped`](Arrangement::Grouped) instead, since a stack cannot show one.
    Stacked,
}

/// One position on the category axis (a day, a month) with a value per series.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Group {
    /// Short, for the axis ("11-28", "2026-10").
    pub label: String,
    /// One per series, in the series' order (missing ones count as zero).
    pub values: Vec<i64>,
}

/// A bar chart and what to say when it has nothing to show.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Chart {
    /// Prefix of the page ids of its caption and description: unique on the page.
    pub id: String,
    /// What it shows ("Billed time per day, last 30 days"); the figure's caption and the table's.
    pub title: String,
    /// What the category axis counts ("Day", "Month"): the table's first column.
    pub category: String,
    pub unit: Unit,
    pub series: Vec<String>,
    pub arrangement: Arrangement,
    /// In a stacked chart, what a whole bar is (e.g. revenue = wholesale cost + margin): named in its
    /// tooltip and table, its value labelled on top.
    pub total: Option<String>,
    pub groups: Vec<Group>,
    /// Said, in words, instead of the chart when every value is zero.
    pub empty: String,
}

/// A rectangle in the chart's coordinate box (x right, y down).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rect {
    pub x: i64,
    pub y: i64,
    pub w: i64,
    pub h: i64,
}

/// Text at a point: `x` is its middle for category labels, its right end for ticks, its start in tooltips.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Text {
    pub x: i64,
    pub y: i64,
    pub text: String,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Bar {
    /// Index into [`Chart::series`].
    pub series: usize,
    pub rect: Rect,
}

/// One group as drawn: its bars, the column that answers hover, focus ring, tooltip and name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GroupLayout {
    /// The group's whole column in the plot: hovering anywhere on it shows the tooltip.
    pub column: Rect,
    pub bars: Vec<Bar>,
    /// The tooltip's box (in the band above the plot, where no bar reaches) and its lines.
    pub tip: Rect,
    pub tip_lines: Vec<Text>,
    /// The tooltip's lines in one sentence: the mark's accessible name.
    pub name: String,
    /// Any value is not zero: the keyboard stops here (zero days are in the table, not tab stops).
    pub has_value: bool,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Layout {
    pub width: i64,
    pub height: i64,
    pub axis: Axis,
    pub plot: Rect,
    /// The y of the zero line (the category axis).
    pub zero_y: i64,
    /// Value-axis ticks: `y` of the grid line, the label right-aligned at `x`.
    pub ticks: Vec<Text>,
    /// Category labels, centred, thinned out so they never overlap (the latest is always labelled).
    pub x_labels: Vec<Text>,
    /// Values written over their bars, centred, where they fit.
    pub value_labels: Vec<Text>,
    pub groups: Vec<GroupLayout>,
}

/// Width of the coordinate box: the SVG scales it to the page (a 360 px phone shows it at about 0.8).
pub const WIDTH: i64 = 400;
/// Font size of every text, in the box's units.
pub const FONT: i64 = 12;
/// A generous average advance of a character at [`FONT`] (digits and most letters are narrower).
const CHAR_W: i64 = 7;
const LINE_H: i64 = 15;
const PLOT_H: i64 = 140;
const MAX_BAR_W: i64 = 40;

fn text_w(s: &str) -> i64 {
    i64::try_from(s.chars().count()).unwrap_or(i64::MAX / CHAR_W) * CHAR_W
}

impl Chart {
    /// Nothing to draw: no groups, or every value zero.
    pub fn is_empty(&self) -> bool {
        self.groups.iter().all(|g| g.values.iter().all(|v| *v == 0))
    }

    fn value(&self, g: &Group, series: usize) -> i64 {
        g.values.get(series).copied().unwrap_or(0).clamp(-LIMIT, LIMIT)
    }

    /// The arrangement actually drawn: a stack only when it can show every value.
    pub fn drawn_as(&self) -> Arrangement {
        let negative = self.groups.iter().any(|g| (0..self.series.len()).any(|s| self.value(g, s) < 0));
        if self.series.len() > 1 && self.arrangement == Arrangement::Stacked && !negative {
            Arrangement::Stacked
        } else {
            Arrangement::Grouped
        }
    }

    /// The sum of a group's values (what a stacked bar's height shows).
    pub fn total_of(&self, g: &Group) -> i64 {
        (0..self.series.len()).map(|s| self.value(g, s)).sum()
    }

    /// A group's figures in words, one line each: what its tooltip shows and its mark is called.
    pub fn lines(&self, g: &Group) -> Vec<String> {
        let unit = self.unit;
        match (self.series.len(), &self.total) {
            (1, _) => vec![format!("{}: {}", g.label, unit.value(self.value(g, 0)))],
            (_, Some(total)) if self.arrangement == Arrangement::Stacked => {
                let mut out = vec![format!("{}: {total} {}", g.label, unit.value(self.total_of(g)))];
                out.extend(
                    self.series.iter().enumerate().map(|(s, n)| format!("{n} {}", unit.value(self.value(g, s)))),
                );
                out
            }
            _ => {
                let mut out = vec![g.label.clone()];
                out.extend(
                    self.series.iter().enumerate().map(|(s, n)| format!("{n} {}", unit.value(self.value(g, s)))),
                );
                out
            }
        }
    }

    /// Where everything goes; `None` when the chart is empty (the page says [`Chart::empty`] instead).
    pub fn layout(&self) -> Option<Layout> {
        if self.is_empty() || self.series.is_empty() {
            return None;
        }
        let arrangement = self.drawn_as();
        let k = i64::try_from(self.series.len()).ok()?;
        // The axis spans what is drawn: the stacks' sums, or each value on its own.
        let heights: Vec<i64> = match arrangement {
            Arrangement::Stacked => self.groups.iter().map(|g| self.total_of(g)).collect(),
            Arrangement::Grouped => {
                self.groups.iter().flat_map(|g| (0..self.series.len()).map(move |s| self.value(g, s))).collect()
            }
        };
        let lo = heights.iter().copied().min().unwrap_or(0);
        let hi = heights.iter().copied().max().unwrap_or(0);
        let axis = Axis::nice(lo, hi, self.unit);
        let tick_values = axis.ticks();
        let tick_texts: Vec<String> = tick_values.iter().map(|t| self.unit.tick(*t, axis.step)).collect();

        // The tooltip band on top is as tall as the longest tooltip, so a tooltip never covers a bar.
        let lines: Vec<Vec<String>> = self.groups.iter().map(|g| self.lines(g)).collect();
        let line_count = i64::try_from(lines.iter().map(Vec::len).max().unwrap_or(1)).ok()?;
        let tip_h = line_count * LINE_H + 6;
        let left = tick_texts.iter().map(|t| text_w(t)).max().unwrap_or(0) + 10;
        let plot = Rect { x: left, y: tip_h + 4 + 14, w: WIDTH - 4 - left, h: PLOT_H };
        let height = plot.y + plot.h + 24;
        let span = i128::from(axis.max - axis.min);
        let y_of = |v: i64| -> i64 {
            let num = i128::from(axis.max - v) * i128::from(plot.h);
            // Rounded to the nearest unit: num and span are never negative here.
            let y = (num * 2 + span) / (span * 2);
            plot.y + i64::try_from(y).unwrap_or(0)
        };
        let zero_y = y_of(0);
        let ticks =
            tick_values.iter().zip(tick_texts).map(|(v, text)| Text { x: plot.x - 6, y: y_of(*v), text }).collect();

        let n = i64::try_from(self.groups.len()).ok()?.max(1);
        let column_x = |i: i64| plot.x + plot.w * i / n;
        let slot_w = plot.w / n;
        // Category labels: every `stride`-th, counted back from the latest, so none overlap.
        let label_w = self.groups.iter().map(|g| text_w(&g.label)).max().unwrap_or(0) + 8;
        let stride = ((label_w + slot_w - 1) / slot_w.max(1)).max(1);
        let mut x_labels = Vec::new();
        let mut value_labels = Vec::new();
        let mut groups = Vec::new();
        for (i, (g, lines)) in self.groups.iter().zip(lines).enumerate() {
            let i = i64::try_from(i).ok()?;
            let column = Rect { x: column_x(i), y: plot.y, w: column_x(i + 1) - column_x(i), h: plot.h };
            let centre = column.x + column.w / 2;
            let inner = column.w - (column.w / 5).max(2);
            if (n - 1 - i) % stride == 0 {
                let half = text_w(&g.label) / 2;
                let x = centre.clamp(half, WIDTH - half);
                x_labels.push(Text { x, y: plot.y + plot.h + 16, text: g.label.clone() });
            }
            let bar = |series: usize, x: i64, w: i64, from: i64, value: i64| {
                let (a, b) = (y_of(from), y_of(from + value));
                let (mut y, mut h) = (a.min(b), (a - b).abs());
                // A value too small for a unit of height still shows as a sliver.
                if value != 0 && h == 0 {
                    h = 1;
                    if value > 0 {
                        y -= 1;
                    }
                }
                Bar { series, rect: Rect { x, y, w, h } }
            };
            let mut bars = Vec::new();
            match arrangement {
                Arrangement::Stacked => {
                    let w = inner.clamp(1, MAX_BAR_W);
                    let x = centre - w / 2;
                    let mut base = 0;
                    for s in 0..self.series.len() {
                        let v = self.value(g, s);
                        if v != 0 {
                            bars.push(bar(s, x, w, base, v));
                        }
                        base += v;
                    }
                    let text = self.unit.value(base);
                    if base != 0 && text_w(&text) <= column.w {
                        value_labels.push(Text { x: centre, y: y_of(base) - 4, text });
                    }
                }
                Arrangement::Grouped => {
                    let w = (inner / k).clamp(1, MAX_BAR_W);
                    let x0 = centre - w * k / 2;
                    for s in 0..self.series.len() {
                        let v = self.value(g, s);
                        let x = x0 + w * i64::try_from(s).ok()?;
                        bars.push(bar(s, x, w, 0, v));
                        let text = self.unit.value(v);
                        if v != 0 && text_w(&text) <= column.w / k {
                            let y = if v > 0 { y_of(v) - 4 } else { y_of(v) + FONT + 2 };
                            value_labels.push(Text { x: x + w / 2, y, text });
                        }
                    }
                }
            }
            let tip_w = lines.iter().map(|l| text_w(l)).max().unwrap_or(0) + 12;
            let tip = Rect { x: (centre - tip_w / 2).clamp(0, (WIDTH - tip_w).max(0)), y: 2, w: tip_w, h: tip_h };
            let tip_lines = lines
                .iter()
                .enumerate()
                .map(|(j, l)| Text {
                    x: tip.x + 6,
                    y: tip.y + LINE_H * (i64::try_from(j).unwrap_or(0) + 1),
                    text: l.clone(),
                })
                .collect();
            let has_value = (0..self.series.len()).any(|s| self.value(g, s) != 0);
            groups.push(GroupLayout { column, bars, tip, tip_lines, name: lines.join("; "), has_value });
        }
        Some(Layout { width: WIDTH, height, axis, plot, zero_y, ticks, x_labels, value_labels, groups })
    }

    /// The figures as table rows: the group's label, then each value in words (with the total first when
    /// the chart names one).
    pub fn table(&self) -> (Vec<String>, Vec<Vec<String>>) {
        let stacked_total = self.total.clone().filter(|_| self.arrangement == Arrangement::Stacked);
        let mut head = vec![self.category.clone()];
        head.extend(stacked_total.clone());
        head.extend(self.series.iter().cloned());
        let rows = self
            .groups
            .iter()
            .map(|g| {
                let mut row = vec![g.label.clone()];
                if stacked_total.is_some() {
                    row.push(self.unit.value(self.total_of(g)));
                }
                row.extend((0..self.series.len()).map(|s| self.unit.value(self.value(g, s))));
                row
            })
            .collect();
        (head, rows)
    }

    /// What the chart shows, for its description: the axis and how to read every value.
    pub fn description(&self, layout: &Layout) -> String {
        format!(
            "Bar chart. {}; the vertical axis runs from {} to {}. Each {} with a value can be focused to read \
             it; the table below lists every value.",
            self.unit.describe(),
            self.unit.tick(layout.axis.min, layout.axis.step),
            self.unit.tick(layout.axis.max, layout.axis.step),
            self.category.to_lowercase(),
        )
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    const USD: Unit = Unit::Money(Currency::USD);

    fn axis(lo: i64, hi: i64, unit: Unit) -> (i64, i64, i64) {
        let a = Axis::nice(lo, hi, unit);
        (a.min, a.max, a.step)
    }

    #[test]
    fn money_ticks_are_one_two_five_steps_of_the_minor_unit() {
        assert_eq!(axis(0, 450, USD), (0, 500, 100), "$4.50 → $0 … $5 by $1");
        assert_eq!(axis(0, 451, USD), (0, 500, 100));
        assert_eq!(axis(0, 501, USD), (0, 600, 200), "six intervals of $1 are too many: $2 steps");
        assert_eq!(axis(0, 4, USD), (0, 4, 1), "a few cents: cent steps");
        assert_eq!(axis(0, 7, USD), (0, 8, 2));
        assert_eq!(axis(0, 99_999, USD), (0, 100_000, 20_000));
        assert_eq!(axis(0, 1, USD), (0, 1, 1));
    }

    #[test]
    fn a_negative_value_extends_the_axis_below_zero() {
        assert_eq!(axis(-120, 450, USD), (-200, 600, 200));
        assert_eq!(axis(-50, 0, USD), (-50, 0, 10));
        assert_eq!(axis(300, 450, USD), (0, 500, 100), "zero is always on the axis");
    }

    #[test]
    fn an_all_zero_axis_still_has_one_interval() {
        assert_eq!(axis(0, 0, USD), (0, 1, 1));
        assert_eq!(axis(0, 0, Unit::Minutes), (0, 1, 1));
    }

    #[test]
    fn time_ticks_follow_the_clock_then_whole_hours() {
        assert_eq!(axis(0, 30, Unit::Minutes), (0, 30, 10));
        assert_eq!(axis(0, 45, Unit::Minutes), (0, 50, 10));
        assert_eq!(axis(0, 75, Unit::Minutes), (0, 75, 15));
        assert_eq!(axis(0, 90, Unit::Minutes), (0, 90, 30), "six quarter-hours are too many: 30 min");
        assert_eq!(axis(0, 240, Unit::Minutes), (0, 240, 60));
        assert_eq!(axis(0, 1440, Unit::Minutes), (0, 1440, 360), "a full day: 6 h steps");
        assert_eq!(axis(0, 2000, Unit::Minutes), (0, 2400, 600), "then 10 h");
        assert_eq!(axis(0, 30_000, Unit::Minutes), (0, 30_000, 6000));
    }

    #[test]
    fn ticks_run_from_min_to_max_by_the_step() {
        assert_eq!(Axis::nice(-120, 450, USD).ticks(), [-200, 0, 200, 400, 600]);
        assert_eq!(Axis::nice(0, 90, Unit::Minutes).ticks(), [0, 30, 60, 90]);
    }

    #[test]
    fn huge_values_stay_in_range() {
        let a = Axis::nice(i64::MIN, i64::MAX, USD);
        assert!(a.max - a.min <= a.step * MAX_INTERVALS && a.min < 0 && a.max > 0, "{a:?}");
        assert_eq!(a.ticks().len(), usize::try_from((a.max - a.min) / a.step).unwrap() + 1);
    }

    #[test]
    fn tick_labels_carry_their_unit_and_drop_cents_only_when_every_tick_is_whole() {
        let a = Axis::nice(0, 450, USD);
        let labels: Vec<String> = a.ticks().iter().map(|t| USD.tick(*t, a.step)).collect();
        assert_eq!(labels, ["$0", "$1", "$2", "$3", "$4", "$5"]);
        let a = Axis::nice(0, 180, Unit::Money(Currency::EUR));
        let labels: Vec<String> = a.ticks().iter().map(|t| Unit::Money(Currency::EUR).tick(*t, a.step)).collect();
        assert_eq!(labels, ["€0.00", "€0.50", "€1.00", "€1.50", "€2.00"]);
        let a = Axis::nice(0, 90, Unit::Minutes);
        let labels: Vec<String> = a.ticks().iter().map(|t| Unit::Minutes.tick(*t, a.step)).collect();
        assert_eq!(labels, ["0 min", "30 min", "1 h", "1 h 30 min"]);
    }

    fn chart(series: &[&str], arrangement: Arrangement, groups: &[(&str, &[i64])]) -> Chart {
        Chart {
            id: "c".into(),
            title: "Revenue".into(),
            category: "Month".into(),
            unit: USD,
            series: series.iter().map(|s| (*s).to_owned()).collect(),
            arrangement,
            total: Some("Revenue".into()),
            groups: groups.iter().map(|(l, v)| Group { label: (*l).to_owned(), values: v.to_vec() }).collect(),
            empty: "Nothing yet".into(),
        }
    }

    #[test]
    fn an_all_zero_chart_is_empty_and_has_no_layout() {
        let c = chart(&["Usage"], Arrangement::Grouped, &[("11-01", &[0]), ("11-02", &[0])]);
        assert!(c.is_empty() && c.layout().is_none());
        let c = chart(&["Usage"], Arrangement::Grouped, &[]);
        assert!(c.is_empty() && c.layout().is_none());
    }

    #[test]
    fn a_stack_is_as_tall_as_its_total_and_labelled_with_it() {
        let c = chart(
            &["Wholesale cost", "Margin"],
            Arrangement::Stacked,
            &[("2026-09", &[0, 0]), ("2026-10", &[100, 350])],
        );
        let l = c.layout().unwrap();
        assert_eq!((l.axis.min, l.axis.max, l.axis.step), (0, 500, 100));
        let oct = &l.groups[1];
        let (cost, margin) = (oct.bars[0].rect, oct.bars[1].rect);
        // $5 is the plot's full height: $1 is a fifth of it, $4.50 nine tenths.
        assert_eq!(cost.y + cost.h, l.zero_y);
        assert_eq!(cost.h, l.plot.h / 5);
        assert_eq!(margin.y + margin.h, cost.y, "the margin sits on the cost");
        assert_eq!(l.zero_y - margin.y, l.plot.h * 9 / 10);
        assert_eq!(
            l.value_labels,
            [Text { x: oct.column.x + oct.column.w / 2, y: margin.y - 4, text: "$4.50".into() }]
        );
        assert_eq!(oct.name, "2026-10: Revenue $4.50; Wholesale cost $1.00; Margin $3.50");
        assert!(oct.has_value && !l.groups[0].has_value && l.groups[0].bars.is_empty());
        let ticks: Vec<&str> = l.ticks.iter().map(|t| t.text.as_str()).collect();
        assert_eq!(ticks, ["$0", "$1", "$2", "$3", "$4", "$5"]);
        assert_eq!(l.ticks[0].y, l.zero_y);
        assert_eq!(l.ticks[5].y, l.plot.y);
    }

    #[test]
    fn a_stack_with_a_negative_value_is_drawn_side_by_side() {
        let c = chart(&["Wholesale cost", "Margin"], Arrangement::Stacked, &[("2026-10", &[300, -100])]);
        assert_eq!(c.drawn_as(), Arrangement::Grouped);
        let l = c.layout().unwrap();
        let g = &l.groups[0];
        assert_eq!(g.bars[1].rect.y, l.zero_y, "the negative bar hangs below zero");
        assert!(g.bars[0].rect.x + g.bars[0].rect.w <= g.bars[1].rect.x);
    }

    #[test]
    fn everything_stays_inside_the_box_and_labels_never_overlap() {
        let days: Vec<(String, Vec<i64>)> = (1..=30).map(|d| (format!("11-{d:02}"), vec![(d % 7) * 15])).collect();
        let c = Chart { unit: Unit::Minutes, ..chart(&["Billed time"], Arrangement::Grouped, &[]) };
        let c =
            Chart { groups: days.iter().map(|(l, v)| Group { label: l.clone(), values: v.clone() }).collect(), ..c };
        let l = c.layout().unwrap();
        assert_eq!(l.groups.len(), 30);
        let inside = |r: Rect| r.x >= 0 && r.y >= 0 && r.x + r.w <= l.width && r.y + r.h <= l.height;
        for g in &l.groups {
            assert!(inside(g.column) && inside(g.tip), "{g:?}");
            assert!(g.tip.y + g.tip.h < l.plot.y, "tooltips stay in the band above the bars");
            for b in &g.bars {
                assert!(inside(b.rect) && b.rect.x >= g.column.x && b.rect.x + b.rect.w <= g.column.x + g.column.w);
            }
        }
        assert_eq!(l.x_labels.last().map(|t| t.text.as_str()), Some("11-30"), "the latest day is labelled");
        for pair in l.x_labels.windows(2) {
            assert!(pair[1].x - pair[0].x >= text_w(&pair[0].text), "{pair:?}");
        }
        for t in l.x_labels.iter().chain(&l.ticks) {
            assert!(t.x >= 0 && t.x <= l.width && t.y <= l.height);
        }
        // Thirty thin bars leave no room to write their values on them: the tooltips and the table do.
        assert!(l.value_labels.is_empty());
        assert_eq!(l.groups[0].name, "11-01: 15 min");
        assert!(!l.groups[6].has_value, "11-07 has nothing");
    }

    #[test]
    fn the_table_lists_every_group_with_its_total() {
        let c = chart(&["Wholesale cost", "Margin"], Arrangement::Stacked, &[("2026-10", &[100, 350])]);
        let (head, rows) = c.table();
        assert_eq!(head, ["Month", "Revenue", "Wholesale cost", "Margin"]);
        assert_eq!(rows, [["2026-10", "$4.50", "$1.00", "$3.50"]]);
    }
}
