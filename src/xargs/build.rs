//! Building xargs command lines: initial arguments, then as many input
//! arguments as `-n`, `-L` and the size limit allow, or one line per
//! command put in place of `-I`'s string.
//!
//! The rules (when a command is cut, which overflow is an error) are GNU
//! xargs' own, in its order, so the same input gives the same commands.
//! Sizes are counted as xargs counts them (each argument's bytes and its
//! NUL) when `-s` is given. Without `-s`, parx fills the system's real
//! limit: ARG_MAX less the environment, counting the argv pointers the
//! kernel counts, with each argument under Linux's 128 KiB cap.

use std::collections::VecDeque;

use crate::exec::Argv;

/// Linux's cap on one argument (MAX_ARG_STRLEN), NUL included.
pub const MAX_ONE_ARG: usize = 32 * 4096;

/// Size limits for one command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Bytes a command line may take.
    pub arg_max: usize,
    /// Bytes each argument costs beyond its text and NUL (a pointer when
    /// filling the real limit, 0 for `-s`).
    pub per_arg: usize,
    /// Arguments a command may have, command included.
    pub max_count: usize,
    /// The largest one argument may be, NUL included.
    pub max_one: usize,
    /// What exec accepts: argv's strings, NULs and pointers (the NULL one
    /// included). A `-s` beyond it would make exec fail with E2BIG, where
    /// xargs retries with fewer arguments; parx cuts the command first.
    pub exec: usize,
}

impl Limits {
    /// xargs' accounting for `-s SIZE`; `size_max` is the system's ceiling
    /// from which xargs also derives its argument count limit.
    pub fn chars(size: usize, size_max: usize) -> Self {
        Self {
            arg_max: size,
            per_arg: 0,
            max_count: (size_max / std::mem::size_of::<usize>())
                .saturating_sub(2)
                .max(1),
            max_one: MAX_ONE_ARG,
            exec: usize::MAX,
        }
    }

    /// The real limit: `budget` bytes for strings and pointers.
    pub fn system(budget: usize) -> Self {
        let ptr = std::mem::size_of::<usize>();
        Self {
            // The argv array's terminating NULL pointer.
            arg_max: budget.saturating_sub(ptr),
            per_arg: ptr,
            max_count: usize::MAX,
            max_one: MAX_ONE_ARG,
            exec: budget,
        }
    }

    fn cost(&self, len: usize) -> usize {
        len + 1 + self.per_arg
    }

    fn exec_cost(len: usize) -> usize {
        len + 1 + std::mem::size_of::<usize>()
    }
}

/// An error that ends xargs mode (status 1), in xargs' words.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fatal(pub String);

/// Collects arguments into command lines.
#[derive(Debug)]
pub struct Builder {
    limits: Limits,
    max_args: usize,
    max_lines: usize,
    replace: Option<Vec<u8>>,
    exit_if_too_long: bool,
    /// The command as given (in `-I` mode, before replacement).
    template: Vec<Vec<u8>>,
    argv: Argv,
    initial_argc: usize,
    chars: usize,
    initial_chars: usize,
    /// Bytes of exec's limit used, and by the initial arguments alone.
    exec_used: usize,
    initial_exec_used: usize,
    ready: VecDeque<Argv>,
    made: u64,
}

impl Builder {
    /// A builder for `command` (its initial arguments included). Fails
    /// when the command alone does not fit.
    pub fn new(
        command: Vec<Vec<u8>>,
        limits: Limits,
        max_args: usize,
        max_lines: usize,
        replace: Option<Vec<u8>>,
        exit_if_too_long: bool,
    ) -> Result<Self, Fatal> {
        let mut builder = Self {
            limits,
            max_args,
            max_lines,
            replace,
            exit_if_too_long: exit_if_too_long || max_lines > 0,
            template: command,
            argv: Argv::default(),
            initial_argc: 0,
            chars: 0,
            initial_chars: 0,
            exec_used: std::mem::size_of::<usize>(),
            initial_exec_used: 0,
            ready: VecDeque::new(),
            made: 0,
        };
        if builder.replace.is_none() {
            for arg in builder.template.clone() {
                builder.push_initial(arg)?;
            }
            builder.initial_argc = builder.argv.len();
            builder.initial_chars = builder.chars;
            builder.initial_exec_used = builder.exec_used;
        }
        Ok(builder)
    }

    fn push_initial(&mut self, arg: Vec<u8>) -> Result<(), Fatal> {
        let cost = self.limits.cost(arg.len());
        if self.chars + cost > self.limits.arg_max
            || cost - self.limits.per_arg > self.limits.max_one
        {
            return Err(Fatal(
                "cannot fit single argument within argument list size limit".into(),
            ));
        }
        self.chars += cost;
        self.exec_used += Limits::exec_cost(arg.len());
        self.argv.push(&arg);
        Ok(())
    }

    /// The most bytes one input argument may have (xargs' "argument line
    /// too long" beyond it).
    pub fn word_room(&self) -> usize {
        let room = self
            .limits
            .arg_max
            .saturating_sub(self.initial_chars + 1 + self.limits.per_arg);
        room.min(self.limits.max_one - 1)
    }

    /// Whether input arguments are waiting to run.
    pub fn has_args(&self) -> bool {
        self.argv.len() != self.initial_argc
    }

    /// Commands made so far.
    pub fn made(&self) -> u64 {
        self.made
    }

    /// The next complete command line.
    pub fn take(&mut self) -> Option<Argv> {
        self.ready.pop_front()
    }

    fn count_reached(&self) -> bool {
        (self.max_args > 0 && self.argv.len() - self.initial_argc == self.max_args)
            || self.argv.len() >= self.limits.max_count
    }

    /// Adds one input argument, running the command first when it is full.
    /// Bytes after a NUL cannot be passed; the argument ends there (xargs
    /// warns about it when reading).
    pub fn push(&mut self, arg: &[u8]) -> Result<(), Fatal> {
        let cost = self.limits.cost(arg.len());
        if self.chars + cost > self.limits.arg_max {
            if !self.has_args() {
                return Err(Fatal(
                    "cannot fit single argument within argument list size limit".into(),
                ));
            }
            if self.replace.is_some()
                || self.max_lines > 0
                || (self.exit_if_too_long && self.max_args > 0)
            {
                return Err(Fatal("argument list too long".into()));
            }
            self.exec();
        }
        if self.has_args() && self.exec_used + Limits::exec_cost(arg.len()) > self.limits.exec {
            self.exec();
        }
        if self.count_reached() {
            self.exec();
        }
        let text = match arg.iter().position(|&b| b == 0) {
            Some(nul) => &arg[..nul],
            None => arg,
        };
        self.argv.push(text);
        self.chars += cost;
        self.exec_used += Limits::exec_cost(arg.len());
        if self.count_reached() {
            self.exec();
        }
        Ok(())
    }

    /// Ends the current command line (xargs' bc_do_exec): it runs even with
    /// no input arguments.
    pub fn exec(&mut self) {
        // Hand the whole buffer over and start again from a copy of the
        // initial arguments (small), rather than copying the command.
        let mut fresh = Argv::default();
        for arg in self.argv.iter().take(self.initial_argc) {
            fresh.push(arg);
        }
        self.ready
            .push_back(std::mem::replace(&mut self.argv, fresh));
        self.made += 1;
        self.chars = self.initial_chars;
        self.exec_used = self.initial_exec_used;
    }

    /// Before a fatal input error: run what was read, when xargs would.
    pub fn exec_if_possible(&mut self) {
        if self.replace.is_some() || !self.has_args() || self.exit_if_too_long {
            return;
        }
        self.exec();
    }

    /// `-I`: one command from `line`, with every occurrence of the string
    /// replaced in each initial argument (not in the command name).
    pub fn insert(&mut self, line: &[u8]) -> Result<(), Fatal> {
        let pattern = self.replace.clone().unwrap_or_default();
        let template = std::mem::take(&mut self.template);
        self.argv = Argv::default();
        self.chars = 0;
        let result = (|| {
            self.push_initial(template[0].clone())?;
            self.initial_chars = self.chars;
            let room = self.limits.arg_max.min(self.limits.max_one) - 1;
            for arg in &template[1..] {
                let filled = replace_all(arg, &pattern, line, room)
                    .ok_or_else(|| Fatal("command too long".into()))?;
                let cost = self.limits.cost(filled.len());
                if self.chars + cost > self.limits.arg_max {
                    return Err(Fatal("argument list too long".into()));
                }
                self.chars += cost;
                self.argv.push(&filled);
            }
            Ok(())
        })();
        self.template = template;
        result?;
        self.ready.push_back(std::mem::take(&mut self.argv));
        self.made += 1;
        Ok(())
    }
}

/// `arg` with each `pattern` replaced by `value`; None when the result
/// would reach `room` bytes. An empty pattern matches forever, so it never
/// fits (as in xargs).
fn replace_all(arg: &[u8], pattern: &[u8], value: &[u8], room: usize) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(arg.len());
    let mut rest = arg;
    loop {
        let found = if pattern.is_empty() {
            Some(0)
        } else {
            rest.windows(pattern.len()).position(|w| w == pattern)
        };
        let before = found.unwrap_or(rest.len());
        out.extend_from_slice(&rest[..before]);
        if out.len() >= room {
            return None;
        }
        let Some(at) = found else { return Some(out) };
        out.extend_from_slice(value);
        if out.len() >= room {
            return None;
        }
        rest = &rest[at + pattern.len()..];
        if rest.is_empty() && !pattern.is_empty() {
            return Some(out);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(s: &str) -> Vec<Vec<u8>> {
        s.split_whitespace()
            .map(|w| w.as_bytes().to_vec())
            .collect()
    }

    fn commands(b: &mut Builder) -> Vec<String> {
        std::iter::from_fn(|| b.take())
            .map(|argv| {
                argv.iter()
                    .map(String::from_utf8_lossy)
                    .collect::<Vec<_>>()
                    .join(" ")
            })
            .collect()
    }

    #[test]
    fn size_limit_counts_each_argument_and_its_nul() {
        // "echo" is 5 bytes; 5 + "1" 2 + "22" 3 + "333" 4 = 14.
        let mut b =
            Builder::new(words("echo"), Limits::chars(14, 1 << 20), 0, 0, None, false).unwrap();
        for w in ["1", "22", "333", "4444"] {
            b.push(w.as_bytes()).unwrap();
        }
        b.exec();
        assert_eq!(commands(&mut b), ["echo 1 22 333", "echo 4444"]);
    }

    #[test]
    fn max_args_and_exit_on_overflow() {
        let mut b = Builder::new(
            words("echo"),
            Limits::chars(100, 1 << 20),
            2,
            0,
            None,
            false,
        )
        .unwrap();
        for w in ["a", "b", "c"] {
            b.push(w.as_bytes()).unwrap();
        }
        assert_eq!(commands(&mut b), ["echo a b"]);
        let mut b =
            Builder::new(words("echo"), Limits::chars(10, 1 << 20), 3, 0, None, true).unwrap();
        b.push(b"abc").unwrap();
        assert_eq!(b.push(b"d").unwrap_err().0, "argument list too long");
        let Err(err) = Builder::new(
            words("echo hello"),
            Limits::chars(8, 1 << 20),
            0,
            0,
            None,
            false,
        ) else {
            panic!()
        };
        assert_eq!(
            err.0,
            "cannot fit single argument within argument list size limit"
        );
    }

    #[test]
    fn replace_fills_every_occurrence_but_not_the_command() {
        let mut b = Builder::new(
            words("{} a{}b {}"),
            Limits::chars(1000, 1 << 20),
            0,
            0,
            Some(b"{}".to_vec()),
            false,
        )
        .unwrap();
        b.insert(b"X Y").unwrap();
        assert_eq!(commands(&mut b), ["{} aX Yb X Y"]);
        assert_eq!(replace_all(b"ab", b"", b"v", 100), None);
        assert_eq!(replace_all(b"{}{}", b"{}", b"vv", 4), None);
        assert_eq!(replace_all(b"{}{}", b"{}", b"vv", 5).unwrap(), b"vvvv");
    }

    #[test]
    fn a_size_beyond_what_exec_takes_is_cut_at_exec_s_limit() {
        let limits = Limits {
            exec: 8 + 10 + 10 + 10,
            ..Limits::chars(1000, 1 << 20)
        };
        let mut b = Builder::new(words("e"), limits, 0, 0, None, false).unwrap();
        for w in ["a", "b", "c"] {
            b.push(w.as_bytes()).unwrap();
        }
        b.exec();
        assert_eq!(commands(&mut b), ["e a b", "e c"]);
    }

    #[test]
    fn the_real_limit_counts_pointers_and_caps_one_argument() {
        let b = Builder::new(words("echo"), Limits::system(1 << 21), 0, 0, None, false).unwrap();
        assert_eq!(b.word_room(), MAX_ONE_ARG - 1);
        let mut b =
            Builder::new(words("e"), Limits::system(8 + 11 + 11), 0, 0, None, false).unwrap();
        // "e" costs 2 + 8; each one-byte argument 2 + 8; the NULL pointer 8.
        b.push(b"a").unwrap();
        b.push(b"b").unwrap();
        assert_eq!(commands(&mut b), ["e a"]);
    }
}
