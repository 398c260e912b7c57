//! What the engine reads: settings validated and resolved from the command
//! line and environment. Every check that spans several flags lives here.

pub use crate::batch::Packing;
pub use crate::joblog::Resume;
use std::ffi::OsString;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::PathBuf;
use std::time::Duration;

use crate::cli::Cli;
use crate::exec::{Dialect, ExecSettings, JobStdin, OutputMode};
use crate::input::{self, SourceKind, SourceSpec};
use crate::joblog::Retry;
use crate::pipe::{unescape, BlockSize, Header, PipeSpec, Separator};
use crate::remote::{parse_logins, LoginFile, LoginSpec, Staging, Workdir};
use crate::signal::{default_termseq, TermStep};
use crate::slurm::Slurm;
use crate::sys;
use crate::template::{Template, TemplateOptions};
use crate::units::{
    parse_block_size, parse_duration, parse_halt, parse_load, parse_size, parse_termseq,
    parse_timeout, Halt, HaltLimit, Timeout,
};

/// A usage error: the message names the flag or value at fault.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UsageError(pub String);

impl std::fmt::Display for UsageError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for UsageError {}

/// `--tag` or `--tagstring`.
#[derive(Debug, Clone)]
pub enum Tag {
    /// The job's values joined by spaces.
    Args,
    /// A template rendered without quoting.
    Template(Template),
}

/// `--joblog`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobLogSpec {
    /// The log file.
    pub path: PathBuf,
    /// `+FILE` or a resume: add to the file instead of starting it anew.
    pub append: bool,
}

/// Validated settings for one run.
#[derive(Debug, Clone)]
pub struct Config {
    /// Number of job slots.
    pub slots: usize,
    /// `-j` was given (under make it caps make's limit instead of setting it).
    pub explicit_jobs: bool,
    /// Record delimiter.
    pub delimiter: u8,
    /// Input sources, in order.
    pub sources: Vec<SourceSpec>,
    /// `--link`.
    pub link: bool,
    /// `--trim`, `-r`: what becomes of white space in inputs.
    pub filter: input::Filter,
    /// `--nice N`: run at this niceness increment.
    pub nice: Option<i32>,
    /// `--header` without `--pipe`: the templates, to parse again with the
    /// column names ([`Config::name_columns`]).
    pub renaming: Option<Renaming>,
    /// The command template.
    pub template: Template,
    /// `--pipe`: how stdin is cut into blocks.
    pub pipe: Option<PipeSpec>,
    /// `-S`: the hosts jobs run on (empty: this machine only).
    pub logins: Vec<LoginSpec>,
    /// `--slf`: read again when it changes, to add and take away hosts.
    pub login_file: Option<LoginFile>,
    /// `--ssh` / `$PARX_SSH`: the ssh command and its options.
    pub ssh: Vec<OsString>,
    /// Files moved around remote jobs, their directory, their environment.
    pub staging: Staging,
    /// `--slurm`: jobs run through srun.
    pub slurm: Option<Slurm>,
    /// `--cat`: blocks go to temporary files named by `{}`.
    pub pipe_cat: bool,
    /// `--fifo`: blocks go through named pipes named by `{}`.
    pub pipe_fifo: bool,
    /// `--round-robin`: a few long-lived jobs share the blocks.
    pub pipe_round_robin: bool,
    /// Output line prefix.
    pub tag: Option<Tag>,
    /// Inputs per job.
    pub packing: Packing,
    /// `--shuf`: read every input first, run the jobs in a random order.
    pub shuffle: bool,
    /// How jobs run.
    pub exec: ExecSettings,
    /// `--dry-run` (or `--shellquote`).
    pub dry_run: bool,
    /// `--shellquote`: each command line printed shell-quoted as one word.
    pub shell_quote: bool,
    /// `-t`/`--verbose`: each command on stderr as it starts.
    pub verbose: bool,
    /// `-v`: each command as the first line of its job's stdout.
    pub show_command: bool,
    /// How to stop jobs (signals, then waits).
    pub termseq: Vec<TermStep>,
    /// `--timeout`.
    pub timeout: Option<Timeout>,
    /// Attempts per job (`--retries`, at least 1).
    pub attempts: u32,
    /// `--halt`.
    pub halt: Option<Halt>,
    /// `--delay` between job starts.
    pub delay: Option<Duration>,
    /// `--load`: start jobs only while the run queue is shorter than this.
    pub load: Option<f64>,
    /// `--memfree`: start jobs only while this many bytes are available.
    pub memfree: Option<u64>,
    /// `--joblog`.
    pub joblog: Option<JobLogSpec>,
    /// `--resume`, `--resume-failed`.
    pub resume: Option<Resume>,
    /// `--retry-failed` was given.
    pub retry_failed: bool,
    /// `--retry-failed`: the failed jobs of the job log, once it is read
    /// (the jobs then come from here, not from the inputs).
    pub retry: Option<Retry>,
    /// `--results DIR` or `--results FILE.csv|.tsv|.json`.
    pub results: Option<crate::results::SaveTo>,
    /// `--bar`: show progress, for this many jobs when known.
    pub progress: Option<Option<u64>>,
    /// `--total-jobs`: the number of jobs (for `--bar` and `--halt N%`).
    pub total_jobs: Option<u64>,
}

/// The words that start input sources: `:::` and `::::` (or `--arg-sep`
/// and `--arg-file-sep`), each also with `+` (linked to the one before).
struct Separators {
    args: Vec<u8>,
    files: Vec<u8>,
}

impl Separators {
    fn new(args: Option<&OsString>, files: Option<&OsString>) -> Self {
        let word = |given: Option<&OsString>, default: &[u8]| {
            given.map_or_else(|| default.to_vec(), |w| w.as_bytes().to_vec())
        };
        Self {
            args: word(args, b":::"),
            files: word(files, b"::::"),
        }
    }

    /// Some(is a file separator, is linked) for a separator word.
    fn kind(&self, word: &[u8]) -> Option<(bool, bool)> {
        let (base, linked) = match word.strip_suffix(b"+") {
            Some(base) if base == self.args || base == self.files => (base, true),
            _ => (word, false),
        };
        if base == self.files {
            Some((true, linked))
        } else if base == self.args {
            Some((false, linked))
        } else {
            None
        }
    }
}

/// Splits the trailing words into the command and its input sources.
fn split_sources(
    words: &[OsString],
    seps: &Separators,
) -> Result<(Vec<OsString>, Vec<SourceSpec>), UsageError> {
    let is_sep = |w: &OsString| seps.kind(w.as_bytes()).is_some();
    let first_sep = words.iter().position(is_sep).unwrap_or(words.len());
    let command = words[..first_sep].to_vec();
    let mut sources: Vec<SourceSpec> = Vec::new();
    let mut rest = &words[first_sep..];
    while let Some((sep, tail)) = rest.split_first() {
        let end = tail.iter().position(is_sep).unwrap_or(tail.len());
        let values = &tail[..end];
        let (files, linked) = seps.kind(sep.as_bytes()).expect("a separator");
        let sep = sep.as_bytes();
        if linked && sources.is_empty() {
            return Err(UsageError(format!(
                "'{}' links to the input source before it, but there is none",
                String::from_utf8_lossy(sep)
            )));
        }
        if files {
            if values.is_empty() {
                return Err(UsageError(format!(
                    "'{}' needs at least one file name (- for stdin)",
                    String::from_utf8_lossy(sep)
                )));
            }
            for (i, file) in values.iter().enumerate() {
                sources.push(SourceSpec {
                    kind: SourceKind::File(PathBuf::from(file)),
                    linked: linked && i == 0,
                });
            }
        } else {
            sources.push(SourceSpec {
                kind: SourceKind::Args(values.to_vec()),
                linked,
            });
        }
        rest = &tail[end..];
    }
    // GNU parallel: an empty `:::` beside other sources is one empty value
    // (`echo ::: a :::` runs `echo a ''`); alone it gives no jobs.
    if sources.len() > 1 {
        for source in &mut sources {
            if matches!(&source.kind, SourceKind::Args(values) if values.is_empty()) {
                source.kind = SourceKind::Args(vec![OsString::new()]);
            }
        }
    }
    Ok((command, sources))
}

/// `--colsep REGEX`: the regex, and the options it cannot go with yet
/// (they count values per input, and a line makes as many as it has
/// columns).
fn column_separator(cli: &Cli) -> Result<Option<regex::bytes::Regex>, UsageError> {
    // --header without --pipe splits at tabs unless told (as GNU parallel).
    let (pattern, option) = match (cli.colsep.as_deref(), names_columns(cli)) {
        (Some(pattern), _) => (pattern, "--colsep"),
        (None, true) => ("\t", "--header"),
        (None, false) => return Ok(None),
    };
    let clash = [
        ("--pipe", cli.pipe || cli.pipe_part),
        ("-X", cli.context_replace),
        ("-m", cli.m),
        ("-n", cli.max_args.is_some()),
        ("-N", cli.max_replace_args.is_some()),
        ("--link", cli.link),
        ("--shuf", cli.shuf),
    ];
    if let Some((name, _)) = clash.iter().find(|(_, set)| *set) {
        return Err(UsageError(format!(
            "{option} with {name} is not supported yet"
        )));
    }
    // Bytes, not Unicode: inputs are bytes, as the Perl regex GNU parallel
    // uses sees them.
    regex::bytes::RegexBuilder::new(pattern)
        .unicode(false)
        .build()
        .map(Some)
        .map_err(|e| UsageError(format!("--colsep: {e}")))
}

/// `--header` without `--pipe`: the first input of each source names the
/// columns, `{name}` in the template.
fn names_columns(cli: &Cli) -> bool {
    cli.header.is_some() && !cli.pipe && !cli.pipe_part
}

/// What `--header` needs to parse the templates again once the column
/// names are read: `{name}` becomes `{N}`.
#[derive(Debug, Clone)]
pub struct Renaming {
    command: Vec<OsString>,
    options: TemplateOptions,
    tagstring: Option<OsString>,
}

/// `text` with each `{NAME}` (and `{NAME.}`, `{NAME/}`, `{NAME//}`,
/// `{NAME/.}`) whose NAME is in `names` written `{N}` (N from 1). One pass,
/// so a name that looks like a number is not renamed twice.
fn rename_columns(text: &[u8], names: &[Vec<u8>]) -> Vec<u8> {
    let mut out = Vec::with_capacity(text.len());
    let mut rest = text;
    while let Some(open) = rest.iter().position(|&b| b == b'{') {
        out.extend_from_slice(&rest[..open]);
        rest = &rest[open..];
        let Some(close) = rest.iter().position(|&b| b == b'}') else {
            break;
        };
        let inner = &rest[1..close];
        let renamed = ["", "/.", "//", "/", "."].iter().find_map(|op| {
            let name = inner.strip_suffix(op.as_bytes())?;
            let n = names.iter().position(|known| known == name)?;
            Some(format!("{{{}{op}}}", n + 1).into_bytes())
        });
        match renamed {
            Some(token) => out.extend_from_slice(&token),
            None => out.extend_from_slice(&rest[..=close]),
        }
        rest = &rest[close + 1..];
    }
    out.extend_from_slice(rest);
    out
}

/// Parses `-d`: one byte, or a C escape.
pub fn parse_delimiter(text: &[u8]) -> Result<u8, UsageError> {
    let bad = || {
        UsageError(format!(
            "invalid delimiter '{}': give one byte or a C escape such as \\n, \\t, \\0 or \\x1f",
            String::from_utf8_lossy(text)
        ))
    };
    match text {
        [b] => Ok(*b),
        [b'\\', rest @ ..] => {
            let simple = match rest {
                b"n" => Some(b'\n'),
                b"t" => Some(b'\t'),
                b"r" => Some(b'\r'),
                b"a" => Some(7),
                b"b" => Some(8),
                b"f" => Some(12),
                b"v" => Some(11),
                b"\\" => Some(b'\\'),
                _ => None,
            };
            if let Some(b) = simple {
                return Ok(b);
            }
            let s = std::str::from_utf8(rest).map_err(|_| bad())?;
            if let Some(hex) = s.strip_prefix('x') {
                if (1..=2).contains(&hex.len()) {
                    return u8::from_str_radix(hex, 16).map_err(|_| bad());
                }
            } else if (1..=3).contains(&s.len()) {
                return u8::from_str_radix(s, 8).map_err(|_| bad());
            }
            Err(bad())
        }
        _ => Err(bad()),
    }
}

/// `--pipe` and its options: one input (stdin or `-a FILE`), cut as
/// `--block`, `--recend`, `--recstart`, `-N` and `--header` say.
fn pipe_spec(cli: &Cli, sources: &[SourceSpec]) -> Result<Option<PipeSpec>, UsageError> {
    let given = [
        ("--block", cli.block.is_some()),
        ("--recend", cli.recend.is_some()),
        ("--recstart", cli.recstart.is_some()),
        ("--header", cli.header.is_some()),
        ("--regexp", cli.regexp),
        ("--cat", cli.cat),
        ("--round-robin", cli.round_robin),
        ("--fifo", cli.fifo),
    ];
    if !cli.pipe && !cli.pipe_part {
        // (--header without --pipe names the input columns instead.)
        return match given.iter().find(|(name, set)| *set && *name != "--header") {
            Some((name, _)) => Err(UsageError(format!("{name} needs --pipe or --pipe-part"))),
            None => Ok(None),
        };
    }
    if cli.pipe_part {
        let files_only = sources
            .iter()
            .all(|s| matches!(s.kind, SourceKind::File(_)) && !s.kind.is_stdin());
        if cli.arg_file.is_empty() || !files_only {
            return Err(UsageError(
                "--pipe-part splits the files given with -a FILE (seekable files, not stdin)"
                    .into(),
            ));
        }
    } else {
        let one_input = match sources {
            [one] => matches!(one.kind, SourceKind::Stdin | SourceKind::File(_)),
            _ => false,
        };
        if !one_input {
            return Err(UsageError(
                "--pipe reads one input, stdin or -a FILE; ::: and :::: cannot be used with it"
                    .into(),
            ));
        }
    }
    if cli.cat && cli.fifo {
        return Err(UsageError("--cat and --fifo: choose one".into()));
    }
    if cli.round_robin && (cli.cat || cli.fifo || cli.pipe_part) {
        return Err(UsageError(
            "--round-robin feeds long-lived jobs on stdin: not with --cat or --pipe-part".into(),
        ));
    }
    if cli.context_replace || cli.m || cli.max_args.is_some() {
        return Err(UsageError(
            "--pipe cuts by size or by -N records; -X, -m and -n do not apply".into(),
        ));
    }
    let per_slot = cli
        .block
        .as_deref()
        .and_then(|t| t.strip_prefix('-'))
        .map(|n| {
            n.parse::<usize>()
                .ok()
                .filter(|&n| n > 0 && cli.pipe_part)
                .ok_or_else(|| UsageError(format!("--block -{n}: a negative --block (parts per job slot) needs --pipe-part and a whole number")))
        })
        .transpose()?;
    let block = match (&cli.block, per_slot) {
        (_, Some(_)) => 1 << 20,
        (Some(text), None) => {
            parse_block_size(text).map_err(|e| UsageError(format!("--block: {e}")))?
        }
        (None, None) => 1 << 20,
    };
    let part = cli.pipe_part.then(|| match (per_slot, &cli.block) {
        (Some(n), _) => BlockSize::PerSlot(n),
        (None, Some(_)) => BlockSize::Bytes(usize::try_from(block).unwrap_or(usize::MAX)),
        (None, None) => BlockSize::PerSlot(10),
    });
    let separator = if cli.regexp {
        // As GNU parallel: no --recstart or --recend is a newline; an
        // empty --recend alone is any byte.
        let (recend, recstart) = match (cli.recend.as_deref(), cli.recstart.as_deref()) {
            (None, None) => ("\n", ""),
            (Some(""), None) => ("(?s:.)", ""),
            (end, start) => (end.unwrap_or_default(), start.unwrap_or_default()),
        };
        if recend.is_empty() && recstart.is_empty() && cli.max_replace_args.is_some() {
            return Err(UsageError(
                "-N counts records: --recend and --recstart cannot both be empty with it".into(),
            ));
        }
        Separator::regex(recend, recstart).map_err(UsageError)?
    } else {
        let (recend, recstart) = match (&cli.recend, &cli.recstart) {
            (None, None) => (b"\n".to_vec(), Vec::new()),
            (end, start) => (
                end.as_deref()
                    .map(|e| unescape(e.as_bytes()))
                    .unwrap_or_default(),
                start
                    .as_deref()
                    .map(|s| unescape(s.as_bytes()))
                    .unwrap_or_default(),
            ),
        };
        // Both empty: records end anywhere, blocks are exactly --block bytes
        // (GNU parallel's idiom for binary data); -N has nothing to count then.
        if recend.is_empty() && recstart.is_empty() && cli.max_replace_args.is_some() {
            return Err(UsageError(
                "-N counts records: --recend and --recstart cannot both be empty with it".into(),
            ));
        }
        Separator::Literal { recend, recstart }
    };
    let header = match cli.header.as_deref() {
        None => Header::None,
        Some(text) => Header::parse(text).map_err(UsageError)?,
    };
    Ok(Some(PipeSpec {
        block: usize::try_from(block).unwrap_or(usize::MAX),
        separator,
        records: cli.max_replace_args.filter(|&n| n > 0),
        header,
        part,
    }))
}

/// `--transferfile`, `--return`, `--trc`, `--cleanup`, `--basefile`,
/// `--workdir`, `--env`.
fn staging(cli: &Cli, replace: Option<&[u8]>) -> Staging {
    let parse = |t: &OsString| Template::parse_tag(t, replace);
    let input = OsString::from("{}");
    let mut transfer: Vec<Template> = cli.transferfile.iter().map(parse).collect();
    if cli.transfer || !cli.trc.is_empty() {
        transfer.push(parse(&input));
    }
    let returns = cli.return_files.iter().chain(&cli.trc).map(parse).collect();
    Staging {
        transfer,
        returns,
        cleanup: cli.cleanup || !cli.trc.is_empty(),
        basefiles: cli.basefile.iter().map(PathBuf::from).collect(),
        workdir: cli.workdir.as_ref().map(|w| {
            if w == "..." {
                Workdir::PerJob
            } else if w == "." {
                Workdir::Dir(here_for_remote())
            } else {
                Workdir::Dir(w.as_encoded_bytes().to_vec())
            }
        }),
        env: cli.env.clone(),
    }
}

/// `--workdir .`: this directory, as GNU parallel means it there: relative
/// to the home directory when it is below it (the remote home may be
/// elsewhere), else the same absolute path.
fn here_for_remote() -> Vec<u8> {
    let Ok(cwd) = std::env::current_dir() else {
        return b".".to_vec();
    };
    let home = std::env::var_os("HOME").map(PathBuf::from);
    match home.as_deref().and_then(|h| cwd.strip_prefix(h).ok()) {
        Some(rel) if rel.as_os_str().is_empty() => b".".to_vec(),
        Some(rel) => rel.as_os_str().as_encoded_bytes().to_vec(),
        None => cwd.as_os_str().as_encoded_bytes().to_vec(),
    }
}

/// `-S` values and `--slf FILE` lines, as [`LoginSpec`]s, and the file
/// to read again when it changes.
fn ssh_logins(
    values: &[String],
    file: Option<&std::path::Path>,
) -> Result<(Vec<LoginSpec>, Option<LoginFile>), UsageError> {
    let mut logins = Vec::new();
    for value in values {
        logins.extend(parse_logins(value).map_err(UsageError)?);
    }
    let Some(path) = file else {
        return Ok((logins, None));
    };
    let mut file = LoginFile {
        path: path.to_path_buf(),
        fixed: logins,
        seen: None,
    };
    Ok((file.read().map_err(UsageError)?, Some(file)))
}

/// Number of CPUs parx may use.
pub fn cpu_count() -> usize {
    std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get)
}

/// `-j 0`: as many slots as open-file and process limits allow, capped at
/// 1024 (each slot is a thread and holds up to four pipe ends).
pub fn max_slots() -> usize {
    sys::max_slots()
}

/// Parses `-j`.
pub fn parse_jobs(text: Option<&str>, cpus: usize) -> Result<usize, UsageError> {
    let Some(text) = text else { return Ok(cpus) };
    let bad = || {
        UsageError(format!(
            "invalid value '{text}' for -j: expected N, N%, +N, -N or 0"
        ))
    };
    let number = |s: &str| s.parse::<usize>().map_err(|_| bad());
    // As GNU parallel: a share or a difference that leaves no slot at all
    // is an error; a share of a slot is one.
    let none = || {
        UsageError(format!(
            "-j {text} leaves no job slot on {cpus} CPUs: cannot run any jobs"
        ))
    };
    let slots = if let Some(pct) = text.strip_suffix('%') {
        match (cpus * number(pct)?).div_ceil(100) {
            0 => return Err(none()),
            n => n,
        }
    } else if let Some(n) = text.strip_prefix('+') {
        cpus + number(n)?
    } else if let Some(n) = text.strip_prefix('-') {
        match cpus.checked_sub(number(n)?) {
            None | Some(0) => return Err(none()),
            Some(n) => n,
        }
    } else {
        match number(text)? {
            0 => max_slots(),
            n => n,
        }
    };
    Ok(slots.max(1))
}

impl Config {
    /// Validates the command line.
    pub fn from_cli(cli: Cli) -> Result<Self, UsageError> {
        let slots = parse_jobs(cli.jobs.as_deref(), cpu_count())?;
        let delimiter = match (&cli.delimiter, cli.null) {
            // Both: -d wins, in either order, as in GNU parallel.
            (Some(d), _) => parse_delimiter(d.as_bytes())?,
            (None, true) => 0,
            (None, false) => b'\n',
        };
        let seps = Separators::new(cli.arg_sep.as_ref(), cli.arg_file_sep.as_ref());
        let (command, mut argument_sources) = split_sources(&cli.command, &seps)?;
        let colsep = column_separator(&cli)?;
        let filter = input::Filter {
            trim: match cli.trim.as_deref() {
                // --colsep trims both ends of each column unless told.
                None if colsep.is_some() => input::Trim {
                    left: true,
                    right: true,
                },
                None => input::Trim::default(),
                Some(text) => input::Trim::parse(text).ok_or_else(|| {
                    UsageError(format!(
                        "--trim {text}: give n (none), l (left), r (right), lr or rl (both ends)"
                    ))
                })?,
            },
            skip_blank: cli.no_run_if_empty,
            colsep,
            header: names_columns(&cli),
            eof: cli.eof.as_ref().map(|e| e.as_bytes().to_vec()),
        };
        let mut sources: Vec<SourceSpec> = cli
            .arg_file
            .iter()
            .map(|f| SourceSpec {
                kind: SourceKind::File(f.clone()),
                linked: false,
            })
            .collect();
        sources.append(&mut argument_sources);
        if sources.is_empty() {
            sources.push(SourceSpec {
                kind: SourceKind::Stdin,
                linked: false,
            });
        }
        // A terminal cannot be shared: jobs run in process groups of their
        // own, so one reading it would be stopped by SIGTTIN and hang parx.
        let stdin_is_terminal = std::io::IsTerminal::is_terminal(&std::io::stdin());
        let reads_stdin = stdin_is_terminal || sources.iter().any(|s| s.kind.is_stdin());

        let pipe = pipe_spec(&cli, &sources)?;
        if pipe.is_some() && command.is_empty() {
            // (GNU parallel's words.)
            return Err(UsageError(
                "--pipe/--pipe-part must have a command to pipe into (e.g. 'cat')".into(),
            ));
        }
        let max_args = cli.max_replace_args.or(cli.max_args);
        let packing = if cli.context_replace || cli.m {
            Packing::Fill {
                max_args: max_args.filter(|&n| n > 0),
            }
        } else {
            max_args.map_or(Packing::One, Packing::Fixed)
        };

        let template_options = TemplateOptions {
            replace: cli.replace.as_ref().map(|r| r.as_bytes().to_vec()),
            quote_words: cli.quote,
            context_replace: cli.context_replace,
        };
        if template_options.replace.as_deref() == Some(b"") {
            return Err(UsageError("-I needs a non-empty replacement string".into()));
        }
        let template =
            Template::parse(&command, &template_options).map_err(|e| UsageError(e.to_string()))?;
        let renaming = names_columns(&cli).then(|| Renaming {
            command: command.clone(),
            options: template_options.clone(),
            tagstring: cli.tagstring.clone(),
        });
        let tag = match (&cli.tagstring, cli.tag) {
            (Some(text), _) => Some(Tag::Template(Template::parse_tag(
                text,
                template_options.replace.as_deref(),
            ))),
            (None, true) => Some(Tag::Args),
            (None, false) => None,
        };

        let mode = if cli.results.is_some() {
            // The output goes to files, whole per job (a table's records
            // in input order with -k).
            if cli.keep_order {
                OutputMode::KeepOrder
            } else {
                OutputMode::Group
            }
        } else if cli.ungroup && tag.is_none() {
            OutputMode::Ungroup
        } else if cli.keep_order {
            OutputMode::KeepOrder
        } else if cli.line_buffer || cli.ungroup {
            OutputMode::LineBuffer
        } else {
            OutputMode::Group
        };

        let shell_setting = cli.shell.clone().or_else(|| std::env::var_os("PARX_SHELL"));
        // An exported bash function needs bash, whatever the default shell.
        let shell = match shell_setting {
            None if template.calls_exported_function() => vec![OsString::from("bash")],
            setting => shell_program(setting)?,
        };
        let (logins, login_file) = ssh_logins(&cli.sshlogin, cli.sshloginfile.as_deref())?;
        let ssh = match cli.ssh.clone().or_else(|| std::env::var_os("PARX_SSH")) {
            Some(cmd) => shell_program(Some(cmd))?,
            None => vec![OsString::from("ssh")],
        };
        let mut staging = staging(&cli, template_options.replace.as_deref());
        if logins.is_empty() && !staging.is_empty() {
            // As GNU parallel: without a host, --env has nothing to do (the
            // jobs get parx's environment) and the file options are ignored
            // with a warning. (GNU parallel's --workdir also changes the
            // directory of local jobs; parx's does not, so it says so.)
            if staging.workdir.is_some() {
                return Err(UsageError(
                    "--workdir needs -S (parx runs local jobs in its own directory; cd there first)"
                        .into(),
                ));
            }
            for (given, option) in [
                (!staging.transfer.is_empty(), "--transfer"),
                (!staging.returns.is_empty(), "--return"),
                (staging.cleanup, "--cleanup"),
                (!staging.basefiles.is_empty(), "--basefile"),
            ] {
                if given {
                    eprintln!("parx: warning: {option} ignored: there is no -S host");
                }
            }
            staging = Staging::default();
        }
        let slurm = match (cli.slurm || cli.slurm_alloc, &cli.slurm_args) {
            (false, Some(_)) => return Err(UsageError("--slurm-args needs --slurm".into())),
            (false, None) => None,
            (true, args) => {
                if !logins.is_empty() {
                    return Err(UsageError("--slurm and -S: choose one".into()));
                }
                let args = match args {
                    Some(text) => shell_words::split(text)
                        .map_err(|e| UsageError(format!("--slurm-args '{text}': {e}")))?
                        .into_iter()
                        .map(OsString::from)
                        .collect(),
                    None => Vec::new(),
                };
                let srun = match std::env::var_os("PARX_SRUN") {
                    Some(cmd) => shell_program(Some(cmd))?,
                    None => vec![OsString::from("srun")],
                };
                Some(Slurm::new(srun, args))
            }
        };
        if cli.retry_failed && pipe.is_some() {
            return Err(UsageError(
                "--retry-failed runs the commands of the job log; it cannot be used with --pipe"
                    .into(),
            ));
        }
        if cli.shuf && pipe.as_ref().is_some_and(|p| p.part.is_none()) {
            // (GNU parallel refuses this too; --pipe-part's parts are
            // offsets, and --shuf leaves them in order, as there.)
            return Err(UsageError(
                "--shuf cannot be used with --pipe: it would hold the whole stream in memory"
                    .into(),
            ));
        }
        // A remote job reads its block from ssh's stdin, which must say how
        // long it is up front: not a --round-robin stream. --cat and --fifo
        // name a local file the remote job could not open.
        if !logins.is_empty() && (cli.round_robin || cli.cat || cli.fifo) {
            return Err(UsageError(
                "--round-robin, --cat and --fifo cannot be used with -S".into(),
            ));
        }
        // A template that needs the shell would fail every job without one:
        // say so once, up front.
        if !cli.dry_run
            && !cli.shell_quote
            && template.direct().is_none()
            && !program_exists(&shell[0])
        {
            return Err(UsageError(format!(
                "the shell '{}' (from --shell or PARX_SHELL) is not an executable program",
                shell[0].to_string_lossy()
            )));
        }
        let tmpdir = match cli.tmpdir {
            Some(dir) if !dir.is_dir() => {
                let why = if dir.exists() {
                    "not a directory"
                } else {
                    "no such directory"
                };
                return Err(UsageError(format!("--tmpdir {}: {why}", dir.display())));
            }
            Some(dir) => dir,
            None => env_tmpdir(),
        };

        let usage = |e: String| UsageError(e);
        let termseq = match &cli.termseq {
            Some(text) => parse_termseq(text).map_err(usage)?,
            None => default_termseq(),
        };
        let timeout = cli
            .timeout
            .as_deref()
            .map(parse_timeout)
            .transpose()
            .map_err(usage)?
            .flatten();
        let halt = cli
            .halt
            .as_deref()
            .map(parse_halt)
            .transpose()
            .map_err(usage)?
            .flatten();
        let percent = matches!(
            halt,
            Some(Halt {
                limit: HaltLimit::Percent(_),
                ..
            })
        );
        if percent && cli.total_jobs.is_none() && pipe.as_ref().is_some_and(|p| p.part.is_none()) {
            return Err(UsageError(
                "--halt with a percentage needs the number of jobs, and --pipe cannot count its \
                 blocks ahead: give --total-jobs N"
                    .into(),
            ));
        }
        let delay = cli
            .delay
            .as_deref()
            .map(|d| parse_duration(d).map_err(|e| UsageError(format!("--delay: {e}"))))
            .transpose()?;
        let load = cli
            .load
            .as_deref()
            .map(|l| parse_load(l, cpu_count()))
            .transpose()
            .map_err(usage)?;
        let memfree = cli
            .memfree
            .as_deref()
            .map(|m| parse_size(m).map_err(|e| UsageError(format!("--memfree: {e}"))))
            .transpose()?;
        // (/proc/meminfo is read only when --memfree is given.)
        if let Some((want, total)) = memfree.and_then(|m| Some((m, crate::memory::total()?))) {
            if want > total {
                eprintln!(
                    "parx: warning: --memfree asks for more memory than this machine has ({} MiB); no job will start",
                    total >> 20
                );
            }
        }
        let resume = if cli.resume {
            Some(Resume::SkipFinished)
        } else if cli.resume_failed {
            Some(Resume::SkipSucceeded)
        } else {
            None
        };
        let joblog = cli.joblog.map(|text| {
            let bytes = text.as_bytes();
            match bytes.strip_prefix(b"+") {
                Some(rest) => JobLogSpec {
                    path: PathBuf::from(std::ffi::OsStr::from_bytes(rest)),
                    append: true,
                },
                None => JobLogSpec {
                    path: PathBuf::from(text),
                    append: resume.is_some() || cli.retry_failed,
                },
            }
        });

        Ok(Config {
            slots,
            explicit_jobs: cli.jobs.is_some(),
            delimiter,
            sources,
            link: cli.link,
            filter,
            nice: cli.nice,
            renaming,
            template,
            pipe,
            pipe_cat: cli.cat,
            logins,
            login_file,
            ssh,
            staging,
            slurm,
            pipe_round_robin: cli.round_robin,
            pipe_fifo: cli.fifo,
            tag,
            packing,
            shuffle: cli.shuf,
            exec: ExecSettings {
                shell,
                stdin: if reads_stdin {
                    JobStdin::Null
                } else {
                    JobStdin::Inherit
                },
                dialect: Dialect::Parallel,
                own_group: true,
                mode,
                tmpdir,
                termseq: termseq.clone(),
            },
            dry_run: cli.dry_run || cli.shell_quote,
            shell_quote: cli.shell_quote,
            verbose: cli.verbose,
            show_command: cli.show_command,
            termseq,
            timeout,
            attempts: cli.retries.unwrap_or(1).max(1),
            halt,
            delay,
            load,
            memfree,
            results: cli.results.map(crate::results::SaveTo::parse),
            progress: cli.bar.then_some(cli.total_jobs),
            total_jobs: cli.total_jobs,
            joblog,
            resume,
            retry_failed: cli.retry_failed,
            retry: None,
        })
    }

    /// `--header`: parses the template (and `--tagstring`) again with
    /// `{name}` standing for the value in the same place as `name` among
    /// the column names read from the inputs.
    pub fn name_columns(&mut self, names: &[Vec<u8>]) -> Result<(), UsageError> {
        let Some(renaming) = &self.renaming else {
            return Ok(());
        };
        let rename = |word: &OsString| OsString::from_vec(rename_columns(word.as_bytes(), names));
        let command: Vec<OsString> = renaming.command.iter().map(rename).collect();
        self.template =
            Template::parse(&command, &renaming.options).map_err(|e| UsageError(e.to_string()))?;
        if let Some(text) = &renaming.tagstring {
            self.tag = Some(Tag::Template(Template::parse_tag(
                &rename(text),
                renaming.options.replace.as_deref(),
            )));
        }
        Ok(())
    }

    /// `--retry-failed`: reads the job log and, when it exists, takes the
    /// jobs from it: each failed job's logged command line, run as it is
    /// (no template, one job each), under its logged number. A log that
    /// does not exist yet leaves the command line as given, as in GNU
    /// parallel (a first run).
    pub fn read_retry(&mut self) -> Result<(), crate::joblog::JobLogError> {
        let Some(spec) = self.joblog.as_ref().filter(|_| self.retry_failed) else {
            return Ok(());
        };
        let Some(retry) = crate::joblog::failed_jobs(&spec.path)? else {
            return Ok(());
        };
        self.template = Template::parse(&[], &TemplateOptions::default())
            .expect("an empty template always parses");
        self.packing = Packing::One;
        self.sources = vec![SourceSpec {
            kind: SourceKind::Args(Vec::new()),
            linked: false,
        }];
        self.retry = Some(retry);
        Ok(())
    }
}

/// `$TMPDIR`, or `/tmp` when it is unset or names no directory (with a
/// warning: refusing to run would be worse, as most jobs never spill).
pub fn env_tmpdir() -> PathBuf {
    match std::env::var_os("TMPDIR")
        .filter(|t| !t.is_empty())
        .map(PathBuf::from)
    {
        Some(dir) if dir.is_dir() => dir,
        Some(dir) => {
            eprintln!(
                "parx: warning: TMPDIR={} is not a directory; using /tmp",
                dir.display()
            );
            PathBuf::from("/tmp")
        }
        None => PathBuf::from("/tmp"),
    }
}

/// Whether `program` names an executable file, directly or through PATH.
fn program_exists(program: &std::ffi::OsStr) -> bool {
    use std::os::unix::fs::PermissionsExt;
    let executable = |p: &std::path::Path| {
        p.metadata()
            .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
    };
    if program.as_bytes().contains(&b'/') {
        return executable(std::path::Path::new(program));
    }
    std::env::var_os("PATH")
        .is_some_and(|path| std::env::split_paths(&path).any(|dir| executable(&dir.join(program))))
}

/// `--shell`/`$PARX_SHELL`: a program, optionally with arguments
/// (`bash -e`), split like a shell would.
fn shell_program(setting: Option<OsString>) -> Result<Vec<OsString>, UsageError> {
    let Some(setting) = setting.filter(|s| !s.is_empty()) else {
        return Ok(vec![OsString::from("sh")]);
    };
    let words = match setting.to_str() {
        Some(text) => shell_words::split(text)
            .map_err(|e| UsageError(format!("cannot read the shell setting '{text}': {e}")))?
            .into_iter()
            .map(OsString::from)
            .collect(),
        None => vec![setting],
    };
    if words.is_empty() {
        return Err(UsageError("the shell setting is empty".into()));
    }
    Ok(words)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_names_become_positions_in_one_pass() {
        let names = [b"a".to_vec(), b"1".to_vec(), b"x y".to_vec()];
        assert_eq!(
            rename_columns(b"{a} {1} {x y/} {a.} {b} {} {#}", &names),
            b"{1} {2} {3/} {1.} {b} {} {#}"
        );
        assert_eq!(rename_columns(b"{a", &names), b"{a");
    }

    #[test]
    fn jobs_forms() {
        assert_eq!(parse_jobs(None, 8), Ok(8));
        assert_eq!(parse_jobs(Some("3"), 8), Ok(3));
        assert_eq!(parse_jobs(Some("50%"), 8), Ok(4));
        assert_eq!(parse_jobs(Some("+2"), 8), Ok(10));
        assert_eq!(parse_jobs(Some("-2"), 8), Ok(6));
        // GNU parallel 20221122: `-j -2` and `-j 0%` on 2 CPUs say "Cannot
        // run any jobs"; `-j 10%` runs one.
        assert!(parse_jobs(Some("-20"), 8).is_err());
        assert!(parse_jobs(Some("-2"), 2).is_err());
        assert_eq!(parse_jobs(Some("-1"), 2), Ok(1));
        assert!(parse_jobs(Some("0%"), 2).is_err());
        assert_eq!(parse_jobs(Some("10%"), 2), Ok(1));
        assert_eq!(parse_jobs(Some("75%"), 2), Ok(2));
        assert!(parse_jobs(Some("0"), 8).unwrap() >= 1);
        assert!(parse_jobs(Some("x"), 8).is_err());
    }

    #[test]
    fn delimiter_forms() {
        assert_eq!(parse_delimiter(b","), Ok(b','));
        assert_eq!(parse_delimiter(b"\\t"), Ok(b'\t'));
        assert_eq!(parse_delimiter(b"\\0"), Ok(0));
        assert_eq!(parse_delimiter(b"\\x1f"), Ok(0x1f));
        assert_eq!(parse_delimiter(b"\\101"), Ok(b'A'));
        assert!(parse_delimiter(b"ab").is_err());
        assert!(parse_delimiter(b"").is_err());
    }

    #[test]
    fn sources_split_at_separators() {
        let words: Vec<OsString> = ["echo", "{}", ":::", "a", "b", ":::+", "1", "::::", "f", "g"]
            .iter()
            .map(OsString::from)
            .collect();
        let (command, sources) = split_sources(&words, &Separators::new(None, None)).unwrap();
        assert_eq!(command, ["echo", "{}"]);
        assert_eq!(sources.len(), 4);
        assert!(sources[1].linked && !sources[2].linked && !sources[3].linked);
        assert!(split_sources(&[OsString::from(":::+")], &Separators::new(None, None)).is_err());
    }

    #[test]
    fn shell_setting_splits_words() {
        assert_eq!(
            shell_program(Some("bash -e".into())).unwrap(),
            ["bash", "-e"]
        );
        assert_eq!(shell_program(None).unwrap(), ["sh"]);
    }
}
