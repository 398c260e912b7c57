//! The one table from how a run went to parx's exit status.
//!
//! Main mode follows GNU parallel: 0 when every job succeeded, the number of
//! failed jobs up to 100, 101 for more, 255 for parx's own errors. A run
//! stopped by SIGINT or SIGTERM ends by that signal (the shell shows 130 or
//! 143), one whose output was closed by SIGPIPE (141), as `cat` would.

use crate::signal::StopCause;

/// How parx ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// Exit with this status.
    Code(i32),
    /// Die of this signal (the status a shell reports is 128 + signal).
    Signal(i32),
}

/// parx's own error (usage, unreadable input): GNU parallel's 255.
pub const OWN_ERROR: i32 = 255;

/// What the run produced.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Tally {
    /// Jobs that failed (non-zero exit, signal, could not start, output lost).
    pub failed: u64,
    /// Input could not be read to the end.
    pub input_error: bool,
    /// `--halt` set the status (the failing job's for `fail=1`, 0 for
    /// `success`, a percentage for `fail=N%`), also when a percentage
    /// rule never struck.
    pub halt_status: Option<i32>,
}

/// Maps a run's result to parx's exit.
pub fn exit_for(tally: Tally, cause: Option<StopCause>) -> Exit {
    match cause {
        Some(StopCause::Signal(sig)) => return Exit::Signal(sig),
        Some(StopCause::BrokenPipe) => return Exit::Signal(libc::SIGPIPE),
        Some(StopCause::OwnError) => return Exit::Code(OWN_ERROR),
        Some(StopCause::Halt { .. }) => {
            if let Some(code) = tally.halt_status {
                return Exit::Code(code.clamp(0, 255));
            }
        }
        Some(StopCause::Hangup) | None => {}
    }
    if tally.input_error {
        return Exit::Code(OWN_ERROR);
    }
    // A --halt percentage that never struck: the percentage of failed jobs.
    if let Some(code) = tally.halt_status {
        return Exit::Code(code.clamp(0, 255));
    }
    match tally.failed {
        0 => Exit::Code(0),
        n @ 1..=100 => Exit::Code(i32::try_from(n).expect("at most 100")),
        _ => Exit::Code(101),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn failed(n: u64) -> Tally {
        Tally {
            failed: n,
            ..Tally::default()
        }
    }

    #[test]
    fn table() {
        assert_eq!(exit_for(failed(0), None), Exit::Code(0));
        assert_eq!(exit_for(failed(1), None), Exit::Code(1));
        assert_eq!(exit_for(failed(100), None), Exit::Code(100));
        assert_eq!(exit_for(failed(101), None), Exit::Code(101));
        assert_eq!(exit_for(failed(5000), None), Exit::Code(101));
        assert_eq!(
            exit_for(
                Tally {
                    input_error: true,
                    ..Tally::default()
                },
                None
            ),
            Exit::Code(255)
        );
        let halted = Tally {
            failed: 1,
            halt_status: Some(3),
            ..Tally::default()
        };
        assert_eq!(
            exit_for(halted, Some(StopCause::Halt { now: true })),
            Exit::Code(3)
        );
        assert_eq!(
            exit_for(failed(2), Some(StopCause::Halt { now: false })),
            Exit::Code(2)
        );
        assert_eq!(
            exit_for(failed(3), Some(StopCause::Signal(libc::SIGINT))),
            Exit::Signal(libc::SIGINT)
        );
        assert_eq!(
            exit_for(failed(0), Some(StopCause::Signal(libc::SIGTERM))),
            Exit::Signal(libc::SIGTERM)
        );
        assert_eq!(
            exit_for(failed(0), Some(StopCause::BrokenPipe)),
            Exit::Signal(libc::SIGPIPE)
        );
        assert_eq!(
            exit_for(failed(0), Some(StopCause::OwnError)),
            Exit::Code(255)
        );
        assert_eq!(exit_for(failed(2), Some(StopCause::Hangup)), Exit::Code(2));
        let percent = Tally {
            failed: 2,
            halt_status: Some(20),
            ..Tally::default()
        };
        assert_eq!(exit_for(percent, None), Exit::Code(20));
        assert_eq!(
            exit_for(
                Tally {
                    input_error: true,
                    ..percent
                },
                None
            ),
            Exit::Code(255)
        );
    }
}
