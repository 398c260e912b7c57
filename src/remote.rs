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
//! remote host either.

use std::ffi::OsString;
use std::path::PathBuf;
use std::process::{Command, Stdio};

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
        out.push(LoginSpec { host, slots });
    }
    Ok(out)
}

/// A host jobs can run on.
#[derive(Debug)]
pub struct Host {
    /// As given to `-S` (`:` for this machine).
    pub name: String,
    /// Job slots on it.
    pub slots: usize,
    /// The ControlMaster socket (None for this machine).
    control: Option<PathBuf>,
}

impl Host {
    /// True for `:`, this machine.
    pub fn is_local(&self) -> bool {
        self.control.is_none()
    }
}

/// The connections of one run; closed when dropped.
#[derive(Debug)]
pub struct Remote {
    ssh: Vec<OsString>,
    hosts: Vec<Host>,
    /// Which host each job slot belongs to.
    slot_host: Vec<usize>,
    _dir: tempfile::TempDir,
}

/// The remote side of every job: `$1` is the command line, `$2`/`$3` the
/// job's sequence number and slot. The job gets /dev/null as stdin; a
/// watcher reads the channel (through fd 3: sh gives background commands
/// /dev/null as stdin) until it closes, then terminates the job's group
/// (or the job, without setsid).
const WRAPPER: &str = "export PARX_SEQ=\"$2\" PARX_SLOT=\"$3\" PARALLEL_SEQ=\"$2\" PARALLEL_JOBSLOT=\"$3\"; \
exec 3<&0; \
if command -v setsid >/dev/null 2>&1; then setsid sh -c \"$1\" </dev/null 3<&- & \
else sh -c \"$1\" </dev/null 3<&- & fi; \
p=$!; \
{ while read -r _ <&3; do :; done; kill -TERM -\"$p\" 2>/dev/null || kill -TERM \"$p\" 2>/dev/null; } 2>/dev/null & \
w=$!; exec 3<&-; wait \"$p\"; s=$?; kill \"$w\" 2>/dev/null; exit \"$s\"";

impl Remote {
    /// Connects to every host of `logins` with `ssh` (the command and its
    /// options). A host without `N/` gets `default_slots` (an explicit
    /// `-j`), or as many slots as it has CPUs.
    pub fn connect(
        logins: &[LoginSpec],
        ssh: Vec<OsString>,
        default_slots: Option<usize>,
        local_cpus: usize,
    ) -> Result<Self, String> {
        let dir = tempfile::Builder::new()
            .prefix("parx-ssh")
            .tempdir()
            .map_err(|e| format!("cannot make a directory for ssh connections: {e}"))?;
        let mut remote = Remote {
            ssh,
            hosts: Vec::new(),
            slot_host: Vec::new(),
            _dir: dir,
        };
        for (i, login) in logins.iter().enumerate() {
            if login.host == ":" {
                remote.hosts.push(Host {
                    name: ":".into(),
                    slots: login.slots.or(default_slots).unwrap_or(local_cpus),
                    control: None,
                });
                continue;
            }
            let control = remote._dir.path().join(format!("h{i}"));
            remote.start_master(&login.host, &control)?;
            let mut host = Host {
                name: login.host.clone(),
                slots: 1,
                control: Some(control),
            };
            host.slots = match login.slots.or(default_slots) {
                Some(n) => n,
                None => remote.probe_cpus(&host).unwrap_or(1),
            };
            remote.hosts.push(host);
        }
        for (i, host) in remote.hosts.iter().enumerate() {
            remote
                .slot_host
                .extend(std::iter::repeat(i).take(host.slots));
        }
        Ok(remote)
    }

    /// Job slots on all hosts together.
    pub fn slots(&self) -> usize {
        self.slot_host.len()
    }

    /// The host of job slot `slot` (from 0).
    pub fn host_of(&self, slot: usize) -> &Host {
        &self.hosts[self.slot_host[slot % self.slot_host.len().max(1)]]
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

    fn start_master(&self, host: &str, control: &std::path::Path) -> Result<(), String> {
        let out = Command::new(&self.ssh[0])
            .args(&self.ssh[1..])
            .args(["-o", "ControlMaster=yes", "-o", "ControlPersist=yes", "-o"])
            .arg(format!("ControlPath={}", control.display()))
            .args(["-o", "BatchMode=yes", "-f", "-N", host])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .output()
            .map_err(|e| format!("cannot run {}: {e}", self.ssh[0].to_string_lossy()))?;
        if out.status.success() {
            return Ok(());
        }
        let why = String::from_utf8_lossy(&out.stderr);
        Err(format!(
            "cannot connect to {host}: {}",
            why.trim().lines().last().unwrap_or("ssh failed")
        ))
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

    /// The local argv that runs `line` (a shell command line) as job `seq`
    /// in `slot` on `host`.
    pub fn job_argv(&self, host: &Host, line: &[u8], seq: u64, slot: usize) -> Vec<OsString> {
        let control = host.control.as_ref().expect("a remote host");
        let mut remote = b"sh -c ".to_vec();
        remote.extend(quote(WRAPPER.as_bytes()));
        remote.extend_from_slice(b" parx ");
        remote.extend(quote(line));
        remote.extend_from_slice(format!(" {seq} {}", slot + 1).as_bytes());
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

impl Drop for Remote {
    fn drop(&mut self) {
        for host in &self.hosts {
            if let Some(control) = &host.control {
                let _ = self
                    .ssh_to(control)
                    .args(["-O", "exit", &host.name])
                    .stdin(Stdio::null())
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .status();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
