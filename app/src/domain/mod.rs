//! Pure types and rules: no I/O, no Leptos, no clock. Compiled into the server and into the WASM bundle, so
//! the browser's live cost and the server's stored amounts come from the same code.
//!
//! | module      | holds |
//! |-------------|-------|
//! | `ids`       | typed ids (`CustomerId`, `WorkspaceId`, ...) |
//! | `time`      | `Timestamp` (integer ms, UTC), elapsed formatting |
//! | `money`     | `Currency`, `Money` (integer minor units), `Rate` (Decimal per hour), the one rounding function |
//! | `branding`  | tenant colours (strict parsing, WCAG contrast) and the theme's CSS variables |
//! | `billing`   | the 15-minute increment rule and `session_cost` |
//! | `chart`     | bar charts as numbers: "nice" value axes (money, time), where each bar, tick, label and tooltip goes |
//! | `billing_state` | the states billing stores as text (invoice status and kind, subscription, ledger, runs, wholesale) |
//! | `customer_care` | a reseller's action on a customer: its required reason, credit direction, refund target and state |
//! | `email`     | email addresses as the platform accepts them |
//! | `invoice`   | the invoice document the invoice page, its PDF and the invoice email all show |
//! | `onboarding` | a new reseller's checklist: the steps and which are done |
//! | `plan`      | the six workspace plans of the catalog |
//! | `tenant`    | reseller slugs, lifecycle states and billing terms |
//! | `tenant_billing` | a reseller as the platform's payer: billing status, wholesale terms, the one transition function |
//! | `tenant_view` | what the admin's tenant pages receive: the tenants list, one tenant's detail and domains |
//! | `workspace` | the workspace state machine |
//! | `workspace_view` | what the workspace pages receive: cards, detail, usage lines, the live meter |
//! | `payment_terms` | a storefront's payment terms for its customers: due dates, the order block, reminders |
//! | `period`    | billing periods (monthly, anchored on a cycle day) |
//! | `price_book` | the platform's effective-dated wholesale prices: base, tier and storefront overrides; the retail floor |
//! | `platform`  | audit actor kinds, job and outbox states |
//! | `receivables` | what resellers owe the platform: age buckets, collected, revenue by month, CSV |
//! | `staff`     | staff roles, central session kinds, impersonation targets |
//! | `stored`    | `stored_enum!`: states stored as text, parsed strictly |

// Money code never touches floating point: a float here is a compile error, not a review comment.
#![deny(clippy::float_arithmetic, clippy::cast_precision_loss)]

pub mod billing;
pub mod billing_state;
pub mod branding;
pub mod chart;
pub mod customer_care;
pub mod email;
pub mod ids;
pub mod invoice;
pub mod money;
pub mod onboarding;
pub mod payment_terms;
pub mod period;
pub mod plan;
pub mod platform;
pub mod price_book;
pub mod receivables;
pub mod staff;
pub mod stored;
pub mod tenant;
pub mod tenant_billing;
pub mod tenant_view;
pub mod time;
pub mod workspace;
pub mod workspace_view;
