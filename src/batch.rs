//! Turning input tuples into jobs: one per job, `-n`/`-N` fixed groups, or
//! `-X`/`-m` packing up to the system's real command-line limit.
//!
//! The limit is the kernel's (ARG_MAX less the environment), not xargs'
//! 128 KiB; a line run by the shell is one argument, so it also obeys
//! Linux's 128 KiB cap on a single argument.
//!
//! `--shuf` reads every input first and shuffles the tuples, as GNU parallel
//! does; jobs are then made from them in that order, numbered from 1.

use crate::input::{Args, InputError, Inputs, Values};
use crate::sys;
use crate::template::{Fill, Template};

/// How inputs are grouped into jobs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Packing {
    /// One input (tuple) per job.
    One,
    /// `-n N`/`-N N`: up to N inputs per job; 0 reads one and inserts none.
    Fixed(usize),
    /// `-X`/`-m`: as many as fit on a command line, at most `max_args`.
    Fill {
        /// `-n`/`-N` given with `-X`/`-m`.
        max_args: Option<usize>,
    },
}

/// One job: its sequence number (from 1) and its values.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Job {
    /// Sequence number, from 1, in input order.
    pub seq: u64,
    /// Values: one per input source, times the inputs in this job.
    pub args: Values,
    /// `--pipe`: the block the job reads on its stdin.
    pub input: Option<crate::pipe::Block>,
}

/// Linux's cap on one argument (MAX_ARG_STRLEN = 32 pages), NUL included.
const MAX_ONE_ARG_BYTES: usize = 32 * 4096;

/// Room left for argv (strings, NULs and pointers) once the environment and
/// POSIX's 2048-byte headroom are taken from ARG_MAX.
pub fn argv_budget() -> usize {
    let env: usize = std::env::vars_os()
        .map(|(k, v)| k.len() + v.len() + 2 + std::mem::size_of::<usize>())
        .sum();
    // PARX_SEQ and PARX_SLOT are added to every job's environment.
    let parx_vars = 2 * (16 + 20 + std::mem::size_of::<usize>());
    sys::arg_max().saturating_sub(env + parx_vars + 2048)
}

/// `--shuf`: every tuple, and the order to hand them out in.
struct Shuffled {
    all: Values,
    order: Vec<usize>,
    next: usize,
}

/// Builds jobs from inputs.
pub struct Batcher {
    inputs: Inputs,
    /// Values per tuple.
    width: usize,
    packing: Packing,
    template: Template,
    slots: usize,
    /// Tuples read but not yet in a job (read ahead, or the one that did
    /// not fit the last packed command), one buffer for all of them.
    ahead: Values,
    /// Tuples of `ahead` already taken.
    ahead_taken: usize,
    /// Tuples of `ahead` not yet taken (their packing costs are worked out
    /// again when taken: storing them cost 8 bytes an input).
    ahead_left: usize,
    next_seq: u64,
    /// For `-X`/`-m`: bytes available, fixed bytes of an empty command, and
    /// the per-job count chosen when the whole input fit in one read-ahead.
    fill: Option<FillLimits>,
    /// `--shuf`: every tuple, read and shuffled on the first call.
    shuffled: Option<Box<Shuffled>>,
    shuffle: bool,
}

#[derive(Debug, Clone, Copy)]
struct FillLimits {
    limit: usize,
    base: usize,
    per_arg_overhead: usize,
    spread: Option<usize>,
    started: bool,
}

impl Batcher {
    /// Jobs for `slots` slots from `inputs`.
    pub fn new(
        inputs: Inputs,
        packing: Packing,
        template: Template,
        shell_words: usize,
        slots: usize,
    ) -> Self {
        let fill = matches!(packing, Packing::Fill { .. }).then(|| {
            let direct = template.direct().is_some();
            let mut empty = Vec::new();
            template.render_line(
                &Fill {
                    seq: u64::MAX,
                    slot: usize::MAX,
                    args: Args::NONE,
                },
                true,
                &mut empty,
            );
            let budget = argv_budget();
            let ptr = std::mem::size_of::<usize>();
            let (limit, per_arg_overhead) = if direct {
                (budget, ptr)
            } else {
                // sh, -c and the line itself: the line is one argument.
                let shell = shell_words * (16 + ptr);
                (budget.saturating_sub(shell).min(MAX_ONE_ARG_BYTES - 1), 0)
            };
            FillLimits {
                limit,
                base: empty.len() + 1,
                per_arg_overhead,
                spread: None,
                started: false,
            }
        });
        Self {
            width: inputs.width().max(1),
            inputs,
            packing,
            template,
            slots,
            ahead: Values::new(),
            ahead_taken: 0,
            ahead_left: 0,
            next_seq: 1,
            fill,
            shuffled: None,
            shuffle: false,
        }
    }

    /// `--shuf`: read every input before the first job, and make jobs from
    /// the inputs in a random order (every input is held in memory).
    #[must_use]
    pub fn shuffled(mut self) -> Self {
        self.shuffle = true;
        self
    }

    /// Appends the next tuple from the inputs (shuffled for `--shuf`) to
    /// `out`; false at the end.
    fn read_tuple(&mut self, out: &mut Values) -> Result<bool, InputError> {
        if !self.shuffle {
            return self.inputs.push_tuple(out);
        }
        if self.shuffled.is_none() {
            let mut all = Values::new();
            while self.inputs.push_tuple(&mut all)? {}
            let mut order: Vec<usize> = (0..all.len() / self.width).collect();
            fastrand::shuffle(&mut order);
            self.shuffled = Some(Box::new(Shuffled {
                all,
                order,
                next: 0,
            }));
        }
        let width = self.width;
        let pool = self.shuffled.as_mut().expect("set above");
        let Some(&k) = pool.order.get(pool.next) else {
            return Ok(false);
        };
        pool.next += 1;
        out.extend_from(&pool.all, k * width, (k + 1) * width);
        Ok(true)
    }

    /// Moves the first tuple read ahead into `out`.
    fn take_ahead(&mut self, out: &mut Values) {
        let from = self.ahead_taken * self.width;
        out.extend_from(&self.ahead, from, from + self.width);
        self.ahead_taken += 1;
        self.ahead_left -= 1;
        if self.ahead_left == 0 {
            // Let a large read-ahead's memory go.
            self.ahead = Values::new();
            self.ahead_taken = 0;
        }
    }

    /// Appends the next tuple to `out`: read ahead before, or new.
    fn next_tuple(&mut self, out: &mut Values) -> Result<bool, InputError> {
        if self.ahead_left == 0 {
            self.read_tuple(out)
        } else {
            self.take_ahead(out);
            Ok(true)
        }
    }

    fn job(&mut self, args: Values) -> Job {
        let seq = self.next_seq;
        self.next_seq += 1;
        Job {
            seq,
            args,
            input: None,
        }
    }

    /// The next job, or `None` when the input is used up.
    pub fn next_job(&mut self) -> Result<Option<Job>, InputError> {
        match self.packing {
            Packing::One => {
                let mut args = Values::new();
                Ok(self.next_tuple(&mut args)?.then(|| self.job(args)))
            }
            Packing::Fixed(0) => {
                let mut args = Values::new();
                let more = self.next_tuple(&mut args)?;
                Ok(more.then(|| self.job(Values::new())))
            }
            Packing::Fixed(n) => {
                let mut args = Values::new();
                for _ in 0..n {
                    if !self.next_tuple(&mut args)? {
                        break;
                    }
                }
                Ok((!args.is_empty()).then(|| self.job(args)))
            }
            Packing::Fill { max_args } => self.next_filled_job(max_args),
        }
    }

    /// The packing cost of the values of `values` from `from` on.
    fn cost(&self, values: &Values, from: usize, limits: &FillLimits) -> usize {
        self.cost_of(values, from..values.len(), limits)
    }

    /// The packing cost of the values `range` of `values`.
    fn cost_of(
        &self,
        values: &Values,
        range: std::ops::Range<usize>,
        limits: &FillLimits,
    ) -> usize {
        range
            .filter_map(|i| values.get(i))
            .map(|v| self.template.arg_cost(v) + limits.per_arg_overhead)
            .sum()
    }

    /// GNU parallel spreads short input over the slots (five inputs and two
    /// slots make jobs of three and two), so read ahead up to what the slots
    /// could hold in full commands; if the input ends first, divide it.
    fn read_ahead(&mut self, limits: &FillLimits) -> Result<Option<usize>, InputError> {
        let room = limits
            .limit
            .saturating_sub(limits.base)
            .saturating_mul(self.slots)
            .min(64 << 20);
        let mut ahead = std::mem::take(&mut self.ahead);
        let mut total = 0;
        let spread = loop {
            if total > room {
                break None;
            }
            let mark = ahead.len();
            if !self.read_tuple(&mut ahead)? {
                let n = self.ahead_left;
                break (n > 0).then(|| n.div_ceil(self.slots).max(1));
            }
            let cost = self.cost(&ahead, mark, limits);
            total += cost;
            self.ahead_left += 1;
        };
        self.ahead = ahead;
        Ok(spread)
    }

    fn next_filled_job(&mut self, max_args: Option<usize>) -> Result<Option<Job>, InputError> {
        let mut limits = self.fill.expect("fill limits exist in fill mode");
        if !limits.started {
            limits.spread = self.read_ahead(&limits)?;
            limits.started = true;
            self.fill = Some(limits);
        }
        let most = match (max_args, limits.spread) {
            (Some(a), Some(b)) => a.min(b),
            (a, b) => a.or(b).unwrap_or(usize::MAX),
        };
        let mut args = Values::new();
        let mut count = 0;
        let mut size = limits.base;
        while count < most {
            if self.ahead_left > 0 {
                let from = self.ahead_taken * self.width;
                let cost = self.cost_of(&self.ahead, from..from + self.width, &limits);
                if count > 0 && size + cost > limits.limit {
                    break;
                }
                self.take_ahead(&mut args);
                size += cost;
            } else {
                // Read straight into the job; a tuple that does not fit
                // waits for the next one.
                let mark = args.len();
                if !self.read_tuple(&mut args)? {
                    break;
                }
                let cost = self.cost(&args, mark, &limits);
                if count > 0 && size + cost > limits.limit {
                    self.ahead.extend_from(&args, mark, args.len());
                    self.ahead_left += 1;
                    args.truncate(mark);
                    break;
                }
                size += cost;
            }
            count += 1;
        }
        Ok((count > 0).then(|| self.job(args)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::input::{SourceKind, SourceSpec};
    use crate::template::TemplateOptions;
    use std::ffi::OsString;

    fn batcher(values: &[&str], packing: Packing, slots: usize, words: &[&str]) -> Batcher {
        let spec = SourceSpec {
            kind: SourceKind::Args(values.iter().map(OsString::from).collect()),
            linked: false,
        };
        let inputs = Inputs::open(&[spec], false, b'\n', &crate::input::Filter::default()).unwrap();
        let words: Vec<OsString> = words.iter().map(OsString::from).collect();
        let template = Template::parse(
            &words,
            &TemplateOptions {
                context_replace: true,
                ..TemplateOptions::default()
            },
        )
        .unwrap();
        Batcher::new(inputs, packing, template, 1, slots)
    }

    fn sizes(mut b: Batcher) -> Vec<usize> {
        let mut out = Vec::new();
        while let Some(job) = b.next_job().unwrap() {
            out.push(job.args.len());
        }
        out
    }

    #[test]
    fn short_input_is_spread_over_the_slots() {
        let b = batcher(
            &["a", "b", "c", "d", "e"],
            Packing::Fill { max_args: None },
            2,
            &["echo", "{}"],
        );
        assert_eq!(sizes(b), [3, 2]);
    }

    #[test]
    fn fixed_groups_and_sequence_numbers() {
        let mut b = batcher(&["a", "b", "c"], Packing::Fixed(2), 4, &["echo"]);
        assert_eq!(
            b.next_job().unwrap().unwrap(),
            Job {
                seq: 1,
                args: ["a", "b"].into_iter().collect(),
                input: None,
            }
        );
        assert_eq!(
            b.next_job().unwrap().unwrap(),
            Job {
                seq: 2,
                args: ["c"].into_iter().collect(),
                input: None,
            }
        );
        assert!(b.next_job().unwrap().is_none());
    }

    #[test]
    fn shuffled_jobs_hold_every_input_once_numbered_in_run_order() {
        let values: Vec<String> = (0..50).map(|i| i.to_string()).collect();
        let refs: Vec<&str> = values.iter().map(String::as_str).collect();
        let mut orders = Vec::new();
        for _ in 0..2 {
            let mut b = batcher(&refs, Packing::Fixed(2), 1, &["echo"]).shuffled();
            let mut seqs = Vec::new();
            let mut seen = Vec::new();
            while let Some(job) = b.next_job().unwrap() {
                seqs.push(job.seq);
                seen.extend(job.args.iter().map(<[u8]>::to_vec));
            }
            assert_eq!(seqs, (1..=25).collect::<Vec<_>>());
            let mut sorted = seen.clone();
            sorted.sort();
            let mut want: Vec<Vec<u8>> = values.iter().map(|v| v.as_bytes().to_vec()).collect();
            want.sort();
            assert_eq!(sorted, want);
            orders.push(seen);
        }
        // 50! orders: two runs agreeing would mean no shuffle at all.
        assert_ne!(orders[0], orders[1]);
    }

    #[test]
    fn long_input_fills_each_command_to_the_limit() {
        let values: Vec<String> = (0..200_000).map(|i| format!("argument-{i}")).collect();
        let refs: Vec<&str> = values.iter().map(String::as_str).collect();
        let b = batcher(&refs, Packing::Fill { max_args: None }, 2, &["echo", "{}"]);
        let limit = b.fill.unwrap().limit;
        let jobs = sizes(b);
        assert_eq!(jobs.iter().sum::<usize>(), 200_000);
        // Each full command holds as many arguments as fit, so there are few.
        let per_arg = "argument-100000".len() + 2;
        assert!(
            jobs.len() <= 200_000 * per_arg / limit + 2,
            "{} jobs",
            jobs.len()
        );
    }
}
