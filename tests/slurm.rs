//! `--slurm`: jobs as srun jobs and steps on a throwaway single-node Slurm
//! cluster (util::slurm).

use crate::util::slurm::Cluster;
use crate::util::{wait_for, Env};

/// parx with `launcher` (`--slurm`, `--slurm-alloc`) and the cluster's
/// client environment.
fn parx_on(env: &Env, cluster: &Cluster, launcher: &str) -> crate::util::Run {
    let mut run = env.parx([launcher]);
    for (k, v) in cluster.env() {
        run = run.env(&k, v);
    }
    run
}

#[test]
fn outside_an_allocation_each_job_is_a_slurm_job() {
    let cluster = Cluster::start_with_cpus(4);
    let env = Env::new();
    let out = parx_on(&env, &cluster, "--slurm")
        .arg_last([
            "-k",
            "-j2",
            "echo {} ${SLURM_JOB_ID:+in-a-job}",
            ":::",
            "a",
            "b c",
            "it's",
        ])
        .output();
    assert!(out.status.success(), "{out:?}\n{}", cluster.logs());
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "a in-a-job\nb c in-a-job\nit's in-a-job\n"
    );
    // Exit statuses pass through srun.
    let out = parx_on(&env, &cluster, "--slurm")
        .arg_last(["-j2", "exit {}", ":::", "0", "3", "0", "4"])
        .output();
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert!(cluster.queue().is_empty(), "{:?}", cluster.queue());
}

#[test]
fn inside_an_allocation_jobs_are_steps_and_j_follows_its_tasks() {
    let cluster = Cluster::start_with_cpus(4);
    let env = Env::new();
    let out = cluster
        .command("salloc")
        .args(["-n3", "--quiet"])
        .arg(crate::util::parx_bin())
        .args([
            "--slurm",
            "-k",
            "echo {} step=$SLURM_STEP_ID slots=$PARX_SLOT",
            ":::",
            "a",
            "b",
            "c",
        ])
        .current_dir(env.dir.path())
        .env_remove("MAKEFLAGS")
        .env_remove("CARGO_MAKEFLAGS")
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}\n{}", cluster.logs());
    let text = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 3, "{text}");
    for (line, value) in lines.iter().zip(["a", "b", "c"]) {
        assert!(line.starts_with(&format!("{value} step=")), "{text}");
        assert!(!line.contains("step= "), "not a step: {text}");
    }
    // Three tasks in the allocation: three slots, one job each.
    let mut slots: Vec<&str> = lines
        .iter()
        .map(|l| l.rsplit("slots=").next().unwrap())
        .collect();
    slots.sort_unstable();
    assert_eq!(slots, ["1", "2", "3"], "{text}");
}

#[test]
fn slurm_alloc_gets_an_allocation_and_runs_steps_in_it() {
    let cluster = Cluster::start_with_cpus(4);
    let env = Env::new();
    let out = parx_on(&env, &cluster, "--slurm-alloc")
        .arg_last([
            "-j3",
            "-k",
            "echo {} ${SLURM_STEP_ID:+step} $SLURM_JOB_ID",
            ":::",
            "a",
            "b",
            "c",
            "d",
        ])
        .output();
    assert!(out.status.success(), "{out:?}\n{}", cluster.logs());
    let text = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<Vec<&str>> = text.lines().map(|l| l.split(' ').collect()).collect();
    assert_eq!(lines.len(), 4, "{text}");
    // Four steps of one allocation.
    for (line, value) in lines.iter().zip(["a", "b", "c", "d"]) {
        assert_eq!(line[..2], [value, "step"], "{text}");
        assert_eq!(line[2], lines[0][2], "{text}");
    }
    assert!(cluster.queue().is_empty(), "{:?}", cluster.queue());
}

#[test]
fn a_timeout_cancels_the_job_and_leaves_the_queue_empty() {
    let cluster = Cluster::start_with_cpus(2);
    let env = Env::new();
    let started = std::time::Instant::now();
    let out = parx_on(&env, &cluster, "--slurm")
        .arg_last(["--timeout", "1", "sleep 36 && echo never", ":::", "a"])
        .output();
    assert!(
        started.elapsed() < std::time::Duration::from_secs(20),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert!(!String::from_utf8_lossy(&out.stdout).contains("never"));
    assert!(cluster.queue().is_empty(), "{:?}", cluster.queue());
}

/// Not a check: ms per job through parx --slurm against a bare srun loop,
/// inside one allocation. `cargo test --test tests slurm::timings --
/// --ignored --nocapture` (as root); BENCHMARKS.md has the figures.
#[test]
#[ignore]
fn timings() {
    let cluster = Cluster::start_with_cpus(2);
    let env = Env::new();
    let jobs = 40;
    let time = |script: String| {
        let started = std::time::Instant::now();
        let out = cluster
            .command("salloc")
            .args(["-n2", "--quiet", "sh", "-c", &script])
            .current_dir(env.dir.path())
            .output()
            .unwrap();
        assert!(out.status.success(), "{out:?}");
        started.elapsed().as_secs_f64() * 1000.0 / f64::from(jobs)
    };
    let parx = crate::util::parx_bin().display().to_string();
    let bare = time(format!(
        "for i in $(seq {jobs}); do srun --exact -n1 -c1 --quiet true; done"
    ));
    let bare2 = time(format!(
        "seq {jobs} | xargs -P2 -I{{}} srun --exact -n1 -c1 --quiet true"
    ));
    let ours = time(format!("seq {jobs} | {parx} --slurm true"));
    println!("srun loop: {bare:.1} ms/job; xargs -P2 srun: {bare2:.1} ms/job; parx --slurm (2 slots): {ours:.1} ms/job");
}

/// SIGTERM to the parx that asked for the allocation (not to its copy
/// running inside it) ends the whole run: the steps are cancelled, the
/// allocation is given back, and no parx is left running.
#[test]
fn sigterm_to_the_outer_parx_ends_the_allocation_too() {
    let cluster = Cluster::start_with_cpus(2);
    let env = Env::new();
    let marker = format!("37.{}", std::process::id());
    let run = parx_on(&env, &cluster, "--slurm-alloc")
        .arg_last(["-j2", &format!("sleep {marker}; : {{}}"), ":::", "a", "b"])
        .spawn_guarded();
    wait_for("both steps to run", || {
        crate::util::sleepers(&marker).len() == 2
    });
    let sent = std::time::Instant::now();
    crate::util::send_signal(run.id(), libc::SIGTERM);
    let out = run.wait_with_output();
    assert_eq!(
        std::os::unix::process::ExitStatusExt::signal(&out.status),
        Some(libc::SIGTERM),
        "{out:?}"
    );
    wait_for("the steps to end", || {
        crate::util::sleepers(&marker).is_empty()
    });
    wait_for("an empty queue", || cluster.queue().is_empty());
    assert!(sent.elapsed() < std::time::Duration::from_secs(15));
    // No parx left inside the allocation.
    let inner: Vec<u32> = crate::util::command_lines()
        .into_iter()
        .filter(|(_, c)| String::from_utf8_lossy(c).contains(&marker))
        .map(|(pid, _)| pid)
        .collect();
    assert!(inner.is_empty(), "left running: {inner:?}");
}
