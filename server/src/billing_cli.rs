//! `server billing run --period YYYY-MM [--tenant SLUG]`: the scheduler's run, by hand, with a progress bar.

use app::backend::billing::run;
use indicatif::{ProgressBar, ProgressStyle};

type Res = Result<(), Box<dyn std::error::Error>>;

#[allow(clippy::print_stdout)]
pub async fn run(period: &str, tenant: Option<&str>) -> Res {
    let (state, _) = crate::tenants_cli::state().await?;
    let bar = ProgressBar::new(0);
    bar.set_style(ProgressStyle::with_template("{prefix:>12} [{bar:40}] {pos}/{len} customers")?.progress_chars("=> "));
    let outcomes = run::run_all(&state, Some(period), tenant, |slug, i, n| {
        bar.set_prefix(slug.to_owned());
        bar.set_length(u64::try_from(n).unwrap_or(0));
        bar.set_position(u64::try_from(i).unwrap_or(0));
    })
    .await?;
    bar.finish_and_clear();
    let mut failed = 0;
    for o in &outcomes {
        match &o.result {
            Ok(r) if r.nothing_to_do() => {
                println!("{} {}: nothing to do (already invoiced: {})", o.slug, o.period, r.already_invoiced)
            }
            Ok(r) => println!(
                "{} {}: {} invoices written ({} segments, total {}), {} finalised, {} emailed, {} already invoiced",
                o.slug,
                o.period,
                r.created,
                r.segments,
                r.total_text(),
                r.finalised,
                r.emailed,
                r.already_invoiced
            ),
            Err(e) => {
                failed += 1;
                println!("{} {}: FAILED: {e}", o.slug, o.period);
            }
        }
    }
    if failed > 0 {
        return Err(format!("{failed} tenant(s) failed; rerun to finish them").into());
    }
    Ok(())
}
