//! The live meter: running time and cost, ticking every second in the browser without asking the
//! server. The cost comes from `domain::billing::session_cost`, the function the server uses to store
//! the amount when the session closes.

use leptos::prelude::*;
use stylers_macro::style;

use super::clock::ticking_now;
use crate::domain::time::{format_elapsed, Timestamp};
use crate::domain::workspace_view::Meter;

#[component]
pub fn LiveMeter(meter: Meter, server_now: Timestamp) -> impl IntoView {
    let now = ticking_now(server_now);

    let class = style! {
        .meter {
            display: inline-flex;
            align-items: center;
            gap: 0.5rem;
            font-variant-numeric: tabular-nums;
        }
        .dot {
            width: 0.6rem;
            height: 0.6rem;
            border-radius: 9999px;
            background: #16a34a;
            animation: pulse 1.5s ease-in-out infinite;
        }
        @keyframes pulse {
            0% { opacity: 1; }
            50% { opacity: 0.3; }
            100% { opacity: 1; }
        }
    };
    view! { class = class,
        <span class="meter" data-testid="meter">
            <span class="dot"></span>
            <span>"Running for "</span>
            <span class="font-mono" data-testid="timer">{move || format_elapsed(meter.started_at.millis_until(now.get()))}</span>
            <span>" · "</span>
            <span class="font-mono font-semibold" data-testid="live-cost">
                {move || meter.cost_at(now.get()).map(|m| m.to_string()).unwrap_or_default()}
            </span>
        </span>
    }
}
