//! The app's one chart: an SVG bar chart (single, grouped or stacked) drawn from a
//! [`Chart`](crate::domain::chart::Chart), whose geometry and "nice" axis come from `domain::chart`.
//!
//! What it gives every reader: a value axis with units and ticks, labelled categories, values written on
//! the bars where they fit, a legend, and each group's figures on hover *and* on keyboard focus (a tab stop
//! per group that has a value, with a visible focus ring). The tooltip is plain CSS (`group-hover/mark`,
//! `group-focus/mark`), so it works before the page hydrates. An empty chart says so in words. Screen readers
//! get the figure's caption and description, an accessible name per group, and the same figures as a real
//! table. The SVG scales with its `viewBox`, so it fits a 360 px phone without overflowing.

use leptos::prelude::*;

use crate::domain::chart::{Chart, Layout, FONT};

/// The series' fills, in order (Tailwind finds the classes here). Brand first; the others keep at least
/// 3:1 against white, as non-text graphics must.
const FILLS: [&str; 3] = ["fill-brand", "fill-slate-500", "fill-emerald-700"];
const SWATCHES: [&str; 3] = ["bg-brand", "bg-slate-500", "bg-emerald-700"];

/// A bar chart with its caption, legend, description and table. `testid` names the figure for tests.
#[component]
pub fn BarChart(chart: Chart, #[prop(into)] testid: String) -> impl IntoView {
    let title_id = format!("{}-title", chart.id);
    let body = match chart.layout() {
        None => view! {
            <p class="mt-2 rounded border border-dashed border-slate-300 bg-white p-4 text-sm text-slate-600" data-testid="chart-empty">
                {chart.empty.clone()}
            </p>
        }
        .into_any(),
        Some(layout) => view! {
            <Plot chart=chart.clone() layout title_id=title_id.clone()/>
            <Legend chart=chart.clone()/>
            <FiguresTable chart=chart.clone()/>
        }
        .into_any(),
    };
    view! {
        <figure class="mt-2 max-w-xl" data-testid=testid aria-labelledby=title_id.clone()>
            <figcaption id=title_id.clone() class="text-sm text-slate-600">{chart.title.clone()}</figcaption>
            {body}
        </figure>
    }
}

#[component]
fn Plot(chart: Chart, layout: Layout, title_id: String) -> impl IntoView {
    let desc_id = format!("{}-desc", chart.id);
    let description = chart.description(&layout);
    let l = layout;
    let (x0, x1) = (l.plot.x, l.plot.x + l.plot.w);
    let font = FONT.to_string();
    view! {
        <svg viewBox=format!("0 0 {} {}", l.width, l.height) class="mt-1 block h-auto w-full" role="group"
            aria-labelledby=title_id aria-describedby=desc_id.clone() data-testid="chart-svg">
            <desc id=desc_id.clone()>{description}</desc>
            <g aria-hidden="true" class="fill-slate-600" font-size=font.clone() data-testid="chart-y-axis">
                {l.ticks.iter().map(|t| view! {
                    <line x1=x0.to_string() x2=x1.to_string() y1=t.y.to_string() y2=t.y.to_string() class="stroke-slate-200" stroke-width="1"/>
                    <text x=t.x.to_string() y=(t.y + 4).to_string() text-anchor="end">{t.text.clone()}</text>
                }).collect_view()}
            </g>
            <g aria-hidden="true" class="fill-slate-600" font-size=font.clone() data-testid="chart-x-axis">
                <line x1=x0.to_string() x2=x1.to_string() y1=l.zero_y.to_string() y2=l.zero_y.to_string() class="stroke-slate-500" stroke-width="1"/>
                {l.x_labels.iter().map(|t| view! { <text x=t.x.to_string() y=t.y.to_string() text-anchor="middle">{t.text.clone()}</text> }).collect_view()}
            </g>
            <g aria-hidden="true" class="fill-slate-800" font-size=font.clone() font-weight="600" data-testid="chart-values">
                {l.value_labels.iter().map(|t| view! { <text x=t.x.to_string() y=t.y.to_string() text-anchor="middle">{t.text.clone()}</text> }).collect_view()}
            </g>
            // One mark per group. Its children are presentational (role img): the name says it all.
            {l.groups.into_iter().map(|g| {
                let c = g.column;
                view! {
                    <g class="group/mark outline-none" role="img" aria-label=g.name tabindex=g.has_value.then_some("0") data-testid="chart-mark">
                        <rect x=c.x.to_string() y=c.y.to_string() width=c.w.to_string() height=c.h.to_string() class="fill-transparent group-hover/mark:fill-slate-100 group-focus/mark:fill-slate-100"/>
                        {g.bars.into_iter().map(|b| view! {
                            <rect x=b.rect.x.to_string() y=b.rect.y.to_string() width=b.rect.w.to_string() height=b.rect.h.to_string() class=FILLS[b.series % FILLS.len()]/>
                        }).collect_view()}
                        <rect x=(c.x + 1).to_string() y=(c.y - 1).to_string() width=(c.w - 2).max(1).to_string() height=(c.h + 2).to_string() fill="none" stroke-width="2"
                            class="invisible stroke-slate-900 group-focus/mark:visible" data-testid="chart-focus-ring"/>
                        <g class="invisible group-hover/mark:visible group-focus/mark:visible" data-testid="chart-tip">
                            <rect x=g.tip.x.to_string() y=g.tip.y.to_string() width=g.tip.w.to_string() height=g.tip.h.to_string() rx="4" class="fill-slate-900"/>
                            {g.tip_lines.into_iter().map(|t| view! {
                                <text x=t.x.to_string() y=t.y.to_string() font-size=FONT.to_string() class="fill-white">{t.text}</text>
                            }).collect_view()}
                        </g>
                    </g>
                }
            }).collect_view()}
        </svg>
    }
}

/// The series' colours and the unit, in words.
#[component]
fn Legend(chart: Chart) -> impl IntoView {
    let unit = chart.unit.describe();
    let several = chart.series.len() > 1;
    view! {
        <ul class="mt-1 flex flex-wrap gap-x-4 gap-y-1 text-xs text-slate-700" data-testid="chart-legend">
            {several.then(|| chart.series.iter().enumerate().map(|(i, name)| view! {
                <li class="flex items-center gap-1">
                    <span aria-hidden="true" class=format!("inline-block h-3 w-3 rounded-sm {}", SWATCHES[i % SWATCHES.len()])></span>
                    {name.clone()}
                </li>
            }).collect_view())}
            <li data-testid="chart-unit">{unit}</li>
        </ul>
    }
}

/// The chart's figures as a table: for screen readers, and for anyone who wants the exact numbers.
#[component]
fn FiguresTable(chart: Chart) -> impl IntoView {
    let (head, rows) = chart.table();
    view! {
        <details class="mt-2 text-sm" data-testid="chart-table">
            <summary class="cursor-pointer text-slate-700">"Show the figures as a table"</summary>
            <div class="overflow-x-auto">
                <table class="mt-1 w-full text-left">
                    <caption class="text-left text-xs text-slate-500">{chart.title.clone()}</caption>
                    <thead><tr class="text-xs uppercase text-slate-500">
                        {head.into_iter().map(|h| view! { <th scope="col" class="py-1 pr-3">{h}</th> }).collect_view()}
                    </tr></thead>
                    <tbody>
                        {rows.into_iter().map(|row| {
                            let mut cells = row.into_iter();
                            let label = cells.next().unwrap_or_default();
                            view! {
                                <tr class="border-t border-slate-100" data-testid="chart-row">
                                    <th scope="row" class="py-1 pr-3 font-normal">{label}</th>
                                    {cells.map(|v| view! { <td class="pr-3 font-mono">{v}</td> }).collect_view()}
                                </tr>
                            }
                        }).collect_view()}
                    </tbody>
                </table>
            </div>
        </details>
    }
}
