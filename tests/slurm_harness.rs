//! The throwaway Slurm cluster of `util::slurm` on its own, without parx:
//! srun runs commands and passes exit codes through, steps start inside
//! an allocation, clusters run side by side, and dropping one leaves
//! nothing.

use std::path::Path;
use std::process::{Output, Stdio};
use std::time::{Duration, Instant};

use crate::util::slurm::Cluster;
use crate::util::{is_alive, wait_for};

/// A unique `sleep` duration to find a test's task by (other test
/// processes may run at the same time).
fn marker(seconds: u32) -> String {
    format!("{seconds}.{}", std::process::id())
}

/// Pids of live `sleep SECONDS` processes. slurmstepd starts a task by
/// the path srun found (`/usr/bin/sleep`), so `util::sleepers`, which
/// wants argv[0] `sleep`, would not see them.
fn sleepers(seconds: &str) -> Vec<u32> {
    std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
            let args: Vec<&[u8]> = cmdline.split(|&b| b == 0).collect();
            is_alive(*pid)
                && matches!(args.as_slice(), [program, arg, b""]
                    if Path::new(std::str::from_utf8(program).unwrap_or_default()).ends_with("sleep")
                        && *arg == seconds.as_bytes())
        })
        .collect()
}

/// Stops an srun client the way a user's Ctrl-C or parx's --termseq
/// would: on SIGTERM srun cancels its step at once (about 40 ms until
/// the queue is empty), while after SIGKILL slurmstepd needs about 3 s
/// to notice that the client is gone.
fn terminate(mut srun: std::process::Child) {
    crate::util::send_signal(srun.id(), libc::SIGTERM);
    srun.wait().unwrap();
}

/// Runs `program args` as a client of `cluster` with empty stdin.
fn run(cluster: &Cluster, program: &str, args: &[&str]) -> Output {
    cluster
        .command(program)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("{program} does not run: {e}"))
}

/// What `out` printed, checking that it succeeded.
fn stdout_of(out: &Output, cluster: &Cluster) -> String {
    assert!(
        out.status.success(),
        "{}: {}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr),
        cluster.logs()
    );
    String::from_utf8(out.stdout.clone()).unwrap()
}

fn hostname() -> String {
    let name = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap();
    name.trim().split('.').next().unwrap().to_owned()
}

#[test]
fn srun_runs_a_command() {
    let cluster = Cluster::start();
    let out = run(&cluster, "srun", &["-n1", "echo", "hi"]);
    assert_eq!(stdout_of(&out, &cluster), "hi\n");
    // The step saw its job's id, and the job is gone afterwards.
    let out = run(&cluster, "srun", &["-n1", "sh", "-c", "echo $SLURM_JOB_ID"]);
    assert!(
        stdout_of(&out, &cluster).trim().parse::<u32>().is_ok(),
        "{out:?}"
    );
    assert_eq!(cluster.queue(), Vec::<String>::new());
    // The node has the CPUs start() counted.
    let out = run(&cluster, "sinfo", &["-h", "-o", "%c"]);
    assert_eq!(stdout_of(&out, &cluster).trim(), cluster.cpus().to_string());
}

#[test]
fn exit_codes_pass_through_srun() {
    let cluster = Cluster::start();
    for code in [0, 1, 3, 255] {
        let out = run(
            &cluster,
            "srun",
            &["-n1", "sh", "-c", &format!("exit {code}")],
        );
        assert_eq!(out.status.code(), Some(code), "{out:?}");
    }
}

#[test]
fn steps_run_inside_an_allocation() {
    let cluster = Cluster::start();
    let tasks = cluster.cpus().min(2);
    let out = run(
        &cluster,
        "salloc",
        &[
            &format!("-n{tasks}"),
            "sh",
            "-c",
            "srun --exact -n1 -c1 hostname",
        ],
    );
    assert_eq!(stdout_of(&out, &cluster), format!("{}\n", hostname()));
    assert_eq!(cluster.queue(), Vec::<String>::new());
}

#[test]
fn queue_lists_running_jobs_and_steps() {
    let cluster = Cluster::start();
    let sleep = marker(3103);
    let srun = cluster
        .command("srun")
        .args(["-n1", "-J", "marker", "sleep", &sleep])
        .stdin(Stdio::null())
        .spawn()
        .unwrap();
    wait_for("the step to run", || cluster.queue().len() == 2);
    let queue = cluster.queue();
    assert!(queue[0].starts_with("job ") && queue[0].ends_with(" RUNNING marker"));
    assert!(queue[1].starts_with("step ") && queue[1].ends_with(".0 marker"));
    // A terminated srun cancels its step.
    terminate(srun);
    wait_for("the queue to empty", || cluster.queue().is_empty());
    wait_for("the task to end", || sleepers(&sleep).is_empty());
}

#[test]
fn drop_stops_daemons_steps_and_removes_the_dir() {
    let cluster = Cluster::start();
    let (pids, dir) = (cluster.daemon_pids(), cluster.dir().to_owned());
    assert_eq!(pids.len(), 3);
    let sleep = marker(3102);
    let mut srun = cluster
        .command("srun")
        .args(["-n1", "sleep", &sleep])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_for("the step to run", || sleepers(&sleep).len() == 1);
    // This cluster's slurmstepd (other tests run theirs): it keeps
    // slurmd's log open.
    let slurmd_log = dir.join("log/slurmd.log");
    let slurmstepds: Vec<u32> = std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
            let fds = std::fs::read_dir(format!("/proc/{pid}/fd"));
            stat.contains("(slurmstepd)")
                && fds.is_ok_and(|mut fds| {
                    fds.any(|fd| {
                        fd.is_ok_and(|fd| {
                            std::fs::read_link(fd.path()).is_ok_and(|l| l == slurmd_log)
                        })
                    })
                })
        })
        .collect();
    assert_eq!(slurmstepds.len(), 1, "{slurmstepds:?}");
    let started = Instant::now();
    drop(cluster);
    eprintln!("teardown with a running step: {:?}", started.elapsed());
    for pid in pids.iter().chain(&slurmstepds) {
        assert!(!is_alive(*pid), "pid {pid} survives");
    }
    assert_eq!(sleepers(&sleep), Vec::<u32>::new());
    assert!(!Path::new(&dir).exists(), "{} remains", dir.display());
    // The srun client learns that its job was cancelled and exits.
    wait_for("srun to exit", || srun.try_wait().unwrap().is_some());
}

#[test]
fn two_clusters_run_at_once() {
    let starts: Vec<_> = (0..2).map(|_| std::thread::spawn(Cluster::start)).collect();
    let clusters: Vec<Cluster> = starts.into_iter().map(|t| t.join().unwrap()).collect();
    assert_ne!(clusters[0].env(), clusters[1].env());
    // A step running in one cluster is not in the other's queue.
    let srun = clusters[0]
        .command("srun")
        .args(["-n1", "sleep", &marker(3104)])
        .stdin(Stdio::null())
        .spawn()
        .unwrap();
    wait_for("the step to run", || clusters[0].queue().len() == 2);
    assert_eq!(clusters[1].queue(), Vec::<String>::new());
    for cluster in &clusters {
        let out = run(cluster, "srun", &["-n1", "echo", "hi"]);
        assert_eq!(stdout_of(&out, cluster), "hi\n");
    }
    terminate(srun);
}

#[test]
fn a_node_can_claim_more_cpus_than_the_machine_has() {
    let cluster = Cluster::start_with_cpus(16);
    assert_eq!(cluster.cpus(), 16);
    // 16 one-second steps at once take about one second, not sixteen.
    let started = Instant::now();
    let out = run(
        &cluster,
        "salloc",
        &[
            "-n16",
            "sh",
            "-c",
            "for i in $(seq 16); do srun --exact -n1 -c1 sleep 1 & done; wait",
        ],
    );
    stdout_of(&out, &cluster);
    let took = started.elapsed();
    assert!(took < Duration::from_secs(8), "16 steps took {took:?}");
}

/// Prints what the harness costs (visible with `--nocapture`): start,
/// teardown, a separate job per command, a step per command inside an
/// allocation.
#[test]
fn timings() {
    const RUNS: u32 = 20;
    let started = Instant::now();
    let cluster = Cluster::start();
    let start = started.elapsed();

    let started = Instant::now();
    for _ in 0..RUNS {
        let out = run(&cluster, "srun", &["-n1", "true"]);
        stdout_of(&out, &cluster);
    }
    let per_job = started.elapsed() / RUNS;

    // The shell times its loop, so salloc's own cost is left out.
    let script = format!(
        "start=$(date +%s%N); \
         for i in $(seq {RUNS}); do srun --exact -n1 -c1 true || exit 1; done; \
         echo $(( $(date +%s%N) - start ))"
    );
    let started = Instant::now();
    let out = run(&cluster, "salloc", &["-n1", "sh", "-c", &script]);
    let salloc = started.elapsed();
    let loop_ns: u64 = stdout_of(&out, &cluster).trim().parse().unwrap();
    let per_step = Duration::from_nanos(loop_ns) / RUNS;
    let salloc_overhead = salloc.saturating_sub(Duration::from_nanos(loop_ns));

    let started = Instant::now();
    drop(cluster);
    let teardown = started.elapsed();
    eprintln!(
        "slurm cluster: start {start:?}, teardown {teardown:?}; `srun -n1 true` {per_job:?} \
         per job; inside `salloc -n1`, {per_step:?} per `srun --exact -n1 -c1 true` step, \
         plus {salloc_overhead:?} for salloc itself"
    );
}
