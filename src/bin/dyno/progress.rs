//! Progress on standard error for long work: a spinner with a count and a rate, drawn only when
//! standard error is a terminal (so logs and tests see just the final summary line).

use std::sync::Arc;
use std::time::Duration;

use dyno::local::runner::Observer;
use indicatif::{ProgressBar, ProgressStyle};

/// A spinner that counts `what` (e.g. "items"), with the rate.
pub fn counter(message: &str, what: &str) -> ProgressBar {
    let bar = ProgressBar::new_spinner();
    let template = format!("{{spinner}} {{msg}} {{pos}} {what} ({{per_sec}}, {{elapsed}})");
    if let Ok(style) = ProgressStyle::with_template(&template) {
        bar.set_style(style);
    }
    bar.set_message(message.to_owned());
    bar.enable_steady_tick(Duration::from_millis(120));
    bar
}

/// A bar towards `total` `what`, with the rate and the time left.
pub fn bar(message: &str, what: &str, total: u64) -> ProgressBar {
    let bar = ProgressBar::new(total);
    let template =
        format!("{{msg}} [{{bar:30}}] {{pos}}/{{len}} {what} ({{per_sec}}, ETA {{eta}})");
    if let Ok(style) = ProgressStyle::with_template(&template) {
        bar.set_style(style.progress_chars("=> "));
    }
    bar.set_message(message.to_owned());
    bar.enable_steady_tick(Duration::from_millis(200));
    bar
}

/// Moves `bar` to `position()` five times a second, for ever: select it against the work.
pub async fn follow(bar: &ProgressBar, position: impl Fn() -> u64) {
    loop {
        bar.set_position(position());
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// A runner's observer that counts each handled batch's records on `bar`.
pub fn batches<R: 'static>(bar: &ProgressBar) -> Observer<R> {
    let bar = bar.clone();
    Arc::new(move |records: &[R], _failed: &[usize]| bar.inc(records.len() as u64))
}
