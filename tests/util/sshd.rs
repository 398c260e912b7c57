//! A throwaway OpenSSH server on 127.0.0.1 for remote-execution tests
//! (`-S host`, issue 8), following /work/shared/recipes/ssh-loopback.md.
//!
//! [`Sshd::start`] creates a unique test user with a key-only login, runs
//! a private `sshd` on a free loopback port and writes a client
//! `ssh_config` in which each alias is one "host" (all reach the same
//! sshd). Dropping the [`Sshd`] kills the server and every process of the
//! test user, then deletes the user. Needs root and OpenSSH; it panics
//! with what to install instead of skipping.
//!
//! Files live in a private directory (mode 700) under `/tmp`, not
//! `$TMPDIR`: a short path keeps `ControlPath` sockets under the 108-byte
//! limit. If a test run is killed before `Drop` runs (Ctrl-C on
//! `cargo test`), the next run's first [`Sshd::start`] removes what it
//! left: users, servers and directories whose name carries a dead pid.

use std::fs;
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, Once};
use std::time::{Duration, Instant};

use super::is_alive;

const SSHD: &str = "/usr/sbin/sshd";
/// Prefix of test user names: `parx-t<test process pid>-<counter>`.
const USER_PREFIX: &str = "parx-t";
/// Prefix of the private directories: `/tmp/parx-sshd-<pid>-XXXXXX`.
const DIR_PREFIX: &str = "parx-sshd-";
const INSTALL_HINT: &str = "install OpenSSH (`apt-get install openssh-server openssh-client`, \
     or run .ci/run, which installs what the tests need)";

/// useradd and userdel lock /etc/passwd and fail, not wait, when another
/// one holds it ("cannot lock /etc/passwd; try again later"): tests in
/// this process take turns. Other processes are handled by retrying.
static ACCOUNTS: Mutex<()> = Mutex::new(());
static NEXT_USER: AtomicUsize = AtomicUsize::new(0);

/// A running sshd on 127.0.0.1 with its own test user and client config.
pub struct Sshd {
    dir: tempfile::TempDir,
    /// The client ssh_config in `dir`.
    config: PathBuf,
    pid: u32,
    port: u16,
    user: String,
    uid: u32,
    home: PathBuf,
}

impl Sshd {
    /// Starts an sshd that answers to each of `aliases` (host names for
    /// `ssh -F` [`Sshd::config_path`]) and returns once every alias
    /// accepts a login.
    pub fn start(aliases: &[&str]) -> Sshd {
        assert!(!aliases.is_empty(), "Sshd::start needs at least one alias");
        check_prerequisites();
        static STALE: Once = Once::new();
        STALE.call_once(remove_stale);

        let dir = tempfile::Builder::new()
            .prefix(&format!("{DIR_PREFIX}{}-", std::process::id()))
            .tempdir_in("/tmp")
            .expect("create the sshd temp dir");
        fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o700)).unwrap();
        let d = dir.path();
        let (host_key, client_key) = (d.join("host_ed25519"), d.join("id_ed25519"));
        let keygens = [&host_key, &client_key].map(|key| {
            Command::new("ssh-keygen")
                .args(["-q", "-t", "ed25519", "-N", "", "-C", "parx-test", "-f"])
                .arg(key)
                .stdin(Stdio::null())
                .spawn()
                .expect("ssh-keygen starts")
        });
        let (user, uid, gid, home) = create_user();
        for mut keygen in keygens {
            assert!(keygen.wait().unwrap().success(), "ssh-keygen failed");
        }
        install_authorized_key(&home, uid, gid, &client_key.with_extension("pub"));
        // The privilege separation directory; a fresh system that never
        // ran the packaged sshd lacks it ("Missing privilege separation
        // directory: /run/sshd").
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o755)
            .create("/run/sshd")
            .expect("create /run/sshd");

        let mut sshd = None;
        for _attempt in 0..5 {
            let port = free_port();
            if let Some(pid) = try_start_sshd(d, port, &user) {
                sshd = Some((pid, port));
                break;
            }
        }
        let Some((pid, port)) = sshd else {
            panic!(
                "sshd could not bind a port in 5 tries:\n{}",
                fs::read_to_string(d.join("sshd.log")).unwrap_or_default()
            );
        };
        let sshd = Sshd {
            config: d.join("ssh_config"),
            dir,
            pid,
            port,
            user,
            uid,
            home,
        };
        sshd.write_client_config(aliases);
        sshd.wait_until_ready(aliases);
        sshd
    }

    /// The ssh command with this server's client config, e.g.
    /// `ssh -F /tmp/parx-sshd-1-abc/ssh_config`: the value for `--ssh`.
    pub fn ssh_command(&self) -> String {
        format!("ssh -F {}", self.config_path().display())
    }

    /// The client `ssh_config` that defines the aliases.
    pub fn config_path(&self) -> &Path {
        &self.config
    }

    /// The test user's name (the remote login).
    pub fn user(&self) -> &str {
        &self.user
    }

    /// The test user's home directory, where remote commands start.
    pub fn home(&self) -> &Path {
        &self.home
    }

    /// The private directory holding keys, configs and the sshd log; a
    /// place for `ControlPath` sockets.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The sshd listener's pid.
    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// The port sshd listens on (127.0.0.1).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `ssh -F CONFIG ALIAS`, ready for a remote command as more args.
    pub fn ssh(&self, alias: &str) -> Command {
        let mut cmd = Command::new("ssh");
        cmd.arg("-F").arg(self.config_path()).arg(alias);
        cmd
    }

    /// Runs `remote_command` on `alias` through ssh (stdin empty) and
    /// returns what it printed and its status (255: ssh failed).
    pub fn run(&self, alias: &str, remote_command: &str) -> Output {
        self.ssh(alias)
            .arg(remote_command)
            .stdin(Stdio::null())
            .output()
            .expect("ssh runs")
    }

    /// Live (not zombie) processes owned by the test user, as pid and
    /// command line (arguments joined by spaces), sorted by pid: what
    /// remote commands left running. sshd's own per-connection processes
    /// (`sshd: USER@notty`, which also run as the user) are left out, so
    /// an empty list means no remote command is running, even while a
    /// closed connection is still being torn down.
    pub fn processes_of_user(&self) -> Vec<(u32, String)> {
        let mut found: Vec<(u32, String)> = processes()
            .filter(|p| p.uid == self.uid && !p.zombie && !p.is_sshd())
            .map(|p| (p.pid, p.cmdline_text()))
            .collect();
        found.sort_unstable();
        found
    }

    fn write_client_config(&self, aliases: &[&str]) {
        let d = self.dir.path();
        let host_key = fs::read_to_string(d.join("host_ed25519.pub")).unwrap();
        let mut key_fields = host_key.split_whitespace();
        let (kind, key) = (key_fields.next().unwrap(), key_fields.next().unwrap());
        fs::write(
            d.join("known_hosts"),
            format!("[127.0.0.1]:{} {kind} {key}\n", self.port),
        )
        .unwrap();
        let mut config = String::new();
        for alias in aliases {
            config.push_str(&format!(
                "Host {alias}\n\
                 \x20 HostName 127.0.0.1\n\
                 \x20 Port {port}\n\
                 \x20 User {user}\n\
                 \x20 IdentityFile {dir}/id_ed25519\n\
                 \x20 IdentitiesOnly yes\n\
                 \x20 UserKnownHostsFile {dir}/known_hosts\n\
                 \x20 GlobalKnownHostsFile /dev/null\n\
                 \x20 StrictHostKeyChecking yes\n\
                 \x20 BatchMode yes\n\
                 \x20 LogLevel ERROR\n\
                 \x20 ConnectTimeout 10\n\
                 \x20 KexAlgorithms curve25519-sha256\n",
                port = self.port,
                user = self.user,
                dir = d.display(),
            ));
        }
        fs::write(&self.config, config).unwrap();
    }

    /// Polls (every 0.1 s, up to 10 s) until `ssh ALIAS true` succeeds
    /// for every alias, trying the aliases at once.
    fn wait_until_ready(&self, aliases: &[&str]) {
        let deadline = Instant::now() + Duration::from_secs(10);
        let mut waiting: Vec<&str> = aliases.to_vec();
        loop {
            let tries: Vec<_> = waiting
                .iter()
                .map(|alias| {
                    let child = self
                        .ssh(alias)
                        .arg("true")
                        .stdin(Stdio::null())
                        .stdout(Stdio::null())
                        .stderr(Stdio::piped())
                        .spawn()
                        .expect("ssh starts");
                    (*alias, child)
                })
                .collect();
            let mut last_error = String::new();
            waiting.clear();
            for (alias, child) in tries {
                let out = child.wait_with_output().unwrap();
                if !out.status.success() {
                    last_error = String::from_utf8_lossy(&out.stderr).into_owned();
                    waiting.push(alias);
                }
            }
            if waiting.is_empty() {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "ssh to {waiting:?} still fails after 10 s: {last_error}\n--- sshd log\n{}",
                fs::read_to_string(self.dir.path().join("sshd.log")).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Sshd {
    /// Kills this server and every session and command it runs, as if
    /// the host had gone away (connections drop, new ones are refused).
    pub fn crash(&self) {
        // The listener first, so that no new session starts, with the
        // per-connection monitors it forked (they run as root).
        let mut doomed = Vec::new();
        if is_our_sshd(self.pid, self.dir.path()) {
            doomed.push(self.pid);
            doomed.extend(
                processes()
                    .filter(|p| p.ppid == self.pid && p.is_sshd())
                    .map(|p| p.pid),
            );
        }
        // Then whatever runs as the test user, until nothing does.
        kill_until_gone(|p| p.uid == self.uid || doomed.contains(&p.pid));
    }
}

impl Drop for Sshd {
    fn drop(&mut self) {
        self.crash();
        delete_user(&self.user, self.uid);
    }
}

/// Panics, saying what to do, unless the harness can work here.
fn check_prerequisites() {
    let euid = super::euid();
    assert!(
        euid == "0",
        "the ssh tests create a user and run sshd, so they must run as root \
         (euid is {euid}): run them as root, e.g. in the CI container with .ci/run"
    );
    assert!(
        Path::new(SSHD).exists(),
        "{SSHD} is missing; the ssh tests need it: {INSTALL_HINT}"
    );
    for tool in ["ssh", "ssh-keygen"] {
        let found = Command::new(tool)
            .arg("-V")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok();
        assert!(
            found,
            "`{tool}` is missing; the ssh tests need it: {INSTALL_HINT}"
        );
    }
}

/// A port that was free a moment ago (sshd may still lose a race for it;
/// the caller retries).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("bind 127.0.0.1:0")
        .port()
}

/// Writes sshd_config for `port` and starts sshd. Returns the daemon's
/// pid once it listens, or None if the port was taken.
fn try_start_sshd(dir: &Path, port: u16, user: &str) -> Option<u32> {
    let d = dir.display();
    let config = dir.join("sshd_config");
    let log = dir.join("sshd.log");
    let pid_file = dir.join("sshd.pid");
    fs::write(
        &config,
        format!(
            "Port {port}\n\
             ListenAddress 127.0.0.1\n\
             HostKey {d}/host_ed25519\n\
             PidFile {d}/sshd.pid\n\
             PubkeyAuthentication yes\n\
             PasswordAuthentication no\n\
             KbdInteractiveAuthentication no\n\
             UsePAM no\n\
             PermitRootLogin no\n\
             AllowUsers {user}\n\
             MaxStartups 100:30:200\n\
             MaxSessions 100\n\
             PrintMotd no\n\
             PrintLastLog no\n\
             Subsystem sftp internal-sftp\n"
        ),
    )
    .unwrap();
    // Truncate the log: a retry must not see the last attempt's failure.
    fs::write(&log, "").unwrap();
    // sshd checks its configuration, forks the daemon and exits; the
    // daemon binds the port and only then writes the pid file.
    let status = Command::new(SSHD)
        .arg("-f")
        .arg(&config)
        .arg("-E")
        .arg(&log)
        .stdin(Stdio::null())
        .status()
        .expect("sshd starts");
    let log_text = || fs::read_to_string(&log).unwrap_or_default();
    assert!(status.success(), "sshd failed ({status}):\n{}", log_text());
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let pid = fs::read_to_string(&pid_file)
            .ok()
            .and_then(|s| s.trim().parse().ok());
        if pid.is_some() {
            return pid;
        }
        let text = log_text();
        if text.contains("Cannot bind any address") {
            return None;
        }
        assert!(
            Instant::now() < deadline,
            "sshd wrote no pid file in 10 s:\n{text}"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Whether `pid` is still the sshd started with the config in `dir`
/// (guards against killing a reused pid).
fn is_our_sshd(pid: u32, dir: &Path) -> bool {
    let cmdline = fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
    let wanted = dir.join("sshd_config");
    String::from_utf8_lossy(&cmdline).contains(&*wanted.to_string_lossy())
}

/// Runs useradd/userdel (`args`) with the lock, retrying while another
/// process holds /etc/passwd. Returns the last output.
fn account_tool(program: &str, args: &[&str]) -> Output {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let out = {
            let _turn = ACCOUNTS.lock().unwrap_or_else(|e| e.into_inner());
            Command::new(program)
                .args(args)
                .stdin(Stdio::null())
                .output()
                .unwrap_or_else(|e| panic!("{program} does not run ({e}): install passwd"))
        };
        let busy = String::from_utf8_lossy(&out.stderr).contains("try again later");
        if out.status.success() || !busy || Instant::now() > deadline {
            return out;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Creates `parx-t<pid>-<n>` with a home and a login that takes keys only.
/// Returns name, uid, gid and home.
fn create_user() -> (String, u32, u32, PathBuf) {
    let user = format!(
        "{USER_PREFIX}{}-{}",
        std::process::id(),
        NEXT_USER.fetch_add(1, Ordering::Relaxed)
    );
    // Password `*`, not `!`: with UsePAM no, sshd refuses a locked
    // account ("Connection closed by invalid user").
    let out = account_tool(
        "useradd",
        &["-m", "-s", "/bin/bash", "-p", "*", "-c", "parx test", &user],
    );
    assert!(
        out.status.success(),
        "useradd {user} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let entry = passwd_entries()
        .into_iter()
        .find(|e| e.0 == user)
        .unwrap_or_else(|| panic!("useradd {user} succeeded but the user is not in /etc/passwd"));
    (entry.0, entry.1, entry.2, entry.3)
}

/// Deletes `user` and its home. userdel refuses while a process runs as
/// the user ("userdel: user NAME is currently used by process PID"); the
/// callers have killed them all, but one may still be exiting: kill
/// again and retry every 0.1 s for up to 5 s. Zombies do not count for
/// Debian 12's userdel (shadow 4.13), but an init that reaps orphans
/// late (about every 2 s here) would keep them long enough to matter
/// where they do: if the blocking process is not alive, `-f` is safe.
fn delete_user(user: &str, uid: u32) {
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut force = false;
    loop {
        let args: &[&str] = if force {
            &["-r", "-f", user]
        } else {
            &["-r", user]
        };
        let out = account_tool("userdel", args);
        // Exit 12: the home directory could not be removed entirely,
        // but the account is gone.
        if out.status.success() || out.status.code() == Some(12) {
            return;
        }
        let stderr = String::from_utf8_lossy(&out.stderr);
        let blocker: Option<u32> = stderr
            .split("currently used by process ")
            .nth(1)
            .and_then(|rest| rest.trim().parse().ok());
        let Some(blocker) = blocker.filter(|_| Instant::now() < deadline) else {
            eprintln!("Sshd: userdel {user} failed ({}): {stderr}", out.status);
            return;
        };
        if is_alive(blocker) {
            kill_until_gone(|p| p.uid == uid);
            std::thread::sleep(Duration::from_millis(100));
        } else {
            force = true;
        }
    }
}

/// Copies the client public key to `home/.ssh/authorized_keys`, owned by
/// the user with the modes sshd's StrictModes demands.
fn install_authorized_key(home: &Path, uid: u32, gid: u32, public_key: &Path) {
    let ssh_dir = home.join(".ssh");
    fs::DirBuilder::new().mode(0o700).create(&ssh_dir).unwrap();
    let keys = ssh_dir.join("authorized_keys");
    fs::copy(public_key, &keys).unwrap();
    fs::set_permissions(&keys, fs::Permissions::from_mode(0o600)).unwrap();
    for path in [&ssh_dir, &keys] {
        std::os::unix::fs::chown(path, Some(uid), Some(gid)).unwrap();
    }
}

/// (name, uid, gid, home) for each line of /etc/passwd.
fn passwd_entries() -> Vec<(String, u32, u32, PathBuf)> {
    let passwd = fs::read_to_string("/etc/passwd").expect("read /etc/passwd");
    passwd
        .lines()
        .filter_map(|line| {
            let f: Vec<&str> = line.split(':').collect();
            Some((
                f.first()?.to_string(),
                f.get(2)?.parse().ok()?,
                f.get(3)?.parse().ok()?,
                PathBuf::from(f.get(5)?),
            ))
        })
        .collect()
}

/// Sends SIGKILL to `pids` (errors ignored: some may be gone already).
fn kill(pids: &[u32]) {
    if pids.is_empty() {
        return;
    }
    let _ = Command::new("kill")
        .arg("-KILL")
        .args(pids.iter().map(u32::to_string))
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .status();
}

/// SIGKILLs the live processes that `doomed` picks, again every 10 ms,
/// until none is alive (up to 5 s): new ones may appear meanwhile, such
/// as a session that was just being set up.
fn kill_until_gone(mut doomed: impl FnMut(&Process) -> bool) {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let live: Vec<u32> = processes()
            .filter(|p| !p.zombie && doomed(p))
            .map(|p| p.pid)
            .collect();
        if live.is_empty() {
            return;
        }
        if Instant::now() > deadline {
            eprintln!("Sshd: processes {live:?} survive SIGKILL");
            return;
        }
        kill(&live);
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// One process as /proc shows it.
struct Process {
    pid: u32,
    ppid: u32,
    /// Real uid.
    uid: u32,
    zombie: bool,
    /// Executable name (`comm`).
    name: String,
    cmdline: Vec<u8>,
}

impl Process {
    /// sshd's own processes: `sshd` in OpenSSH 9.2, `sshd-session` and
    /// `sshd-auth` from 9.8 and 10.0.
    fn is_sshd(&self) -> bool {
        matches!(self.name.as_str(), "sshd" | "sshd-session" | "sshd-auth")
    }

    fn cmdline_text(&self) -> String {
        let args: Vec<_> = self
            .cmdline
            .split(|&b| b == 0)
            .filter(|a| !a.is_empty())
            .map(String::from_utf8_lossy)
            .collect();
        args.join(" ")
    }
}

/// Every process whose /proc entry could be read.
fn processes() -> impl Iterator<Item = Process> {
    fs::read_dir("/proc")
        .expect("read /proc")
        .flatten()
        .filter_map(|entry| {
            let pid = entry.file_name().to_str()?.parse().ok()?;
            let status = fs::read_to_string(entry.path().join("status")).ok()?;
            let field = |name: &str| {
                status
                    .lines()
                    .find_map(|l| l.strip_prefix(name))
                    .map(str::trim)
            };
            Some(Process {
                pid,
                ppid: field("PPid:")?.parse().ok()?,
                uid: field("Uid:")?.split_whitespace().next()?.parse().ok()?,
                zombie: field("State:")?.starts_with('Z'),
                name: field("Name:")?.to_owned(),
                cmdline: fs::read(entry.path().join("cmdline")).unwrap_or_default(),
            })
        })
}

/// The test process pid in a name made by this harness (user
/// `parx-t<pid>-<n>` or dir `parx-sshd-<pid>-XXXXXX`).
fn owner_pid(name: &str, prefix: &str) -> Option<u32> {
    name.strip_prefix(prefix)?.split('-').next()?.parse().ok()
}

/// Removes what killed test runs left: their sshd daemons, test users
/// and directories, found by the dead test process pid in their names.
/// Runs before this process makes any, so names with its own pid are
/// stale too (pids wrap around: pid_max is 32768 here).
fn remove_stale() {
    let me = std::process::id();
    let is_stale = |owner: Option<u32>| owner.is_some_and(|pid| pid == me || !is_alive(pid));
    let stale_dirs: Vec<PathBuf> = fs::read_dir("/tmp")
        .map(|dir| {
            dir.flatten()
                .filter(|e| is_stale(owner_pid(&e.file_name().to_string_lossy(), DIR_PREFIX)))
                .map(|e| e.path())
                .collect()
        })
        .unwrap_or_default();
    let stale_users: Vec<(String, u32)> = passwd_entries()
        .into_iter()
        .filter(|e| is_stale(owner_pid(&e.0, USER_PREFIX)))
        .map(|e| (e.0, e.1))
        .collect();
    // A daemon's command line names its config: `/tmp/parx-sshd-<pid>-…`.
    let dir_marker = format!("/tmp/{DIR_PREFIX}");
    let daemons: Vec<u32> = processes()
        .filter(|p| {
            let cmdline = String::from_utf8_lossy(&p.cmdline);
            let daemon_owner = cmdline
                .split_once(&dir_marker)
                .and_then(|(_, rest)| owner_pid(rest, ""));
            (p.is_sshd() && is_stale(daemon_owner)) || stale_users.iter().any(|u| u.1 == p.uid)
        })
        .map(|p| p.pid)
        .collect();
    kill_until_gone(|p| daemons.contains(&p.pid));
    for (user, uid) in &stale_users {
        delete_user(user, *uid);
    }
    for dir in &stale_dirs {
        let _ = fs::remove_dir_all(dir);
    }
}
