//! `-S host`: jobs run on other machines through OpenSSH.
//!
//! parx opens one ControlMaster connection per host (its socket in a
//! private temporary directory) and runs each job as a multiplexed session
//! on it, so a job costs a channel rather than a login; the masters are
//! closed when parx ends. Any ssh command works (`--ssh 'ssh -F cfg'`),
//! since the connection sharing is asked for with `-o` options rather than
//! GNU parallel's `-M` machinery.
//!
//! On the remote side each job runs under a small POSIX sh wrapper: the
//! command line (every value quoted) runs in a session of its own (when
//! `setsid` exists), and the wrapper watches the ssh channel's stdin, which
//! parx keeps open for the job's life: when the channel closes (parx was
//! interrupted, the job timed out, the connection dropped) it terminates
//! the job's whole process group. So Ctrl-C leaves nothing running on the
//! remote host either. A `--pipe` block comes first on that stdin, its
//! length given on the command line; the wrapper takes it off before it
//! starts watching.
//!
//! `--slf`: the hosts can change while jobs run ([`Remote::update`]);
//! each job slot belongs to one host, and a slot whose host was taken away
//! takes no new job until a host added later gets it.

use std::ffi::OsString;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use crate::signal::Control;

use crate::template::quote;

/// One `-S` entry: `[N/]HOST`, `:` being this machine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoginSpec {
    /// The ssh destination (`user@host`, an alias), or `:`.
    pub host: String,
    /// `N/`: job slots on this host.
    pub slots: Option<usize>,
}

/// Parses `-S` values: comma-separated `[N/]HOST` entries.
pub fn parse_logins(text: &str) -> Result<Vec<LoginSpec>, String> {
    let mut out = Vec::new();
    for entry in text.split(',').map(str::trim).filter(|e| !e.is_empty()) {
        let (slots, host) = match entry.split_once('/') {
            Some((n, host)) if !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()) => {
                let n: usize = n
                    .parse()
                    .map_err(|_| format!("-S '{entry}': bad number of job slots"))?;
                if n == 0 {
                    return Err(format!("-S '{entry}': a host needs at least 1 job slot"));
                }
                (Some(n), host.to_string())
            }
            _ => (None, entry.to_string()),
        };
        if host.is_empty() {
            return Err(format!("-S '{entry}': no host"));
        }
        // ssh would read it as an option.
        if host.starts_with('-') {
            return Err(format!("-S '{entry}': a host name cannot start with '-'"));
        }
        out.push(LoginSpec { host, slots });
    }
    Ok(out)
}

/// Files moved around remote jobs, and where they run (`--transferfile`,
/// `--return`, `--cleanup`, `--basefile`, `--workdir`, `--env`).
#[derive(Debug, Clone, Default)]
pub struct Staging {
    /// Copied to the host before each job (templates: `{}` etc.).
    pub transfer: Vec<crate::template::Template>,
    /// Copied back after each job.
    pub returns: Vec<crate::template::Template>,
    /// Remove both on the host after the job.
    pub cleanup: bool,
    /// Copied to each host once, before its first job.
    pub basefiles: Vec<PathBuf>,
    /// Where jobs run on the host (default: the login directory).
    pub workdir: Option<Workdir>,
    /// Environment variables passed on.
    pub env: Vec<String>,
}

/// `--workdir`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Workdir {
    /// This directory (relative to the login directory unless absolute).
    Dir(Vec<u8>),
    /// `...`: a fresh directory per job, removed after it.
    PerJob,
}

impl Staging {
    /// True when no option asks for any of this.
    pub fn is_empty(&self) -> bool {
        self.transfer.is_empty()
            && self.returns.is_empty()
            && !self.cleanup
            && self.basefiles.is_empty()
            && self.workdir.is_none()
            && self.env.is_empty()
    }

    /// The job's directory on the host, for job `seq`.
    pub fn dir_for(&self, seq: u64) -> Option<Vec<u8>> {
        match &self.workdir {
            None => None,
            Some(Workdir::Dir(d)) => Some(d.clone()),
            Some(Workdir::PerJob) => {
                Some(format!(".parx-tmp/{}-{}", std::process::id(), seq).into_bytes())
            }
        }
    }

    /// What goes before a remote job's command line: `export VAR=value`
    /// for `--env`, and `cd` into its directory.
    pub fn prelude(&self, dir: Option<&[u8]>) -> Vec<u8> {
        let mut out = Vec::new();
        for name in &self.env {
            if let Some(value) = std::env::var_os(name) {
                out.extend_from_slice(b"export ");
                out.extend_from_slice(name.as_bytes());
                out.push(b'=');
                out.extend(quote(value.as_encoded_bytes()));
                out.extend_from_slice(b"; ");
            }
        }
        if let Some(dir) = dir {
            out.extend_from_slice(b"mkdir -p ");
            out.extend(quote(dir));
            out.extend_from_slice(b" && cd ");
            out.extend(quote(dir));
            out.extend_from_slice(b" && ");
        }
        out
    }
}

/// A host jobs can run on.
#[derive(Debug)]
pub struct Host {
    /// As given to `-S` (`:` for this machine).
    pub name: String,
    /// The ControlMaster socket (None for this machine).
    control: Option<PathBuf>,
    /// Its connection was lost during the run: its slots use other hosts.
    down: AtomicBool,
}

impl Host {
    /// True for `:`, this machine.
    pub fn is_local(&self) -> bool {
        self.control.is_none()
    }

    /// True once its connection was lost.
    pub fn is_down(&self) -> bool {
        self.down.load(Ordering::Acquire)
    }
}

/// `--slf FILE`: the hosts in FILE, read again whenever it changes, and
/// the `-S` hosts, which stay whatever the file says.
#[derive(Debug, Clone)]
pub struct LoginFile {
    /// The file.
    pub path: PathBuf,
    /// `-S` hosts.
    pub fixed: Vec<LoginSpec>,
    /// The file's [`LoginFile::fingerprint`] when it was last read.
    pub seen: Option<Fingerprint>,
}

/// What tells that a file changed: its device and inode (a new file moved
/// in its place), size and modification time.
pub type Fingerprint = (u64, u64, u64, std::time::SystemTime);

impl LoginFile {
    /// The `-S` hosts, then those in the file now; remembers the file's
    /// fingerprint (taken first: a change while it is read shows next time).
    pub fn read(&mut self) -> Result<Vec<LoginSpec>, String> {
        self.seen = self.fingerprint();
        let text = std::fs::read_to_string(&self.path)
            .map_err(|e| format!("--slf {}: {e}", self.path.display()))?;
        let mut logins = self.fixed.clone();
        logins.extend(
            parse_login_lines(&text).map_err(|e| format!("--slf {}: {e}", self.path.display()))?,
        );
        Ok(logins)
    }

    /// The file's fingerprint now (None while it cannot be looked at).
    pub fn fingerprint(&self) -> Option<Fingerprint> {
        use std::os::unix::fs::MetadataExt;
        let meta = std::fs::metadata(&self.path).ok()?;
        Some((meta.dev(), meta.ino(), meta.len(), meta.modified().ok()?))
    }
}

/// An `--slf` file's lines: one or more `[N/]HOST` a line, `#` comments.
pub fn parse_login_lines(text: &str) -> Result<Vec<LoginSpec>, String> {
    let mut logins = Vec::new();
    for line in text.lines().map(str::trim) {
        if !line.is_empty() && !line.starts_with('#') {
            logins.extend(parse_logins(line)?);
        }
    }
    Ok(logins)
}

/// The connections of one run; closed when dropped.
#[derive(Debug)]
pub struct Remote {
    ssh: Vec<OsString>,
    /// The hosts and which job slot runs on which; an `--slf` re-read
    /// changes it while jobs run.
    layout: Mutex<Layout>,
    /// `-j`, for a host without `N/`.
    default_slots: Option<usize>,
    /// The run is over: a connection still being made is given up.
    closing: AtomicBool,
    /// Slots for `:` without `N/` and `-j`.
    local_cpus: usize,
    /// ControlPath sockets made so far (their names).
    sockets: AtomicUsize,
    dir: tempfile::TempDir,
}

/// Which host each job slot belongs to.
#[derive(Debug, Default)]
struct Layout {
    /// Every host connected during the run: those listed now, and those an
    /// `--slf` re-read took away (still connected while their last jobs
    /// run, and closed at the end).
    hosts: Vec<Entry>,
    /// Slot → index in `hosts`; None for a slot whose host was taken away
    /// (it takes no new job until a host added later gets it).
    slot_host: Vec<Option<usize>>,
    /// Slots running a job now: a host added later gets idle free slots
    /// first, so that it does not wait for a job of the host it replaces.
    busy: Vec<bool>,
}

#[derive(Debug)]
struct Entry {
    host: Arc<Host>,
    /// Listed by `-S`/`--slf` now.
    listed: bool,
    /// Its job slots when listed without `N/` and without `-j`: its CPUs,
    /// asked the first time that is needed.
    natural_slots: Option<usize>,
}

impl Layout {
    /// Indexes of listed hosts that are up.
    fn up(&self) -> Vec<usize> {
        (0..self.hosts.len())
            .filter(|&i| self.hosts[i].listed && !self.hosts[i].host.is_down())
            .collect()
    }

    /// Gives the listed hosts `wanted[i]` slots each (others none): a host
    /// keeps the slots it has, gives up its highest ones, or takes free
    /// idle slots (lowest first) and then new ones.
    fn assign(&mut self, wanted: &[usize]) {
        for owner in &mut self.slot_host {
            if owner.is_some_and(|i| !self.hosts[i].listed) {
                *owner = None;
            }
        }
        for (i, &want) in wanted.iter().enumerate() {
            if !self.hosts[i].listed {
                continue;
            }
            let mut have = self.slot_host.iter().filter(|&&o| o == Some(i)).count();
            while have > want {
                let last = self
                    .slot_host
                    .iter()
                    .rposition(|&o| o == Some(i))
                    .expect("counted");
                self.slot_host[last] = None;
                have -= 1;
            }
            while have < want {
                let free = (0..self.slot_host.len())
                    .find(|&s| {
                        self.slot_host[s].is_none() && !self.busy.get(s).copied().unwrap_or(false)
                    })
                    .unwrap_or_else(|| {
                        self.slot_host.push(None);
                        self.slot_host.len() - 1
                    });
                self.slot_host[free] = Some(i);
                have += 1;
            }
        }
        // Free slots at the end that are idle go away.
        while self.slot_host.last() == Some(&None)
            && !self
                .busy
                .get(self.slot_host.len() - 1)
                .copied()
                .unwrap_or(false)
        {
            self.slot_host.pop();
        }
    }
}

/// Marks a job slot busy while a job runs in it (see [`Remote::occupy`]).
pub struct Occupied<'a> {
    remote: &'a Remote,
    slot: usize,
}

impl Drop for Occupied<'_> {
    fn drop(&mut self) {
        let mut layout = self.remote.lock();
        if let Some(busy) = layout.busy.get_mut(self.slot) {
            *busy = false;
        }
    }
}

/// The remote side of every job: `$1` is the command line, `$2`/`$3` the
/// job's sequence number and slot, `$4` (`--pipe`) the size of the block
/// that comes first on the channel's stdin, or empty.
///
/// The job must not read the channel itself: parx holds the channel's stdin
/// open, writing nothing (more), for as long as the job runs, and a watcher
/// reads it (through fd 3: sh gives background commands /dev/null as
/// stdin) until it closes (parx was interrupted, the job timed out, the
/// connection dropped), then terminates the job's group (or the job,
/// without setsid). So the job's stdin is /dev/null, or for `--pipe` a
/// pipe from `cat` that gives it its block: the block is first copied from
/// the channel into a temporary file, unlinked once open (a pipe, not the
/// file, so that the job sees the same stdin as a local `--pipe` job). A
/// block cut short (the channel closed while it came) runs nothing.
///
/// `wait` reports a job killed by a signal as 128 + the signal, as GNU
/// parallel's remote wrapper does. Shells' own messages go nowhere (dash
/// would add "Killed" to the job's stderr); the job's stderr is fd 5.
const WRAPPER: &str = "export PARX_SEQ=\"$2\" PARX_SLOT=\"$3\" PARALLEL_SEQ=\"$2\" PARALLEL_JOBSLOT=\"$3\"; \
exec 3<&0; \
if [ -n \"$4\" ]; then \
f=$(mktemp \"${TMPDIR:-/tmp}/parx-block.XXXXXX\") || exit 255; \
head -c \"$4\" <&3 >\"$f\"; \
if [ \"$(($(wc -c <\"$f\")))\" -ne \"$4\" ]; then rm -f \"$f\"; exit 255; fi; \
exec 4<\"$f\"; rm -f \"$f\"; \
j='exec 5>&2 2>/dev/null; cat <&4 | sh -c \"$1\" 4<&- 2>&5 5>&-'; \
else exec 4</dev/null; j='exec sh -c \"$1\" <&4 4<&-'; fi; \
if command -v setsid >/dev/null 2>&1; then setsid sh -c \"$j\" parx \"$1\" 3<&- & \
else sh -c \"$j\" parx \"$1\" 3<&- & fi; \
p=$!; exec 4<&-; \
{ while read -r _ <&3; do :; done; kill -TERM -\"$p\" 2>/dev/null || kill -TERM \"$p\" 2>/dev/null; } 2>/dev/null & \
w=$!; exec 3<&-; wait \"$p\" 2>/dev/null; s=$?; kill \"$w\" 2>/dev/null; exit \"$s\"";

impl Remote {
    /// Connects to every host of `logins` with `ssh` (the command and its
    /// options). A host without `N/` gets `default_slots` (an explicit
    /// `-j`), or as many slots as it has CPUs.
    pub fn connect(
        logins: &[LoginSpec],
        ssh: Vec<OsString>,
        default_slots: Option<usize>,
        local_cpus: usize,
        control: &Control,
    ) -> Result<Self, String> {
        let dir = tempfile::Builder::new()
            .prefix("parx-ssh")
            .tempdir()
            .map_err(|e| format!("cannot make a directory for ssh connections: {e}"))?;
        let remote = Remote {
            ssh,
            layout: Mutex::new(Layout::default()),
            default_slots,
            closing: AtomicBool::new(false),
            local_cpus,
            sockets: AtomicUsize::new(0),
            dir,
        };
        let unreachable = remote.update(logins, control, |_| Ok(()))?;
        for why in &unreachable {
            eprintln!("parx: warning: {why}; its jobs run on the other hosts");
        }
        Ok(remote)
    }

    /// The run is over: a connection an `--slf` re-read is still making
    /// is given up (and closed), so that parx need not wait for it.
    pub fn stop_connecting(&self) {
        self.closing.store(true, Ordering::Release);
    }

    fn is_closing(&self) -> bool {
        self.closing.load(Ordering::Acquire)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Layout> {
        self.layout.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Makes `logins` the hosts jobs start on: hosts already connected stay
    /// (with their slots, or as many as `N/` now says), new ones are
    /// connected (and given to `prepare`, which copies `--basefile`s),
    /// hosts no longer listed take no new jobs (their running jobs go on).
    /// Returns why the hosts that could not be reached were left out, or,
    /// when no host at all could be, an error (and nothing changes).
    pub fn update(
        &self,
        logins: &[LoginSpec],
        control: &Control,
        prepare: impl Fn(&Host) -> Result<(), String>,
    ) -> Result<Vec<String>, String> {
        // Which listed hosts are already connected; the rest are new. A
        // host connected with N/ and now listed without it has its CPUs
        // counted.
        let mut reuse: Vec<Option<usize>> = Vec::with_capacity(logins.len());
        let mut uncounted = Vec::new();
        {
            let layout = self.lock();
            let mut taken = vec![false; layout.hosts.len()];
            for login in logins {
                let found = (0..layout.hosts.len()).find(|&i| {
                    !taken[i]
                        && layout.hosts[i].host.name == login.host
                        && !layout.hosts[i].host.is_down()
                });
                if let Some(i) = found {
                    taken[i] = true;
                    if login.slots.or(self.default_slots).is_none()
                        && layout.hosts[i].natural_slots.is_none()
                    {
                        uncounted.push((i, Arc::clone(&layout.hosts[i].host)));
                    }
                }
                reuse.push(found);
            }
        }
        // Connecting takes a while: not under the lock, which every job
        // start takes.
        let counted: Vec<(usize, usize)> = uncounted
            .into_iter()
            .map(|(i, host)| (i, self.probe_cpus(&host).unwrap_or(1)))
            .collect();
        let mut unreachable = Vec::new();
        let mut fresh: Vec<Option<Entry>> = Vec::with_capacity(logins.len());
        for (login, reused) in logins.iter().zip(&reuse) {
            if reused.is_some() {
                fresh.push(None);
                continue;
            }
            match self.open(login, control) {
                Ok(entry) => match prepare(&entry.host) {
                    Ok(()) => fresh.push(Some(entry)),
                    Err(why) => {
                        self.close(&entry.host);
                        unreachable.push(format!("{}: {why}", login.host));
                        fresh.push(None);
                    }
                },
                Err(why) => {
                    if control.is_stopping() || self.is_closing() {
                        // Those made so far are closed; parx ends.
                        for entry in fresh.iter().flatten() {
                            self.close(&entry.host);
                        }
                        return Err(why);
                    }
                    unreachable.push(why);
                    fresh.push(None);
                }
            }
        }
        if reuse.iter().all(Option::is_none) && fresh.iter().all(Option::is_none) {
            return Err(if unreachable.is_empty() {
                "no host to run jobs on".into()
            } else {
                unreachable.join("; ")
            });
        }
        let mut layout = self.lock();
        for entry in &mut layout.hosts {
            entry.listed = false;
        }
        for (i, cpus) in counted {
            layout.hosts[i].natural_slots = Some(cpus);
        }
        let mut wanted = vec![0; layout.hosts.len()];
        for ((login, reused), entry) in logins.iter().zip(reuse).zip(fresh) {
            let i = match (reused, entry) {
                (Some(i), _) => i,
                (None, Some(entry)) => {
                    layout.hosts.push(entry);
                    wanted.push(0);
                    layout.hosts.len() - 1
                }
                (None, None) => continue,
            };
            layout.hosts[i].listed = true;
            wanted[i] = login
                .slots
                .or(self.default_slots)
                .or(layout.hosts[i].natural_slots)
                .unwrap_or(1);
        }
        layout.assign(&wanted);
        Ok(unreachable)
    }

    /// Connects to the host of `login` (nothing to do for `:`).
    fn open(&self, login: &LoginSpec, control: &Control) -> Result<Entry, String> {
        if login.host == ":" {
            return Ok(Entry {
                host: Arc::new(Host {
                    name: ":".into(),
                    control: None,
                    down: AtomicBool::new(false),
                }),
                listed: false,
                natural_slots: Some(self.local_cpus),
            });
        }
        let n = self.sockets.fetch_add(1, Ordering::Relaxed);
        let socket = self.dir.path().join(format!("h{n}"));
        self.start_master(&login.host, &socket, control)?;
        let host = Host {
            name: login.host.clone(),
            control: Some(socket),
            down: AtomicBool::new(false),
        };
        // Only asked when it will be used.
        let natural_slots = match login.slots.or(self.default_slots) {
            Some(_) => None,
            None => Some(self.probe_cpus(&host).unwrap_or(1)),
        };
        Ok(Entry {
            host: Arc::new(host),
            listed: false,
            natural_slots,
        })
    }

    /// Closes `host`'s connection.
    fn close(&self, host: &Host) {
        if let Some(control) = &host.control {
            self.ask_master(host, control, "exit");
        }
    }

    /// `--slf`: reads `file` again when it changed since it was last read,
    /// and makes its hosts (and the `-S` ones) those jobs start on from now
    /// on. New hosts get `basefiles` (into `dir`) first. Returns None when
    /// the file did not change, else warnings: hosts that could not be
    /// reached, or why nothing changed.
    pub fn reread(
        &self,
        file: &mut LoginFile,
        control: &Control,
        basefiles: &[PathBuf],
        dir: Option<&[u8]>,
    ) -> Option<Vec<String>> {
        let now = file.fingerprint();
        if now.is_none() || now == file.seen {
            return None;
        }
        let name = file.path.display().to_string();
        let logins = match file.read() {
            Ok(logins) if logins.is_empty() => {
                return Some(vec![format!(
                    "--slf {name} names no host; the hosts stay as they were"
                )]);
            }
            Ok(logins) => logins,
            Err(why) => return Some(vec![format!("{why}; the hosts stay as they were")]),
        };
        let files: Vec<Vec<u8>> = basefiles
            .iter()
            .map(|f| f.as_os_str().as_encoded_bytes().to_vec())
            .collect();
        let prepare = |host: &Host| match host.is_local() {
            true => Ok(()),
            false => self
                .send(host, &files, dir)
                .map_err(|e| format!("--basefile: {e}")),
        };
        Some(match self.update(&logins, control, prepare) {
            Ok(unreachable) => unreachable
                .into_iter()
                .map(|why| format!("{why}; its jobs run on the other hosts"))
                .collect(),
            Err(why) => vec![format!("--slf {name}: {why}; the hosts stay as they were")],
        })
    }

    /// Job slots on all hosts together (the highest slot number, when an
    /// `--slf` re-read left gaps).
    pub fn slots(&self) -> usize {
        self.lock().slot_host.len()
    }

    /// Whether job slot `slot` may take a new job: false for a slot whose
    /// host an `--slf` re-read took away.
    pub fn is_open(&self, slot: usize) -> bool {
        let layout = self.lock();
        layout.slot_host.get(slot).map_or(true, Option::is_some)
    }

    /// Marks `slot` busy until the returned guard is dropped.
    pub fn occupy(&self, slot: usize) -> Occupied<'_> {
        let mut layout = self.lock();
        if layout.busy.len() <= slot {
            layout.busy.resize(slot + 1, false);
        }
        layout.busy[slot] = true;
        Occupied { remote: self, slot }
    }

    /// The host of job slot `slot` (from 0): its own host, or while that
    /// one is down (or no longer listed), the next listed host that is up
    /// (the same one for every job of the slot, so the work of a lost host
    /// spreads over the others as its slots are spread over them). Slots
    /// added with SIGUSR1 take the hosts of the others in turn.
    pub fn host_of(&self, slot: usize) -> Arc<Host> {
        let layout = self.lock();
        let own = match layout.slot_host.len() {
            0 => None,
            n => layout.slot_host[slot % n],
        };
        if let Some(i) = own.filter(|&i| layout.hosts[i].listed && !layout.hosts[i].host.is_down())
        {
            return Arc::clone(&layout.hosts[i].host);
        }
        let up = layout.up();
        let i = match up.len() {
            0 => own
                .or_else(|| layout.hosts.iter().position(|e| e.listed))
                .unwrap_or(0),
            n => up[slot % n],
        };
        Arc::clone(&layout.hosts[i].host)
    }

    /// After a job on `host` failed as ssh fails (status 255): whether the
    /// host's connection is gone (`ssh -O check`). Returns true only for
    /// the first caller to find it gone, which reports it; from then on the
    /// host's slots run their jobs elsewhere.
    pub fn newly_lost(&self, host: &Host) -> bool {
        let Some(control) = host.control.as_ref() else {
            return false;
        };
        if host.is_down() {
            return false;
        }
        !self.ask_master(host, control, "check")
            && host
                .down
                .compare_exchange(false, true, Ordering::AcqRel, Ordering::Acquire)
                .is_ok()
    }

    /// `ssh -O OP`: asks `host`'s master connection to `check` that it is
    /// alive or to `exit`; true when it answered yes.
    fn ask_master(&self, host: &Host, control: &std::path::Path, op: &str) -> bool {
        self.ssh_to(control)
            .args(["-O", op, &host.name])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    }

    fn ssh_to(&self, control: &std::path::Path) -> Command {
        let mut cmd = Command::new(&self.ssh[0]);
        cmd.args(&self.ssh[1..])
            .arg("-o")
            .arg(format!("ControlPath={}", control.display()))
            .arg("-o")
            .arg("ControlMaster=no");
        cmd
    }

    /// Starts `host`'s master connection (ssh goes to the background once
    /// it is up). A stop (Ctrl-C, SIGTERM) while ssh is still connecting
    /// kills it, so a host that never answers cannot hold parx.
    fn start_master(
        &self,
        host: &str,
        socket: &std::path::Path,
        control: &Control,
    ) -> Result<(), String> {
        let mut ssh = Command::new(&self.ssh[0])
            .args(&self.ssh[1..])
            .args(["-o", "ControlMaster=yes", "-o", "ControlPersist=yes", "-o"])
            .arg(format!("ControlPath={}", socket.display()))
            .args(["-o", "BatchMode=yes", "-f", "-N", host])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| format!("cannot run {}: {e}", self.ssh[0].to_string_lossy()))?;
        // Its messages are few; read them on the side so ssh never blocks.
        let mut stderr = ssh.stderr.take().expect("piped");
        let reader = std::thread::spawn(move || {
            let mut text = Vec::new();
            let _ = std::io::Read::read_to_end(&mut stderr, &mut text);
            text
        });
        let status = loop {
            match ssh.try_wait() {
                Ok(Some(status)) => break Some(status),
                Ok(None) if control.is_stopping() || self.is_closing() => {
                    let _ = ssh.kill();
                    let _ = ssh.wait();
                    break None;
                }
                Ok(None) => std::thread::sleep(Duration::from_millis(10)),
                Err(_) => break None,
            }
        };
        let why = reader.join().unwrap_or_default();
        match status {
            Some(status) if status.success() => Ok(()),
            None => Err(format!("connecting to {host} was interrupted")),
            Some(_) => Err(format!(
                "cannot connect to {host}: {}",
                String::from_utf8_lossy(&why)
                    .trim()
                    .lines()
                    .last()
                    .unwrap_or("ssh failed")
            )),
        }
    }

    fn probe_cpus(&self, host: &Host) -> Option<usize> {
        let control = host.control.as_ref()?;
        let out = self
            .ssh_to(control)
            .arg(&host.name)
            .arg("nproc 2>/dev/null || getconf _NPROCESSORS_ONLN 2>/dev/null || echo 1")
            .stdin(Stdio::null())
            .stderr(Stdio::null())
            .output()
            .ok()?;
        String::from_utf8_lossy(&out.stdout).trim().parse().ok()
    }

    /// rsync's `-e`: this run's ssh, through `host`'s connection.
    fn rsync_shell(&self, host: &Host) -> String {
        let control = host.control.as_ref().expect("a remote host");
        let mut words: Vec<String> = self
            .ssh
            .iter()
            .map(|w| w.to_string_lossy().into_owned())
            .collect();
        words.push("-o".into());
        words.push(format!("ControlPath={}", control.display()));
        words.push("-o".into());
        words.push("ControlMaster=no".into());
        shell_words::join(words)
    }

    /// Runs `command` on `host` over its connection; its stderr on failure.
    pub fn run_on(&self, host: &Host, command: &[u8]) -> Result<(), String> {
        let control = host.control.as_ref().expect("a remote host");
        let mut ssh = self.ssh_to(control);
        ssh.arg("-T")
            .arg(&host.name)
            .arg(std::ffi::OsStr::from_bytes(command));
        quietly(&mut ssh)
    }

    fn rsync(&self, host: &Host, args: &[&std::ffi::OsStr]) -> Result<(), String> {
        let mut rsync = Command::new("rsync");
        // -s (--protect-args): names reach the remote rsync as they are, not
        // through the remote shell, which rsync before 3.2.4 did by default
        // (a name with a space, or `$(...)`, was split or run there).
        rsync
            .args(["-rlDzRs", "-e"])
            .arg(self.rsync_shell(host))
            .args(args);
        quietly(&mut rsync)
    }

    /// Copies `files` to `host`, into `dir` (the login directory when None),
    /// keeping relative paths as they are (`a/b.txt` → `DIR/a/b.txt`);
    /// absolute paths land at the same place.
    pub fn send(&self, host: &Host, files: &[Vec<u8>], dir: Option<&[u8]>) -> Result<(), String> {
        if files.is_empty() {
            return Ok(());
        }
        if let Some(dir) = dir {
            let mut mkdir = b"mkdir -p ".to_vec();
            mkdir.extend(quote(dir));
            self.run_on(host, &mkdir)?;
        }
        for file in files {
            let absolute = file.first() == Some(&b'/');
            // Built from bytes: names need not be UTF-8.
            let mut target = format!("{}:", host.name).into_bytes();
            match (absolute, dir) {
                (true, _) => target.push(b'/'),
                (false, Some(d)) => {
                    target.extend_from_slice(d);
                    target.push(b'/');
                }
                (false, None) => {}
            }
            self.rsync(
                host,
                &[
                    std::ffi::OsStr::from_bytes(file),
                    std::ffi::OsStr::from_bytes(&target),
                ],
            )
            .map_err(|e| format!("--transferfile {}: {e}", String::from_utf8_lossy(file)))?;
        }
        Ok(())
    }

    /// Copies `files` back from `host`'s `dir` to the same relative paths
    /// here.
    pub fn fetch(&self, host: &Host, files: &[Vec<u8>], dir: Option<&[u8]>) -> Result<(), String> {
        for file in files {
            let relative = file.strip_prefix(b"./").unwrap_or(file);
            // Built from bytes: names need not be UTF-8.
            let mut source = format!("{}:", host.name).into_bytes();
            match dir {
                _ if relative.first() == Some(&b'/') => {}
                // DIR/./FILE: rsync -R recreates FILE's path below "." here.
                Some(d) => {
                    source.extend_from_slice(d);
                    source.extend_from_slice(b"/./");
                }
                None => source.extend_from_slice(b"./"),
            }
            source.extend_from_slice(relative);
            let dest = if relative.first() == Some(&b'/') {
                "/"
            } else {
                "."
            };
            self.rsync(
                host,
                &[
                    std::ffi::OsStr::from_bytes(&source),
                    std::ffi::OsStr::new(dest),
                ],
            )
            .map_err(|e| format!("--return {}: {e}", String::from_utf8_lossy(file)))?;
        }
        Ok(())
    }

    /// Removes `files` (and, for a per-job directory, the directory) on
    /// `host`, then the directories that held them if that left them empty
    /// (as GNU parallel does), deepest first. Only directories below the
    /// working directory are tried: for an absolute name, that would be
    /// directories such as /tmp, which the transfer did not make.
    pub fn clean(
        &self,
        host: &Host,
        files: &[Vec<u8>],
        dir: Option<&[u8]>,
        whole_dir: bool,
    ) -> Result<(), String> {
        if files.is_empty() && !whole_dir {
            return Ok(());
        }
        let mut command = Vec::new();
        if let Some(dir) = dir {
            command.extend_from_slice(b"cd ");
            command.extend(quote(dir));
            command.extend_from_slice(b" && ");
        }
        command.extend_from_slice(b"rm -f --");
        let mut parents: Vec<&[u8]> = Vec::new();
        for file in files {
            let there = remote_name(file);
            command.push(b' ');
            command.extend(quote(there));
            if there.first() != Some(&b'/') {
                let mut path = there;
                while let Some(end) = path.iter().rposition(|&b| b == b'/') {
                    path = &path[..end];
                    if !path.is_empty() && path != b"." && !parents.contains(&path) {
                        parents.push(path);
                    }
                }
            }
        }
        if !parents.is_empty() {
            // Deepest first; a directory still in use stays (errors ignored).
            parents.sort_by_key(|p| std::cmp::Reverse(p.iter().filter(|&&b| b == b'/').count()));
            command.extend_from_slice(b" && { rmdir --");
            for parent in parents {
                command.push(b' ');
                command.extend(quote(parent));
            }
            command.extend_from_slice(b" 2>/dev/null; true; }");
        }
        if let (true, Some(dir)) = (whole_dir, dir) {
            command.extend_from_slice(b" && cd && rm -rf -- ");
            command.extend(quote(dir));
        }
        self.run_on(host, &command)
    }

    /// `--basefile` with `--cleanup`: removes `files` from every remote host
    /// once the last job has ended, as GNU parallel does.
    pub fn remove_basefiles(&self, files: &[PathBuf], dir: Option<&[u8]>) -> Result<(), String> {
        let files: Vec<Vec<u8>> = files
            .iter()
            .map(|f| f.as_os_str().as_encoded_bytes().to_vec())
            .collect();
        for host in self.remote_hosts(false) {
            self.clean(&host, &files, dir, false)?;
        }
        Ok(())
    }

    /// `--basefile`: copies `files` to every remote host.
    pub fn send_basefiles(&self, files: &[PathBuf], dir: Option<&[u8]>) -> Result<(), String> {
        let files: Vec<Vec<u8>> = files
            .iter()
            .map(|f| f.as_os_str().as_encoded_bytes().to_vec())
            .collect();
        for host in self.remote_hosts(true) {
            self.send(&host, &files, dir)?;
        }
        Ok(())
    }

    /// The remote hosts connected, up, and (`listed`) listed now.
    fn remote_hosts(&self, listed: bool) -> Vec<Arc<Host>> {
        self.lock()
            .hosts
            .iter()
            .filter(|e| (e.listed || !listed) && !e.host.is_local() && !e.host.is_down())
            .map(|e| Arc::clone(&e.host))
            .collect()
    }

    /// The local argv that runs `line` (a shell command line) as job `seq`
    /// in `slot` on `host`; with `block_bytes` (`--pipe`), the job reads
    /// that many bytes, the first ones written to ssh's stdin.
    pub fn job_argv(
        &self,
        host: &Host,
        line: &[u8],
        seq: u64,
        slot: usize,
        block_bytes: Option<u64>,
    ) -> Vec<OsString> {
        let control = host.control.as_ref().expect("a remote host");
        let mut remote = b"sh -c ".to_vec();
        remote.extend(quote(WRAPPER.as_bytes()));
        remote.extend_from_slice(b" parx ");
        remote.extend(quote(line));
        remote.extend_from_slice(format!(" {seq} {}", slot + 1).as_bytes());
        if let Some(bytes) = block_bytes {
            remote.extend_from_slice(format!(" {bytes}").as_bytes());
        }
        let mut argv: Vec<OsString> = self.ssh.clone();
        argv.push("-o".into());
        argv.push(format!("ControlPath={}", control.display()).into());
        argv.push("-o".into());
        argv.push("ControlMaster=no".into());
        argv.push("-T".into());
        argv.push(host.name.clone().into());
        argv.push(std::ffi::OsStr::from_bytes(&remote).to_os_string());
        argv
    }
}

use std::os::unix::ffi::OsStrExt;

/// Runs a helper command (ssh, rsync) without input or output; what it
/// said on stderr when it fails.
fn quietly(cmd: &mut Command) -> Result<(), String> {
    let name = cmd.get_program().to_string_lossy().into_owned();
    let out = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .output()
        .map_err(|e| format!("cannot run {name}: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).trim().to_string())
    }
}

/// Where a file sent with rsync -R lands, relative to the working
/// directory: for `DIR/./PATH`, PATH (rsync keeps what follows the first
/// `/./`); otherwise the name as given.
fn remote_name(file: &[u8]) -> &[u8] {
    let name = file.strip_prefix(b"./").unwrap_or(file);
    match name.windows(3).position(|w| w == b"/./") {
        Some(at) => &name[at + 3..],
        None => name,
    }
}

impl Drop for Remote {
    fn drop(&mut self) {
        let hosts: Vec<Arc<Host>> = self
            .lock()
            .hosts
            .iter()
            .map(|e| Arc::clone(&e.host))
            .collect();
        for host in hosts {
            self.close(&host);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_on_the_remote_side() {
        assert_eq!(remote_name(b"a/b"), b"a/b");
        assert_eq!(remote_name(b"./a/b"), b"a/b");
        assert_eq!(remote_name(b"/x/./y/./z"), b"y/./z");
        assert_eq!(remote_name(b"/abs/f"), b"/abs/f");
    }

    #[test]
    fn logins() {
        let got = parse_logins("2/a, b ,:,user@c").unwrap();
        assert_eq!(
            got,
            [
                LoginSpec {
                    host: "a".into(),
                    slots: Some(2)
                },
                LoginSpec {
                    host: "b".into(),
                    slots: None
                },
                LoginSpec {
                    host: ":".into(),
                    slots: None
                },
                LoginSpec {
                    host: "user@c".into(),
                    slots: None
                },
            ]
        );
        assert!(parse_logins("0/a").is_err());
        assert!(parse_logins("3/").is_err());
        assert!(parse_logins("-oProxyCommand=x").is_err());
    }

    fn layout(hosts: usize) -> Layout {
        Layout {
            hosts: (0..hosts)
                .map(|i| Entry {
                    host: Arc::new(Host {
                        name: format!("h{i}"),
                        control: None,
                        down: AtomicBool::new(false),
                    }),
                    listed: true,
                    natural_slots: None,
                })
                .collect(),
            ..Layout::default()
        }
    }

    #[test]
    fn slots_go_to_hosts_added_and_come_back_from_hosts_taken_away() {
        let mut l = layout(3);
        l.hosts[2].listed = false;
        l.assign(&[2, 1, 0]);
        assert_eq!(l.slot_host, [Some(0), Some(0), Some(1)]);
        // h0 goes while slot 0 runs a job; h2 comes with 3 slots: the idle
        // slot 1 first, then new ones, not the busy slot 0.
        l.busy = vec![true, false, false];
        l.hosts[0].listed = false;
        l.hosts[2].listed = true;
        l.assign(&[0, 1, 3]);
        assert_eq!(l.slot_host, [None, Some(2), Some(1), Some(2), Some(2)]);
        // h2 down to 1 slot: it gives up its highest; idle free slots at
        // the end go away.
        l.busy = vec![false; 5];
        l.assign(&[0, 1, 1]);
        assert_eq!(l.slot_host, [None, Some(2), Some(1)]);
        // A host (re-)added takes the free slot 0.
        l.hosts[0].listed = true;
        l.assign(&[1, 1, 1]);
        assert_eq!(l.slot_host, [Some(0), Some(2), Some(1)]);
    }

    #[test]
    fn login_files_have_comments_and_blank_lines() {
        let got = parse_login_lines("# hosts\n\n  2/a \nb,c\n").unwrap();
        let names: Vec<&str> = got.iter().map(|l| l.host.as_str()).collect();
        assert_eq!(names, ["a", "b", "c"]);
        assert_eq!(got[0].slots, Some(2));
        assert!(parse_login_lines("0/a\n").is_err());
    }

    #[test]
    fn the_wrapper_is_plain_sh() {
        // Run the remote side locally: the job sees its number and slot,
        // and its status comes back.
        let line = quote(b"it's");
        let mut job = b"echo \"$PARX_SEQ $PARX_SLOT\" ".to_vec();
        job.extend(line);
        job.extend_from_slice(b"; exit 3");
        let mut child = Command::new("sh")
            .args(["-c", WRAPPER, "parx"])
            .arg(std::ffi::OsStr::from_bytes(&job))
            .args(["7", "2"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        // As parx does, hold the "channel" open while the job runs.
        let channel = child.stdin.take();
        let mut out = String::new();
        std::io::Read::read_to_string(&mut child.stdout.take().unwrap(), &mut out).unwrap();
        let status = child.wait().unwrap();
        drop(channel);
        let mut err = String::new();
        std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut err).unwrap();
        assert_eq!(out, "7 2 it's\n", "{err}\n{WRAPPER}");
        assert_eq!(status.code(), Some(3));
    }

    #[test]
    fn a_closed_channel_terminates_the_job() {
        let started = std::time::Instant::now();
        let mut child = Command::new("sh")
            .args(["-c", WRAPPER, "parx", "sleep 30 & sleep 30", "1", "1"])
            .stdin(Stdio::piped())
            .spawn()
            .unwrap();
        drop(child.stdin.take()); // parx went away
        let status = child.wait().unwrap();
        assert!(started.elapsed() < std::time::Duration::from_secs(10));
        assert_eq!(status.code(), Some(128 + libc::SIGTERM), "{status:?}");
    }
}
