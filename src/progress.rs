//! `--bar`, `--progress`, `--eta`: a live display of finished jobs on
//! stderr, only when stderr is a terminal (never in a pipe or a file, and
//! never on stdout). With a known total (`--total-jobs`, or inputs that are
//! all `:::` arguments) it is a bar with an ETA; otherwise a running count,
//! since parx does not read its input ahead to count it.

use std::io::IsTerminal;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// A display for `total` jobs (or an unknown number), or `None` when stderr
/// is not a terminal.
pub fn start(total: Option<u64>) -> Option<ProgressBar> {
    if !std::io::stderr().is_terminal() {
        return None;
    }
    let bar = match total {
        Some(total) => ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr())
            .with_style(
                ProgressStyle::with_template(
                    "parx {elapsed_precise} [{bar:30}] {pos}/{len} jobs{msg}, ETA {eta}",
                )
                .expect("the template is valid")
                .progress_chars("=> "),
            ),
        None => ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr()).with_style(
            ProgressStyle::with_template("parx {elapsed_precise} {spinner} {pos} jobs done{msg}")
                .expect("the template is valid"),
        ),
    };
    bar.enable_steady_tick(Duration::from_millis(200));
    Some(bar)
}

/// Counts one finished job.
pub fn job_done(bar: &ProgressBar, failed_so_far: u64) {
    if failed_so_far > 0 {
        bar.set_message(format!(", {failed_so_far} failed"));
    }
    bar.inc(1);
}
