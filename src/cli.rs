//! What the user typed: the clap definition of parx's command line.
//!
//! No I/O and no validation across flags happens here; `config` turns these
//! values into the settings the engine reads.

use std::ffi::OsString;
use std::path::PathBuf;

use clap::Parser;

const AFTER_HELP: &str = "Examples:
  parx gzip ::: *.log                      compress every log, one job per CPU
  find . -name '*.png' | parx convert {} {.}.jpg
  parx -j4 -k 'curl -s {} | wc -c' :::: urls.txt
  parx -k echo {1}-{2} ::: a b ::: 1 2     a-1 a-2 b-1 b-2 (-k: input order)
  parx -X rm -f {} < list                  as many names per rm as fit
  printf 'a\\0b c\\0' | parx -0 ls -l
  find . -name '*.o' | parx --xargs rm      GNU xargs mode (parx --xargs --help)

Replacement strings: {} input  {.} without extension  {/} basename  {//} dirname
  {/.} basename without extension  {#} job number  {%} slot  {N} input source N
  ({1.} {2/} ... take the same suffixes). Values are always shell-quoted.

Exit status: 0 all jobs succeeded; 1-100 that many jobs failed; 101 more than
100 failed; 130/143 interrupted; 141 output closed; 255 parx's own error.
Every option in detail: parx --help-full, or man -l man/parx.1 in the source.";

const AFTER_LONG_HELP: &str = "Environment: PARX_SHELL (the shell for templates that need one),
TMPDIR (where output spills), MAKEFLAGS (make's jobserver, in '+' recipes),
PARALLEL (default options, before the command line's; a repeated option
takes its last value), PARX_SSH, PARX_SRUN.
Jobs get PARX_SEQ and PARX_SLOT (also as PARALLEL_SEQ and PARALLEL_JOBSLOT)
and PARALLEL_PID.

GNU parallel options accepted without effect: --will-cite, --no-notice,
--plain, --gnu, --silent, -M/--controlmaster.

Exit status: 0 all jobs succeeded; 1-100 that many jobs failed; 101 more than
100 failed; the failing job's status with --halt ...,fail=1; the percentage
of jobs that failed with --halt ...=N%; 130/143 interrupted (SIGINT/SIGTERM);
141 output closed; 255 parx's own error.
The manual page (man -l man/parx.1) explains quoting, signals and output.";

/// Run a command for every input, in parallel (GNU parallel syntax).
///
/// Each input (a line of stdin, a '-0' record, '::: ARG', a line of a ':::: FILE')
/// becomes one job, built from the COMMAND template. Values are substituted
/// shell-quoted: input is never run as code.
#[derive(Debug, Parser)]
#[command(
    name = "parx",
    version,
    about = "Run a command for every input, in parallel (GNU parallel syntax)",
    after_help = AFTER_HELP,
    after_long_help = AFTER_LONG_HELP,
    args_override_self = true,
    override_usage = "parx [OPTIONS] [COMMAND [ARG]...] [::: ARG...]... [:::: FILE...]...",
    max_term_width = 100,
    disable_help_flag = true,
    help_template = "{about-with-newline}\n{usage-heading} {usage}{after-help}\n\n{all-args}"
)]
pub struct Cli {
    /// Print a short help with examples (--help-full for every detail).
    #[arg(short = 'h', long = "help", action = clap::ArgAction::HelpShort)]
    pub help: Option<bool>,

    /// Print the full help.
    #[arg(long = "help-full", action = clap::ArgAction::HelpLong)]
    pub help_full: Option<bool>,
    /// Run as GNU xargs 4.9; it must come first, the rest are xargs'
    /// options and command (see 'parx --xargs --help').
    #[arg(long = "xargs")]
    pub xargs: bool,

    /// Jobs to run at once (default: one per CPU).
    ///
    /// N, N% of the CPUs, +N or -N relative to the CPUs, or 0 for as many as
    /// the system allows. Under 'make -jN' (a '+' recipe) the default is make's
    /// N, and make's jobserver tokens limit the whole build.
    #[arg(
        short = 'j',
        long = "jobs",
        visible_short_alias = 'P',
        visible_alias = "max-procs",
        value_name = "N",
        allow_hyphen_values = true
    )]
    pub jobs: Option<String>,

    /// Read inputs from FILE (repeatable; each is one input source, like ':::: FILE').
    #[arg(short = 'a', long = "arg-file", value_name = "FILE")]
    pub arg_file: Vec<PathBuf>,

    /// Inputs are separated by NUL bytes instead of newlines.
    #[arg(short = '0', long = "null", visible_alias = "null-data")]
    pub null: bool,

    /// Inputs are separated by DELIM: one byte, or a C escape such as \t, \0, \x1f.
    #[arg(short = 'd', long = "delimiter", value_name = "DELIM")]
    pub delimiter: Option<OsString>,

    /// Split each input into columns where REGEX matches: {1}, {2} ... are
    /// the columns (implies --trim rl).
    #[arg(short = 'C', long = "colsep", value_name = "REGEX")]
    pub colsep: Option<String>,

    /// An input that is exactly STR ends its input source (the rest is not read).
    #[arg(short = 'E', value_name = "STR")]
    pub eof: Option<OsString>,

    /// Skip inputs that are empty or only white space (each input source's
    /// own, so no job gets a blank value).
    #[arg(short = 'r', long = "no-run-if-empty")]
    pub no_run_if_empty: bool,

    /// Remove white space from the left (l), right (r) or both ends (lr, rl)
    /// of each input; n: none (the default).
    #[arg(long = "trim", value_name = "n|l|r|lr|rl")]
    pub trim: Option<String>,

    /// Use SEP instead of ::: (and SEP+ instead of :::+) to start arguments.
    #[arg(long = "arg-sep", value_name = "SEP")]
    pub arg_sep: Option<OsString>,

    /// Use SEP instead of :::: (and SEP+ instead of ::::+) to start files.
    #[arg(long = "arg-file-sep", value_name = "SEP")]
    pub arg_file_sep: Option<OsString>,

    /// Pair the input sources (the shorter ones wrap) instead of combining them.
    #[arg(long = "link", visible_alias = "xapply")]
    pub link: bool,

    /// Use up to N inputs per job.
    #[arg(short = 'n', long = "max-args", value_name = "N")]
    pub max_args: Option<usize>,

    /// Use up to N inputs per job; {1}..{N} refer to them (-N0: read one input, insert none).
    #[arg(short = 'N', long = "max-replace-args", value_name = "N")]
    pub max_replace_args: Option<usize>,

    /// As many inputs per job as fit on one command line; the word around {} is
    /// repeated for each (context replace).
    #[arg(short = 'X', conflicts_with = "m")]
    pub context_replace: bool,

    /// As many inputs per job as fit on one command line; {} becomes all of them.
    #[arg(short = 'm')]
    pub m: bool,

    /// Use STR instead of {} as the replacement string.
    #[arg(short = 'I', value_name = "STR")]
    pub replace: Option<OsString>,

    /// Split stdin into blocks and give each block to a job on its stdin.
    ///
    /// Blocks are cut only where a record ends (--recend, --recstart); -N N
    /// gives N records per job instead; --header N repeats the first N lines
    /// on every block. GNU parallel's blocks, byte for byte.
    #[arg(
        long = "pipe",
        visible_alias = "spreadstdin",
        help_heading = "Pipe mode"
    )]
    pub pipe: bool,

    /// Like --pipe, but split the -a FILE(s) in place: each job reads its own part.
    #[arg(
        long = "pipe-part",
        visible_alias = "pipepart",
        help_heading = "Pipe mode"
    )]
    pub pipe_part: bool,

    /// With --pipe: bytes per block (default 1M; K M G = powers of 1024, k m g of 1000).
    ///
    /// With --pipe-part, -N splits each file into N parts per job slot (the
    /// default is -10).
    #[arg(
        long = "block",
        visible_alias = "block-size",
        value_name = "SIZE",
        allow_hyphen_values = true,
        help_heading = "Pipe mode"
    )]
    pub block: Option<String>,

    /// With --pipe or --pipe-part: write each block to a temporary file named by {}
    /// (removed after the job) instead of to the job's stdin.
    #[arg(long = "cat", help_heading = "Pipe mode")]
    pub cat: bool,

    /// With --pipe or --pipe-part: give each block through a named pipe named by {}
    /// (the job opens it) instead of its stdin.
    #[arg(long = "fifo", help_heading = "Pipe mode")]
    pub fifo: bool,

    /// With --pipe: one long-lived job per slot, each fed block after block
    /// (the header once); blocks go to whichever job is ready.
    #[arg(
        long = "round-robin",
        visible_alias = "round",
        help_heading = "Pipe mode"
    )]
    pub round_robin: bool,

    /// With --pipe: the string that ends a record (default \n; \n \t \r \0 escapes).
    #[arg(long = "recend", value_name = "STR", help_heading = "Pipe mode")]
    pub recend: Option<String>,

    /// With --pipe: the string that starts a record (default none).
    #[arg(long = "recstart", value_name = "STR", help_heading = "Pipe mode")]
    pub recstart: Option<String>,

    /// With --pipe: --recend and --recstart are regular expressions.
    ///
    /// Perl-like syntax matched on bytes, as GNU parallel does: in --pipe, ^
    /// and $ match at every line; in --pipe-part, . matches a newline too.
    /// No look-around or backreferences. Example: --regexp --recstart '^>'.
    #[arg(long = "regexp", visible_alias = "regex", help_heading = "Pipe mode")]
    pub regexp: bool,

    /// With --pipe: a header put before every block: the first N lines (':' for one),
    /// or what REGEX matches at the start of the input. Without: the first
    /// input names the columns ({name}).
    ///
    /// A regular expression is tried after each --block bytes read, as in GNU
    /// parallel; '.' does not match a newline. Example: --header '(#.*\n)*'.
    /// Without --pipe (any value, usually ':'): the first input of each
    /// source names its columns, {name} in the command (split at tabs
    /// unless --colsep).
    #[arg(long = "header", value_name = "N|REGEX", help_heading = "Pipe mode")]
    pub header: Option<String>,

    /// Print each job's output in input order (other jobs keep running meanwhile).
    #[arg(short = 'k', long = "keep-order")]
    pub keep_order: bool,

    /// Run the jobs in a random order.
    ///
    /// Every input is read (and held in memory) before the first job starts;
    /// {#} numbers the jobs in the order they run.
    #[arg(long = "shuf")]
    pub shuf: bool,

    /// Jobs write straight to parx's stdout and stderr (output may mix).
    #[arg(short = 'u', long = "ungroup", conflicts_with_all = ["group", "line_buffer"])]
    pub ungroup: bool,

    /// Print each job's stdout, then its stderr, whole when it ends (default).
    #[arg(long = "group", conflicts_with = "line_buffer")]
    pub group: bool,

    /// Print output line by line as jobs produce it; lines are never split or mixed.
    #[arg(long = "line-buffer", visible_alias = "lb")]
    pub line_buffer: bool,

    /// Prefix each output line with the job's inputs and a tab.
    #[arg(long = "tag")]
    pub tag: bool,

    /// Prefix each output line with STR (replacement strings allowed) and a tab.
    #[arg(long = "tagstring", value_name = "STR")]
    pub tagstring: Option<OsString>,

    /// Directory for spilled output (default: $TMPDIR, then /tmp).
    #[arg(long = "tmpdir", value_name = "DIR")]
    pub tmpdir: Option<PathBuf>,

    /// Quote the command words too, so the shell sees them literally.
    #[arg(short = 'q', long = "quote")]
    pub quote: bool,

    /// Run jobs on these hosts over ssh: [N/]HOST[,...] (N job slots; ':' is this machine).
    ///
    /// One ControlMaster connection per host, closed at exit; each job is a
    /// session on it. Without N/, a host gets -j slots, or one per CPU.
    #[arg(
        short = 'S',
        long = "sshlogin",
        value_name = "[N/]HOST",
        help_heading = "Remote hosts"
    )]
    pub sshlogin: Vec<String>,

    /// Read -S hosts from FILE, one [N/]HOST per line (# comments).
    ///
    /// FILE is looked at once a second while jobs run; when it changed,
    /// hosts added start taking jobs and hosts taken away finish their
    /// running jobs and take no new ones (as GNU parallel).
    #[arg(
        long = "slf",
        visible_alias = "sshloginfile",
        value_name = "FILE",
        help_heading = "Remote hosts"
    )]
    pub sshloginfile: Option<PathBuf>,

    /// With -S: copy FILE (replacement strings allowed) to the host before the job (rsync).
    #[arg(
        long = "transferfile",
        visible_alias = "tf",
        value_name = "FILE",
        help_heading = "Remote hosts"
    )]
    pub transferfile: Vec<OsString>,

    /// With -S: copy the input file ({}) to the host first; --transferfile {}.
    #[arg(long = "transfer", help_heading = "Remote hosts")]
    pub transfer: bool,

    /// With -S: copy FILE back from the host after the job (replacement strings allowed).
    #[arg(long = "return", value_name = "FILE", help_heading = "Remote hosts")]
    pub return_files: Vec<OsString>,

    /// With -S: remove the transferred and returned files on the host after the job.
    #[arg(long = "cleanup", help_heading = "Remote hosts")]
    pub cleanup: bool,

    /// With -S: --transfer --return FILE --cleanup.
    #[arg(long = "trc", value_name = "FILE", help_heading = "Remote hosts")]
    pub trc: Vec<OsString>,

    /// With -S: copy FILE to every host once, before its first job.
    #[arg(
        long = "basefile",
        visible_alias = "bf",
        value_name = "FILE",
        help_heading = "Remote hosts"
    )]
    pub basefile: Vec<OsString>,

    /// With -S: run jobs in DIR on the host (created if missing; '...': a
    /// temporary directory per job, removed after it).
    #[arg(
        long = "workdir",
        visible_alias = "wd",
        value_name = "DIR",
        help_heading = "Remote hosts"
    )]
    pub workdir: Option<OsString>,

    /// With -S: pass the environment variable VAR to remote jobs.
    #[arg(long = "env", value_name = "VAR", help_heading = "Remote hosts")]
    pub env: Vec<String>,

    /// Run each job through Slurm's srun: a job step inside an allocation
    /// (-j defaults to its tasks), a Slurm job of its own outside one.
    #[arg(long = "slurm", help_heading = "Slurm")]
    pub slurm: bool,

    /// Like --slurm, but outside an allocation first get one of -j tasks
    /// (salloc, with --slurm-args), and run the jobs as its steps.
    #[arg(long = "slurm-alloc", help_heading = "Slurm")]
    pub slurm_alloc: bool,

    /// With --slurm: more srun options, e.g. '-c4 --mem=2G -p gpu'.
    #[arg(
        long = "slurm-args",
        value_name = "ARGS",
        allow_hyphen_values = true,
        help_heading = "Slurm"
    )]
    pub slurm_args: Option<String>,

    /// The ssh command for -S, with its options (default: $PARX_SSH, then ssh).
    #[arg(long = "ssh", value_name = "CMD", help_heading = "Remote hosts")]
    pub ssh: Option<OsString>,

    /// Shell that runs the command line (default: $PARX_SHELL, then sh).
    #[arg(long = "shell", value_name = "SHELL")]
    pub shell: Option<OsString>,

    /// Print each command (shell-quoted) instead of running it.
    #[arg(long = "dry-run")]
    pub dry_run: bool,

    /// Print each command line quoted for the shell as one word, instead of
    /// running it (with no command: each input quoted).
    #[arg(long = "shellquote", alias = "shell-quote", conflicts_with = "dry_run")]
    pub shell_quote: bool,

    /// Print each command to stderr before running it.
    #[arg(short = 't', long = "verbose")]
    pub verbose: bool,

    /// Print each command on stdout, as the first line of its job's output
    /// (GNU parallel's -v; --verbose/-t print to stderr).
    #[arg(short = 'v')]
    pub show_command: bool,

    /// Run the jobs (and parx) at niceness +N, as 'nice -n N' does.
    #[arg(long = "nice", value_name = "N", allow_hyphen_values = true)]
    pub nice: Option<i32>,

    /// GNU parallel options that change nothing in parx: --will-cite and
    /// --no-notice (no citation notice), --plain and --gnu (no profiles, no
    /// other modes), -M/--controlmaster (always used with -S), --silent (the
    /// default).
    #[arg(
        long = "will-cite",
        aliases = ["no-notice", "plain", "gnu", "controlmaster", "silent"],
        short_alias = 'M',
        action = clap::ArgAction::Count,
        hide = true
    )]
    pub no_op: u8,

    /// Kill a job still running after DURATION.
    ///
    /// 30, 2.5s, 5m, 1h, or N% of the median runtime of the jobs that
    /// succeeded so far: its process group gets the --termseq sequence and
    /// the job counts as failed.
    #[arg(long = "timeout", value_name = "DURATION")]
    pub timeout: Option<String>,

    /// Signals and waits (ms) that stop a job.
    ///
    /// Used on Ctrl-C, SIGTERM, --timeout and --halt now. Default:
    /// TERM,200,TERM,100,TERM,50,KILL,25.
    #[arg(long = "termseq", alias = "term-seq", value_name = "SEQ")]
    pub termseq: Option<String>,

    /// Run a failed job up to N times in all.
    ///
    /// It counts as failed only after the last attempt, whose output alone
    /// is printed.
    #[arg(long = "retries", value_name = "N")]
    pub retries: Option<u32>,

    /// Stop after failures or successes: now|soon,fail|success|done=N or N%.
    ///
    /// 'now' terminates the running jobs (not logged, so --resume runs them
    /// again), 'soon' lets them finish; nothing new starts either way. N% is a percentage of all the jobs: every
    /// input is read before the first job starts (unless --total-jobs), and
    /// the exit status is the percentage of jobs that failed. 1 =
    /// soon,fail=1, 2 = now,fail=1, -1 = soon,success=1, -2 =
    /// now,success=1, N% = soon,fail=N%.
    #[arg(
        long = "halt",
        visible_alias = "halt-on-error",
        value_name = "HOW",
        allow_hyphen_values = true
    )]
    pub halt: Option<String>,

    /// Start jobs only while fewer than N processes are runnable.
    ///
    /// N is counted in the kernel's run queue; N% means that share of the CPUs.
    #[arg(long = "load", value_name = "N")]
    pub load: Option<String>,

    /// Start jobs only while SIZE of memory is available.
    ///
    /// SIZE in bytes or with K, M, G, T. Below half of SIZE the youngest
    /// job is terminated (--termseq) and counts as failed; --retries runs it
    /// again later. Available memory is MemAvailable, or less under a memory
    /// cgroup's limit.
    #[arg(long = "memfree", value_name = "SIZE")]
    pub memfree: Option<String>,

    /// Wait DURATION between job starts (in input order, unless --load or --memfree holds jobs back).
    #[arg(long = "delay", value_name = "DURATION")]
    pub delay: Option<String>,

    /// Show progress on stderr (only on a terminal).
    ///
    /// A bar with an ETA when the total is known (all inputs are ::: arguments,
    /// or --total-jobs), a count otherwise. --progress and --eta do the same.
    #[arg(long = "bar", visible_aliases = ["progress", "eta"])]
    pub bar: bool,

    /// The number of jobs, for --bar and --halt N%.
    ///
    /// parx never reads its input ahead to count it for --bar; give the
    /// total when the inputs come from stdin or files. With it, --halt N%
    /// does not read every input first.
    #[arg(long = "total-jobs", alias = "total", value_name = "N")]
    pub total_jobs: Option<u64>,

    /// Save each job's output in DIR or FILE instead of printing it.
    ///
    /// DIR/1/<value 1>/2/<value 2>/{seq,stdout,stderr}, GNU parallel's layout;
    /// or one record per job in FILE.csv, FILE.tsv or FILE.json (-.csv etc.:
    /// on stdout), with the job log's columns, the values and the output.
    #[arg(
        long = "results",
        visible_alias = "res",
        value_name = "DIR|FILE",
        allow_hyphen_values = true
    )]
    pub results: Option<PathBuf>,

    /// Log each finished job to FILE (+FILE appends, - is stdout).
    ///
    /// Tab-separated as GNU parallel: Seq Host Starttime JobRuntime Send
    /// Receive Exitval Signal Command.
    #[arg(long = "joblog", alias = "jl", value_name = "FILE")]
    pub joblog: Option<OsString>,

    /// With --joblog: skip the jobs the log shows as finished.
    #[arg(long = "resume", requires = "joblog", conflicts_with = "resume_failed")]
    pub resume: bool,

    /// With --joblog: skip the jobs the log shows as succeeded.
    ///
    /// The failed and the missing ones run again.
    #[arg(long = "resume-failed", requires = "joblog")]
    pub resume_failed: bool,

    /// With --joblog: run again the jobs the log shows as failed, with the
    /// commands it recorded.
    ///
    /// The command and inputs given are not used then: each job runs its
    /// logged command line, under its logged number, and the log is
    /// appended to. Without the log file yet, it is an ordinary first run.
    #[arg(
        long = "retry-failed",
        visible_alias = "retryfailed",
        requires = "joblog"
    )]
    pub retry_failed: bool,

    /// Print a shell completion script and exit.
    ///
    /// bash, zsh, fish, elvish or powershell, e.g.
    /// 'parx --completions bash > /etc/bash_completion.d/parx'.
    #[arg(long = "completions", value_name = "SHELL", exclusive = true)]
    pub completions: Option<clap_complete::Shell>,

    /// Print the number of physical CPU cores of this machine and exit
    /// (--number-of-cpus is the same, as in GNU parallel).
    #[arg(long = "number-of-cores", alias = "number-of-cpus", exclusive = true)]
    pub number_of_cores: bool,

    /// Print the number of hardware threads (logical CPUs) and exit.
    #[arg(long = "number-of-threads", exclusive = true)]
    pub number_of_threads: bool,

    /// Print the number of CPU sockets and exit.
    #[arg(long = "number-of-sockets", exclusive = true)]
    pub number_of_sockets: bool,

    /// The command, then input sources (::: ARGS, :::: FILES).
    ///
    /// '::: ARG...' (arguments), ':::: FILE...' (lines of files, '-' for
    /// stdin); ':::+' and '::::+' link a source to the one before it.
    #[arg(
        value_name = "COMMAND",
        trailing_var_arg = true,
        num_args = 0..
    )]
    pub command: Vec<OsString>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn clap_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn command_keeps_its_own_flags() {
        let cli = Cli::try_parse_from(["parx", "-j2", "grep", "-v", "x", ":::", "-a"]).unwrap();
        assert_eq!(cli.jobs.as_deref(), Some("2"));
        assert_eq!(cli.command, ["grep", "-v", "x", ":::", "-a"]);
        assert!(cli.arg_file.is_empty());
    }

    #[test]
    fn relative_jobs_take_a_sign() {
        let cli = Cli::try_parse_from(["parx", "-j", "-1", "true"]).unwrap();
        assert_eq!(cli.jobs.as_deref(), Some("-1"));
        let cli = Cli::try_parse_from(["parx", "-j+2", "true"]).unwrap();
        assert_eq!(cli.jobs.as_deref(), Some("+2"));
    }
}
