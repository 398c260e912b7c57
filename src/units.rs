//! Parsers for the values of `--timeout`, `--delay`, `--termseq` and
//! `--halt`, in GNU parallel's notation.
//!
//! Hand-written because GNU parallel's forms (`30` meaning seconds, `2.5s`,
//! `50%`, `TERM,200,KILL,25`) are not what duration crates such as
//! humantime accept.

use std::time::Duration;

use crate::signal::TermStep;

/// A `--timeout`: fixed, or a percentage of the median runtime of the jobs
/// that finished successfully so far.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Timeout {
    /// This long.
    Fixed(Duration),
    /// This percentage of the median successful runtime.
    PercentOfMedian(f64),
}

/// Splits `2.5s` into 2.5 and `s`.
fn split_number(text: &str) -> Option<(f64, &str)> {
    let t = text.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (number, unit) = t.split_at(split);
    Some((number.parse().ok()?, unit))
}

/// Parses `30`, `2.5`, `2.5s`, `100ms`, `5m`, `1h`, `1d`.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let bad = || {
        format!("invalid duration '{text}': expected seconds such as 30 or 2.5, or a unit: 100ms, 2.5s, 5m, 1h, 1d")
    };
    let (value, unit) = split_number(text).ok_or_else(bad)?;
    let seconds = match unit {
        "" | "s" => value,
        "ms" => value / 1000.0,
        "m" => value * 60.0,
        "h" => value * 3600.0,
        "d" => value * 86400.0,
        _ => return Err(bad()),
    };
    Duration::try_from_secs_f64(seconds).map_err(|_| bad())
}

/// Parses a `--timeout`: a duration or `N%`; 0 (or 0%) is no timeout, as
/// in GNU parallel.
pub fn parse_timeout(text: &str) -> Result<Option<Timeout>, String> {
    if let Some(pct) = text.trim().strip_suffix('%') {
        let value: f64 = pct
            .parse()
            .ok()
            .filter(|v: &f64| *v >= 0.0 && v.is_finite())
            .ok_or_else(|| {
                format!("invalid timeout '{text}': a percentage must be a positive number")
            })?;
        return Ok((value > 0.0).then_some(Timeout::PercentOfMedian(value)));
    }
    let d = parse_duration(text)?;
    Ok((!d.is_zero()).then_some(Timeout::Fixed(d)))
}

/// A signal by name (`TERM`, `SIGTERM`) or number.
pub fn parse_signal(text: &str) -> Result<i32, String> {
    let name = text.trim().to_ascii_uppercase();
    let name = name.strip_prefix("SIG").unwrap_or(&name);
    let signal = match name {
        "HUP" => libc::SIGHUP,
        "INT" => libc::SIGINT,
        "QUIT" => libc::SIGQUIT,
        "KILL" => libc::SIGKILL,
        "USR1" => libc::SIGUSR1,
        "USR2" => libc::SIGUSR2,
        "PIPE" => libc::SIGPIPE,
        "ALRM" => libc::SIGALRM,
        "TERM" => libc::SIGTERM,
        "CONT" => libc::SIGCONT,
        "STOP" => libc::SIGSTOP,
        "TSTP" => libc::SIGTSTP,
        n => match n.parse::<i32>() {
            Ok(n) if (1..=64).contains(&n) => n,
            _ => return Err(format!("unknown signal '{text}'")),
        },
    };
    Ok(signal)
}

/// Parses `--termseq`: `SIGNAL,MS,SIGNAL,MS,...` (a last wait may be left out).
pub fn parse_termseq(text: &str) -> Result<Vec<TermStep>, String> {
    let parts: Vec<&str> = text.split(',').collect();
    let mut steps = Vec::new();
    for pair in parts.chunks(2) {
        let signal =
            parse_signal(pair[0]).map_err(|e| format!("invalid --termseq '{text}': {e}"))?;
        let wait_ms: u64 = match pair.get(1) {
            Some(ms) => ms.trim().parse().map_err(|_| {
                format!("invalid --termseq '{text}': '{ms}' is not a number of milliseconds")
            })?,
            None => 0,
        };
        steps.push(TermStep {
            signal,
            wait: Duration::from_millis(wait_ms),
        });
    }
    Ok(steps)
}

/// Parses a size: bytes, or with a K, M, G or T suffix (powers of 1024).
pub fn parse_size(text: &str) -> Result<u64, String> {
    let bad = || format!("invalid size '{text}': expected a number of bytes, or 500K, 64M, 2G, 1T");
    let (value, unit) = split_number(text).ok_or_else(bad)?;
    let scale: f64 = match unit.to_ascii_uppercase().as_str() {
        "" | "B" => 1.0,
        "K" | "KI" | "KB" | "KIB" => 1024.0,
        "M" | "MI" | "MB" | "MIB" => 1024.0 * 1024.0,
        "G" | "GI" | "GB" | "GIB" => 1024.0 * 1024.0 * 1024.0,
        "T" | "TI" | "TB" | "TIB" => 1024.0 * 1024.0 * 1024.0 * 1024.0,
        _ => return Err(bad()),
    };
    let bytes = value * scale;
    if !bytes.is_finite() || bytes < 0.0 || bytes > u64::MAX as f64 {
        return Err(bad());
    }
    Ok(bytes as u64)
}

/// Parses `--block` as GNU parallel reads it: `K M G T` (and `Ki`, `ki`
/// ...) are powers of 1024, lower-case `k m g t` powers of 1000.
pub fn parse_block_size(text: &str) -> Result<u64, String> {
    let bad = || format!("invalid size '{text}': expected bytes, or 1M (1024²), 10k (10³), 2Gi");
    let (value, unit) = split_number(text).ok_or_else(bad)?;
    let binary = |p: i32| 1024f64.powi(p);
    let scale = match unit {
        "" => 1.0,
        "K" | "Ki" | "ki" | "KI" | "kI" => binary(1),
        "M" | "Mi" | "mi" | "MI" | "mI" => binary(2),
        "G" | "Gi" | "gi" | "GI" | "gI" => binary(3),
        "T" | "Ti" | "ti" | "TI" | "tI" => binary(4),
        "k" => 1e3,
        "m" => 1e6,
        "g" => 1e9,
        "t" => 1e12,
        _ => return Err(bad()),
    };
    let bytes = value * scale;
    if !bytes.is_finite() || bytes < 1.0 || bytes > u64::MAX as f64 {
        return Err(bad());
    }
    Ok(bytes as u64)
}

/// Parses `--load`: a number of runnable processes, or `N%` of the CPUs.
pub fn parse_load(text: &str, cpus: usize) -> Result<f64, String> {
    let bad = || {
        format!("invalid --load '{text}': expected a number such as 4 or 1.5, or N% of the CPUs")
    };
    let t = text.trim();
    let value = match t.strip_suffix('%') {
        Some(pct) => pct.parse::<f64>().map_err(|_| bad())? * cpus as f64 / 100.0,
        None => t.parse::<f64>().map_err(|_| bad())?,
    };
    if !value.is_finite() || value < 0.0 {
        return Err(bad());
    }
    Ok(value)
}

/// When `--halt` stops parx.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HaltWhen {
    /// Terminate running jobs at once.
    Now,
    /// Start no new job; let running jobs finish.
    Soon,
}

/// What `--halt` counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HaltOn {
    /// Failed jobs.
    Fail,
    /// Successful jobs.
    Success,
    /// Finished jobs.
    Done,
}

/// How many jobs a `--halt` rule waits for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HaltLimit {
    /// This many jobs.
    Jobs(u64),
    /// This percentage of all the jobs (GNU parallel's `fail=N%`).
    Percent(u64),
}

/// A `--halt` rule: stop when `limit` jobs of kind `on` have ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Halt {
    /// Now or soon.
    pub when: HaltWhen,
    /// What to count.
    pub on: HaltOn,
    /// How many.
    pub limit: HaltLimit,
}

/// Parses `--halt`: `never`, `now,fail=N`, `soon,success=N`, `now,done=N`,
/// each also with `N%` (a percentage of all the jobs), and GNU parallel's
/// shorthands 0 (never), 1 (soon,fail=1), 2 (now,fail=1), -1
/// (soon,success=1), -2 (now,success=1) and `N%` (soon,fail=N%).
pub fn parse_halt(text: &str) -> Result<Option<Halt>, String> {
    let bad = |why: &str| format!("invalid --halt '{text}': {why}");
    let short = |when, on| {
        Ok(Some(Halt {
            when,
            on,
            limit: HaltLimit::Jobs(1),
        }))
    };
    let text = text.trim();
    match text {
        "never" | "0" => return Ok(None),
        "1" => return short(HaltWhen::Soon, HaltOn::Fail),
        "2" => return short(HaltWhen::Now, HaltOn::Fail),
        "-1" => return short(HaltWhen::Soon, HaltOn::Success),
        "-2" => return short(HaltWhen::Now, HaltOn::Success),
        _ => {}
    }
    let expanded;
    let text = match text.strip_suffix('%') {
        Some(pct) if !pct.is_empty() && pct.bytes().all(|b| b.is_ascii_digit()) => {
            expanded = format!("soon,fail={text}");
            expanded.as_str()
        }
        _ => text,
    };
    let (when, rule) = text
        .split_once(',')
        .ok_or_else(|| bad("expected now|soon,fail|success|done=N or N%"))?;
    let when = match when.trim() {
        "now" => HaltWhen::Now,
        "soon" => HaltWhen::Soon,
        other => return Err(bad(&format!("'{other}' is not now or soon"))),
    };
    let (on, count) = rule.split_once('=').unwrap_or((rule, "1"));
    let on = match on.trim() {
        "fail" => HaltOn::Fail,
        "success" => HaltOn::Success,
        "done" => HaltOn::Done,
        other => return Err(bad(&format!("'{other}' is not fail, success or done"))),
    };
    let count = count.trim();
    // Whole numbers only, as GNU parallel takes them (no sign, no fraction).
    let whole = |n: &str| {
        n.bytes()
            .all(|b| b.is_ascii_digit())
            .then(|| n.parse::<u64>().ok())
            .flatten()
            .filter(|&n| n > 0)
    };
    let limit = match count.strip_suffix('%') {
        Some(pct) => HaltLimit::Percent(
            whole(pct).ok_or_else(|| bad("the percentage must be a whole number above zero"))?,
        ),
        None => HaltLimit::Jobs(
            whole(count).ok_or_else(|| bad("the count must be a whole number above zero"))?,
        ),
    };
    Ok(Some(Halt { when, on, limit }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("30"), Ok(Duration::from_secs(30)));
        assert_eq!(parse_duration("2.5s"), Ok(Duration::from_millis(2500)));
        assert_eq!(parse_duration("100ms"), Ok(Duration::from_millis(100)));
        assert_eq!(parse_duration("5m"), Ok(Duration::from_secs(300)));
        assert_eq!(parse_duration("1h"), Ok(Duration::from_secs(3600)));
        assert_eq!(parse_duration("0.5d"), Ok(Duration::from_secs(43200)));
        assert!(parse_duration("5x").is_err());
        assert!(parse_duration("").is_err());
        assert!(parse_duration("-1").is_err());
        assert_eq!(
            parse_timeout("50%"),
            Ok(Some(Timeout::PercentOfMedian(50.0)))
        );
        assert_eq!(parse_timeout("0"), Ok(None));
        assert_eq!(parse_timeout("0%"), Ok(None));
    }

    #[test]
    fn sizes_and_loads() {
        assert_eq!(parse_size("512"), Ok(512));
        assert_eq!(parse_size("1K"), Ok(1024));
        assert_eq!(parse_size("2Gi"), Ok(2 << 30));
        assert_eq!(parse_block_size("10k"), Ok(10_000));
        assert_eq!(parse_block_size("10K"), Ok(10_240));
        assert_eq!(parse_block_size("1Mi"), Ok(1 << 20));
        assert_eq!(parse_block_size("1.5m"), Ok(1_500_000));
        assert!(parse_block_size("0").is_err() && parse_block_size("1x").is_err());
        assert_eq!(parse_size("1.5G"), Ok(3 * 512 * 1024 * 1024));
        assert_eq!(parse_size("2t"), Ok(2 << 40));
        assert!(parse_size("5Q").is_err());
        assert_eq!(parse_load("2.5", 4), Ok(2.5));
        assert_eq!(parse_load("50%", 4), Ok(2.0));
        assert!(parse_load("-1", 4).is_err());
    }

    #[test]
    fn termseq() {
        let steps = parse_termseq("TERM,200,SIGINT,100,9").unwrap();
        let signals: Vec<i32> = steps.iter().map(|s| s.signal).collect();
        assert_eq!(signals, [libc::SIGTERM, libc::SIGINT, libc::SIGKILL]);
        assert_eq!(steps[0].wait, Duration::from_millis(200));
        assert_eq!(steps[2].wait, Duration::ZERO);
        assert!(parse_termseq("TERM,soon").is_err());
        assert!(parse_termseq("NOPE,1").is_err());
    }

    #[test]
    fn halt() {
        assert_eq!(parse_halt("never"), Ok(None));
        let rule = |when, on, limit| Ok(Some(Halt { when, on, limit }));
        use HaltLimit::{Jobs, Percent};
        assert_eq!(
            parse_halt("now,fail=1"),
            rule(HaltWhen::Now, HaltOn::Fail, Jobs(1))
        );
        assert_eq!(
            parse_halt("soon,success=3"),
            rule(HaltWhen::Soon, HaltOn::Success, Jobs(3))
        );
        assert_eq!(parse_halt("2"), rule(HaltWhen::Now, HaltOn::Fail, Jobs(1)));
        assert_eq!(
            parse_halt("-1"),
            rule(HaltWhen::Soon, HaltOn::Success, Jobs(1))
        );
        assert_eq!(
            parse_halt("-2"),
            rule(HaltWhen::Now, HaltOn::Success, Jobs(1))
        );
        assert_eq!(
            parse_halt("now,fail=10%"),
            rule(HaltWhen::Now, HaltOn::Fail, Percent(10))
        );
        assert_eq!(
            parse_halt("soon,done=150%"),
            rule(HaltWhen::Soon, HaltOn::Done, Percent(150))
        );
        assert_eq!(
            parse_halt("25%"),
            rule(HaltWhen::Soon, HaltOn::Fail, Percent(25))
        );
        for bad in [
            "later,fail=1",
            "now,fail=25.5%",
            "now,fail=0%",
            "now,fail=%",
            "now,fail=+3",
            "30",
            "5.5%",
        ] {
            assert!(parse_halt(bad).is_err(), "{bad}");
        }
    }
}
