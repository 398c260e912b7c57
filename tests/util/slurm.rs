//! A throwaway single-node Slurm cluster on 127.0.0.1 for `--slurm` tests
//! (issue 8), following /work/shared/recipes/slurm-single-node.md.
//!
//! [`Cluster::start`] runs a private `munged`, `slurmctld` and `slurmd`
//! as children of the test process, all configured from one private
//! directory under `/tmp`: its own slurm.conf (never /etc/slurm), munge
//! key and socket (never /run/munge), free ports, state, spool, pid and
//! log files. Clients find the cluster through `SLURM_CONF` alone
//! ([`Cluster::env`], [`Cluster::command`]): `AuthInfo=socket=` in that
//! slurm.conf points srun, slurmctld, slurmd and slurmstepd at the
//! private munged, both for authentication (auth/munge) and for job step
//! credentials (cred/munge). Several clusters, and so several tests, run
//! at once. Needs root (slurmd does) and slurm-wlm; it panics with what
//! to install instead of skipping.
//!
//! Dropping a [`Cluster`] cancels every job, stops the three daemons
//! (SIGTERM, then SIGKILL after a timeout), kills whatever still uses
//! the cluster (job steps, as slurmstepd daemonizes and outlives slurmd;
//! their tasks; clients with its `SLURM_CONF`) and removes the
//! directory. If a test run is killed before `Drop`
//! runs, the next run's first [`Cluster::start`] removes what it left:
//! daemons, steps and directories whose name carries a dead pid.

use std::fs;
use std::io::Read;
use std::net::TcpListener;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixStream;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Once;
use std::time::{Duration, Instant};

use super::is_alive;

const MUNGED: &str = "/usr/sbin/munged";
const SLURMCTLD: &str = "/usr/sbin/slurmctld";
const SLURMD: &str = "/usr/sbin/slurmd";
/// Prefix of the private directories: `/tmp/parx-slurm-<pid>-XXXXXX`.
const DIR_PREFIX: &str = "parx-slurm-";
const INSTALL_HINT: &str = "install Slurm (`apt-get install slurm-wlm`, which brings munge, \
     or run .ci/run, which installs what the tests need)";
/// How long the cluster may take to come up before `start` gives up.
const START_TIMEOUT: Duration = Duration::from_secs(30);
/// How long each daemon gets to exit on SIGTERM before SIGKILL.
const STOP_TIMEOUT: Duration = Duration::from_secs(5);

/// A running single-node Slurm cluster with its own munged.
pub struct Cluster {
    dir: tempfile::TempDir,
    /// `dir/slurm.conf`.
    conf: PathBuf,
    cpus: usize,
    /// Ports of slurmctld and slurmd on 127.0.0.1.
    ports: (u16, u16),
    munged: Option<Child>,
    slurmctld: Option<Child>,
    slurmd: Option<Child>,
}

/// Why a start attempt failed in a way worth retrying.
enum StartError {
    /// slurmctld or slurmd lost its port to another process.
    PortTaken,
}

/// One of the cluster's daemons.
#[derive(Clone, Copy, Debug)]
enum Daemon {
    Munged,
    Slurmctld,
    Slurmd,
}

impl Cluster {
    /// Starts a cluster whose one node has as many CPUs as this machine
    /// (as `nproc` counts them) and returns once the node is idle.
    pub fn start() -> Cluster {
        let cpus = std::thread::available_parallelism().map_or(1, usize::from);
        Cluster::start_with_cpus(cpus)
    }

    /// Starts a cluster whose node claims `cpus` CPUs, more than the
    /// machine has if need be (`SlurmdParameters=config_overrides`; with
    /// task/none nothing is bound to a CPU), so that tests can run more
    /// job steps at once than a small CI machine has CPUs.
    pub fn start_with_cpus(cpus: usize) -> Cluster {
        assert!(cpus > 0, "a Slurm node needs at least one CPU");
        check_prerequisites();
        static STALE: Once = Once::new();
        STALE.call_once(remove_stale);

        let dir = tempfile::Builder::new()
            .prefix(&format!("{DIR_PREFIX}{}-", std::process::id()))
            .tempdir_in("/tmp")
            .expect("create the slurm temp dir");
        // slurmctld runs as `slurm` and munged as `munge`: both must
        // reach their subdirectories and read slurm.conf.
        fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o755)).unwrap();
        let mut cluster = Cluster {
            conf: dir.path().join("slurm.conf"),
            dir,
            cpus,
            ports: (0, 0),
            munged: None,
            slurmctld: None,
            slurmd: None,
        };
        // From here on a panic drops `cluster`, which stops what started.
        cluster.make_dirs();
        cluster.start_munged();
        for _attempt in 0..5 {
            cluster.ports = free_ports();
            cluster.write_conf();
            match cluster.start_slurm() {
                Ok(()) => return cluster,
                Err(StartError::PortTaken) => cluster.stop_slurm(),
            }
        }
        panic!(
            "slurmctld or slurmd could not bind a port in 5 tries:\n{}",
            cluster.logs()
        );
    }

    /// The environment a Slurm client (srun, salloc, squeue, parx
    /// --slurm) needs to use this cluster: only `SLURM_CONF`, since the
    /// munge socket is named in slurm.conf. A client must not inherit
    /// the `SLURM_*` variables of an outer allocation either
    /// ([`Cluster::command`] removes them).
    pub fn env(&self) -> Vec<(String, String)> {
        vec![("SLURM_CONF".into(), self.conf.display().to_string())]
    }

    /// `program` with [`Cluster::env`] set and any inherited `SLURM_*`
    /// variables removed, e.g. `cluster.command("srun").args(["-n1",
    /// "true"])`.
    pub fn command(&self, program: &str) -> Command {
        let mut cmd = Command::new(program);
        for (key, _) in std::env::vars_os() {
            if key.to_string_lossy().starts_with("SLURM_") {
                cmd.env_remove(key);
            }
        }
        cmd.envs(self.env());
        cmd
    }

    /// The jobs and job steps slurmctld still knows (pending or
    /// running), as `job ID STATE NAME` and `step ID.STEP NAME` lines:
    /// empty once a test has left nothing behind. A job stays
    /// `COMPLETING` for a moment after its srun has returned (until
    /// slurmd reports the cleanup done); this waits (up to 10 s) until
    /// no job is, so that a test can assert an empty queue right away.
    pub fn queue(&self) -> Vec<String> {
        let deadline = Instant::now() + Duration::from_secs(10);
        let jobs = loop {
            let jobs = self.squeue(&["-o", "%i %T %j"]);
            if !jobs.contains(" COMPLETING ") || Instant::now() > deadline {
                break jobs;
            }
            std::thread::sleep(Duration::from_millis(5));
        };
        let steps = self.squeue(&["-s", "-o", "%i %j"]);
        jobs.lines()
            .map(|line| format!("job {line}"))
            .chain(steps.lines().map(|line| format!("step {line}")))
            .collect()
    }

    /// The node's CPUs: how many one-CPU job steps can run at once.
    pub fn cpus(&self) -> usize {
        self.cpus
    }

    /// The private directory with slurm.conf, state, spool and logs.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The cluster's slurm.conf (the value of `SLURM_CONF`).
    pub fn conf_path(&self) -> &Path {
        &self.conf
    }

    /// Pids of munged, slurmctld and slurmd, in that order.
    pub fn daemon_pids(&self) -> Vec<u32> {
        [&self.munged, &self.slurmctld, &self.slurmd]
            .into_iter()
            .flatten()
            .map(Child::id)
            .collect()
    }

    /// The daemons' logs, for failure messages.
    pub fn logs(&self) -> String {
        let mut text = String::new();
        let log = self.dir().join("log");
        for name in [
            "munged.log",
            "munged.out",
            "slurmctld.log",
            "slurmctld.out",
            "slurmd.log",
            "slurmd.out",
        ] {
            let content = fs::read_to_string(log.join(name)).unwrap_or_default();
            text.push_str(&format!("--- {name}\n{content}"));
        }
        text
    }

    /// `squeue -h ARGS`; panics if it fails.
    fn squeue(&self, args: &[&str]) -> String {
        let out = self
            .command("squeue")
            .arg("-h")
            .args(args)
            .stdin(Stdio::null())
            .output()
            .expect("squeue runs");
        assert!(
            out.status.success(),
            "squeue {args:?} failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Creates the subdirectories, each owned by the daemon that writes
    /// it, and a fresh munge key.
    fn make_dirs(&self) {
        let (slurm_uid, slurm_gid) = user_ids("slurm");
        let (munge_uid, munge_gid) = user_ids("munge");
        let d = self.dir();
        for (name, uid, gid) in [
            // munged insists that its socket's directory is not writable
            // by others; clients need to search it.
            ("munge", munge_uid, munge_gid),
            ("state", slurm_uid, slurm_gid),
            ("run", slurm_uid, slurm_gid),
            ("log", slurm_uid, slurm_gid),
            ("spool", 0, 0),
        ] {
            let path = d.join(name);
            fs::create_dir(&path).unwrap();
            fs::set_permissions(&path, fs::Permissions::from_mode(0o755)).unwrap();
            std::os::unix::fs::chown(&path, Some(uid), Some(gid)).unwrap();
        }
        // A private key: nothing depends on /etc/munge. munged wants it
        // owned by munge and readable by nobody else.
        let mut key = [0u8; 128];
        fs::File::open("/dev/urandom")
            .and_then(|mut random| random.read_exact(&mut key))
            .expect("read /dev/urandom");
        let key_path = d.join("munge/munge.key");
        fs::write(&key_path, key).unwrap();
        fs::set_permissions(&key_path, fs::Permissions::from_mode(0o600)).unwrap();
        std::os::unix::fs::chown(&key_path, Some(munge_uid), Some(munge_gid)).unwrap();
    }

    /// Starts munged as user munge in the foreground and waits until its
    /// socket accepts connections.
    fn start_munged(&mut self) {
        let d = self.dir().to_owned();
        let (uid, gid) = user_ids("munge");
        let munge = d.join("munge");
        let mut cmd = Command::new(MUNGED);
        cmd.arg("--foreground")
            .arg(format!("--socket={}", munge.join("munge.socket").display()))
            .arg(format!("--key-file={}", munge.join("munge.key").display()))
            .arg(format!("--pid-file={}", munge.join("munged.pid").display()))
            // The defaults of these two are global files.
            .arg(format!(
                "--seed-file={}",
                munge.join("munged.seed").display()
            ))
            .arg(format!("--log-file={}", d.join("log/munged.log").display()));
        // Command::uid also drops root's supplementary groups.
        cmd.uid(uid).gid(gid);
        self.munged = Some(spawn_daemon(cmd, &d.join("log/munged.out")));
        let socket = munge.join("munge.socket");
        let deadline = Instant::now() + START_TIMEOUT;
        while UnixStream::connect(&socket).is_err() {
            self.assert_running(Daemon::Munged);
            assert!(
                Instant::now() < deadline,
                "munged did not listen on {} in {START_TIMEOUT:?}:\n{}",
                socket.display(),
                self.logs()
            );
            std::thread::sleep(Duration::from_millis(2));
        }
    }

    /// Writes slurm.conf for the current ports.
    fn write_conf(&self) {
        let d = self.dir().display();
        let host = short_hostname();
        let (ctld_port, slurmd_port) = self.ports;
        let cpus = self.cpus;
        fs::write(
            &self.conf,
            format!(
                "ClusterName=parx\n\
                 SlurmctldHost={host}(127.0.0.1)\n\
                 SlurmctldPort={ctld_port}\n\
                 SlurmdPort={slurmd_port}\n\
                 SlurmUser=slurm\n\
                 AuthType=auth/munge\n\
                 CredType=cred/munge\n\
                 AuthInfo=socket={d}/munge/munge.socket\n\
                 StateSaveLocation={d}/state\n\
                 SlurmdSpoolDir={d}/spool\n\
                 SlurmctldPidFile={d}/run/slurmctld.pid\n\
                 SlurmdPidFile={d}/run/slurmd.pid\n\
                 SlurmctldLogFile={d}/log/slurmctld.log\n\
                 SlurmdLogFile={d}/log/slurmd.log\n\
                 MailProg=/bin/true\n\
                 ProctrackType=proctrack/linuxproc\n\
                 TaskPlugin=task/none\n\
                 JobAcctGatherType=jobacct_gather/none\n\
                 AccountingStorageType=accounting_storage/none\n\
                 JobCompType=jobcomp/none\n\
                 SchedulerType=sched/backfill\n\
                 SelectType=select/cons_tres\n\
                 SelectTypeParameters=CR_Core\n\
                 SchedulerParameters=sched_interval=1,bf_interval=1,batch_sched_delay=0,sched_min_interval=0\n\
                 SlurmdParameters=config_overrides\n\
                 MpiDefault=none\n\
                 ReturnToService=2\n\
                 NodeName={host} NodeAddr=127.0.0.1 CPUs={cpus} State=UNKNOWN\n\
                 PartitionName=debug Nodes={host} Default=YES MaxTime=INFINITE State=UP\n"
            ),
        )
        .unwrap();
    }

    /// Starts slurmctld, then slurmd once slurmctld listens (a client
    /// that finds no slurmctld retries for 9 s), and waits until the node
    /// is idle.
    fn start_slurm(&mut self) -> Result<(), StartError> {
        let log = self.dir().join("log");
        // Truncate: a retry must not see the last attempt's failure.
        for name in ["slurmctld.log", "slurmctld.out", "slurmd.log", "slurmd.out"] {
            let _ = fs::remove_file(log.join(name));
        }
        let deadline = Instant::now() + START_TIMEOUT;
        let mut ctld = Command::new(SLURMCTLD);
        ctld.arg("-D").arg("-f").arg(&self.conf);
        self.slurmctld = Some(spawn_daemon(ctld, &log.join("slurmctld.out")));
        // Not "the port accepts a connection": while slurmctld starts,
        // whoever took the port would accept it, and then every client
        // would wait 10 s (MessageTimeout) for an answer.
        let ctld_pid = self.slurmctld.as_ref().map_or(0, Child::id);
        while !listens(ctld_pid, self.ports.0) {
            if self.has_exited(Daemon::Slurmctld) {
                return self.start_failed(Daemon::Slurmctld);
            }
            assert!(
                Instant::now() < deadline,
                "slurmctld did not listen in {START_TIMEOUT:?}:\n{}",
                self.logs()
            );
            std::thread::sleep(Duration::from_millis(2));
        }
        let mut slurmd = Command::new(SLURMD);
        slurmd.arg("-D").arg("-f").arg(&self.conf);
        self.slurmd = Some(spawn_daemon(slurmd, &log.join("slurmd.out")));
        loop {
            let out = self
                .command("sinfo")
                .args(["-h", "-o", "%T"])
                .stdin(Stdio::null())
                .output()
                .expect("sinfo runs");
            if String::from_utf8_lossy(&out.stdout).trim() == "idle" {
                return Ok(());
            }
            for daemon in [Daemon::Slurmctld, Daemon::Slurmd] {
                if self.has_exited(daemon) {
                    return self.start_failed(daemon);
                }
            }
            assert!(
                Instant::now() < deadline,
                "the node is not idle after {START_TIMEOUT:?} (sinfo: {:?} {}):\n{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr),
                self.logs()
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// After `daemon` exited during start: PortTaken if it lost a port
    /// to another process (the caller retries with new ports), else
    /// panics.
    fn start_failed(&self, daemon: Daemon) -> Result<(), StartError> {
        let logs = self.logs();
        if logs.contains("Address already in use") {
            return Err(StartError::PortTaken);
        }
        panic!("{daemon:?} exited while starting:\n{logs}");
    }

    /// Panics with the logs if `daemon` has exited.
    fn assert_running(&mut self, daemon: Daemon) {
        assert!(
            !self.has_exited(daemon),
            "{daemon:?} exited while starting:\n{}",
            self.logs()
        );
    }

    /// Whether `daemon` was started and has exited (it is reaped).
    fn has_exited(&mut self, daemon: Daemon) -> bool {
        let child = match daemon {
            Daemon::Munged => &mut self.munged,
            Daemon::Slurmctld => &mut self.slurmctld,
            Daemon::Slurmd => &mut self.slurmd,
        };
        child
            .as_mut()
            .is_some_and(|child| !matches!(child.try_wait(), Ok(None)))
    }

    /// Stops slurmd and slurmctld (at once: slurmd alone takes about 2 s
    /// on SIGTERM).
    fn stop_slurm(&mut self) {
        let daemons: Vec<Child> = [self.slurmd.take(), self.slurmctld.take()]
            .into_iter()
            .flatten()
            .collect();
        stop(daemons);
    }

    /// Cancels every job and waits (up to 5 s) until slurmctld knows
    /// none, so that slurmstepd ends the tasks itself.
    fn cancel_all(&mut self) {
        if self.slurmctld.is_none() || self.has_exited(Daemon::Slurmctld) {
            return;
        }
        let list = |cluster: &Cluster| -> Option<Vec<String>> {
            let out = cluster
                .command("squeue")
                .args(["-h", "-o", "%A"])
                .stdin(Stdio::null())
                .output()
                .ok()?;
            out.status.success().then(|| {
                String::from_utf8_lossy(&out.stdout)
                    .split_whitespace()
                    .map(str::to_owned)
                    .collect()
            })
        };
        let Some(jobs) = list(self) else {
            eprintln!("slurm::Cluster: squeue fails; not cancelling jobs");
            return;
        };
        if jobs.is_empty() {
            return;
        }
        let _ = self
            .command("scancel")
            .args(&jobs)
            .stdin(Stdio::null())
            .status();
        let deadline = Instant::now() + Duration::from_secs(5);
        while list(self).is_some_and(|jobs| !jobs.is_empty()) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        self.cancel_all();
        self.stop_slurm();
        // What still uses the cluster: job steps that outlived the
        // cancel (slurmstepd daemonizes, so it is no child of slurmd)
        // with their tasks, and clients a test left running, such as an
        // srun or a parx, which would retry the gone slurmctld for
        // minutes.
        let marker = self.dir().display().to_string();
        kill_tree_until_gone(|p| p.mentions(&marker));
        stop(self.munged.take().into_iter().collect());
    }
}

/// Sends SIGTERM to each daemon, waits up to [`STOP_TIMEOUT`] for all of
/// them, SIGKILLs the rest and reaps them.
fn stop(mut daemons: Vec<Child>) {
    if daemons.is_empty() {
        return;
    }
    signal("TERM", &daemons.iter().map(Child::id).collect::<Vec<_>>());
    let deadline = Instant::now() + STOP_TIMEOUT;
    while Instant::now() < deadline {
        daemons.retain_mut(|child| matches!(child.try_wait(), Ok(None)));
        if daemons.is_empty() {
            return;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    for child in &mut daemons {
        eprintln!(
            "slurm::Cluster: pid {} ignores SIGTERM for {STOP_TIMEOUT:?}; killing it",
            child.id()
        );
        let _ = child.kill();
        let _ = child.wait();
    }
}

/// Starts a daemon with no stdin and its stdout and stderr in `out`.
fn spawn_daemon(mut cmd: Command, out: &Path) -> Child {
    let file = fs::File::create(out).expect("create a daemon's output file");
    cmd.stdin(Stdio::null())
        .stdout(file.try_clone().unwrap())
        .stderr(file)
        .spawn()
        .unwrap_or_else(|e| panic!("{cmd:?} does not start ({e}): {INSTALL_HINT}"))
}

/// Panics, saying what to do, unless the harness can work here.
fn check_prerequisites() {
    let euid = super::euid();
    assert!(
        euid == "0",
        "the slurm tests run slurmd, which needs root (euid is {euid}): run them \
         as root, e.g. in the CI container with .ci/run"
    );
    for daemon in [MUNGED, SLURMCTLD, SLURMD] {
        assert!(
            Path::new(daemon).exists(),
            "{daemon} is missing; the slurm tests need it: {INSTALL_HINT}"
        );
    }
    for client in ["srun", "sinfo", "squeue", "scancel"] {
        let found = Command::new(client)
            .arg("--version")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok();
        assert!(
            found,
            "`{client}` is missing; the slurm tests need it: {INSTALL_HINT}"
        );
    }
    for user in ["slurm", "munge"] {
        assert!(
            passwd_ids(user).is_some(),
            "there is no user `{user}`; the slurm-wlm and munge packages create it: {INSTALL_HINT}"
        );
    }
}

/// uid and gid of `user` from /etc/passwd, if there.
fn passwd_ids(user: &str) -> Option<(u32, u32)> {
    let passwd = fs::read_to_string("/etc/passwd").ok()?;
    passwd.lines().find_map(|line| {
        let f: Vec<&str> = line.split(':').collect();
        (f.first() == Some(&user)).then_some((f.get(2)?.parse().ok()?, f.get(3)?.parse().ok()?))
    })
}

/// uid and gid of a user that [`check_prerequisites`] found.
fn user_ids(user: &str) -> (u32, u32) {
    passwd_ids(user).unwrap_or_else(|| panic!("user {user} vanished from /etc/passwd"))
}

/// The host name without its domain: slurmd finds its node by it.
fn short_hostname() -> String {
    let name = fs::read_to_string("/proc/sys/kernel/hostname").expect("read the host name");
    name.trim().split('.').next().unwrap_or_default().to_owned()
}

/// Two distinct ports that were free a moment ago (a daemon may still
/// lose a race for one; the caller retries).
fn free_ports() -> (u16, u16) {
    let bind = || TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    // Both bound at once, so they differ.
    let (a, b) = (bind(), bind());
    let port = |l: &TcpListener| l.local_addr().expect("a bound address").port();
    (port(&a), port(&b))
}

/// Whether process `pid` has a TCP socket listening on `port`.
fn listens(pid: u32, port: u16) -> bool {
    let sockets: Vec<String> = fs::read_dir(format!("/proc/{pid}/fd"))
        .map(|fds| {
            fds.flatten()
                .filter_map(|fd| fs::read_link(fd.path()).ok())
                .filter_map(|target| {
                    let target = target.to_string_lossy().into_owned();
                    Some(
                        target
                            .strip_prefix("socket:[")?
                            .strip_suffix(']')?
                            .to_owned(),
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    let port_hex = format!(":{port:04X}");
    ["/proc/net/tcp", "/proc/net/tcp6"].iter().any(|table| {
        fs::read_to_string(table).is_ok_and(|table| {
            table.lines().skip(1).any(|line| {
                // sl local_address rem_address st ... uid timeout inode
                let f: Vec<&str> = line.split_whitespace().collect();
                f.len() > 9
                    && f[1].ends_with(&port_hex)
                    && f[3] == "0A"
                    && sockets.iter().any(|inode| inode == f[9])
            })
        })
    })
}

/// Sends SIG`name` to `pids` (errors ignored: some may be gone already).
fn signal(name: &str, pids: &[u32]) {
    if pids.is_empty() {
        return;
    }
    let _ = Command::new("kill")
        .arg(format!("-{name}"))
        .args(pids.iter().map(u32::to_string))
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .status();
}

/// SIGKILLs the live processes that `doomed` picks and all their
/// descendants, again every 10 ms, until none is alive (up to 5 s).
/// Descendants count because a job step's tasks are children of
/// slurmstepd but mention nothing of the cluster. Never this process.
fn kill_tree_until_gone(doomed: impl Fn(&Process) -> bool) {
    let me = std::process::id();
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let all: Vec<Process> = processes().filter(|p| !p.zombie).collect();
        let mut live: Vec<u32> = all
            .iter()
            .filter(|p| p.pid != me && doomed(p))
            .map(|p| p.pid)
            .collect();
        let mut i = 0;
        while i < live.len() {
            let parent = live[i];
            live.extend(
                all.iter()
                    .filter(|p| p.ppid == parent && p.pid != me && !live.contains(&p.pid))
                    .map(|p| p.pid)
                    .collect::<Vec<_>>(),
            );
            i += 1;
        }
        if live.is_empty() {
            return;
        }
        if Instant::now() > deadline {
            eprintln!("slurm::Cluster: processes {live:?} survive SIGKILL");
            return;
        }
        signal("KILL", &live);
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// One process as /proc shows it.
struct Process {
    pid: u32,
    ppid: u32,
    zombie: bool,
    cmdline: String,
    /// Its initial environment, NULs turned into spaces.
    environ: String,
    /// Where its open file descriptors point.
    fds: Vec<String>,
}

impl Process {
    /// The texts that tell whose process this is: command line,
    /// environment and open files.
    fn texts(&self) -> impl Iterator<Item = &str> {
        [self.cmdline.as_str(), self.environ.as_str()]
            .into_iter()
            .chain(self.fds.iter().map(String::as_str))
    }

    /// Whether it names `text` (a cluster's directory): munged,
    /// slurmctld and slurmd name their socket or config on the command
    /// line; slurmstepd keeps slurmd's log open; clients and job tasks
    /// have `SLURM_CONF` in their environment.
    fn mentions(&self, text: &str) -> bool {
        self.texts().any(|t| t.contains(text))
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
            let text = |name: &str| {
                let bytes = fs::read(entry.path().join(name)).unwrap_or_default();
                String::from_utf8_lossy(&bytes).replace('\0', " ")
            };
            let fds = fs::read_dir(entry.path().join("fd"))
                .map(|fds| {
                    fds.flatten()
                        .filter_map(|fd| fs::read_link(fd.path()).ok())
                        .map(|target| target.to_string_lossy().into_owned())
                        .collect()
                })
                .unwrap_or_default();
            Some(Process {
                pid,
                ppid: field("PPid:")?.parse().ok()?,
                zombie: field("State:")?.starts_with('Z'),
                cmdline: text("cmdline"),
                environ: text("environ"),
                fds,
            })
        })
}

/// The test process pid in a directory name made by this harness
/// (`parx-slurm-<pid>-XXXXXX`).
fn owner_pid(name: &str) -> Option<u32> {
    name.strip_prefix(DIR_PREFIX)?
        .split('-')
        .next()?
        .parse()
        .ok()
}

/// Removes what killed test runs left: their daemons, job steps and
/// directories, found by the dead test process pid in the directory
/// name. Runs before this process makes any, so names with its own pid
/// are stale too (pids wrap around).
fn remove_stale() {
    let me = std::process::id();
    let is_stale = |owner: Option<u32>| owner.is_some_and(|pid| pid == me || !is_alive(pid));
    let marker = format!("/tmp/{DIR_PREFIX}");
    let names_stale_dir = |text: &str| {
        text.split(&marker)
            .skip(1)
            .any(|rest| is_stale(owner_pid(&format!("{DIR_PREFIX}{rest}"))))
    };
    kill_tree_until_gone(|p| p.texts().any(names_stale_dir));
    if let Ok(dir) = fs::read_dir("/tmp") {
        for entry in dir.flatten() {
            if is_stale(owner_pid(&entry.file_name().to_string_lossy())) {
                let _ = fs::remove_dir_all(entry.path());
            }
        }
    }
}
