//! `--slurm`: each job runs through Slurm's `srun`.
//!
//! Inside an allocation (`SLURM_JOB_ID` is set, as under `salloc` or in an
//! `sbatch` script) each job is a job step, `srun --exact -n1 -c1`, so
//! steps share the allocation's CPUs; `-j` then defaults to the
//! allocation's task count. Outside one, each job is a Slurm job of its
//! own (`srun -n1 -c1`), queued by Slurm. Exit statuses pass through srun;
//! stopping a job (Ctrl-C, `--timeout`, `--halt now`) sends srun the
//! termination sequence, and srun cancels its step: no step is left in
//! `squeue`. `--slurm-args` adds srun options (`-c4`, `--mem=2G`,
//! `-p gpu` ...).

use std::ffi::OsString;

use crate::exec::{Argv, CommandLine};

/// How jobs are handed to Slurm.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Slurm {
    /// `srun` (or `$PARX_SRUN`), with its own leading words.
    pub srun: Vec<OsString>,
    /// `--slurm-args`, split like a shell would.
    pub args: Vec<OsString>,
    /// Running inside an allocation: jobs are steps.
    pub in_allocation: bool,
}

impl Slurm {
    /// The launcher for this environment.
    pub fn new(srun: Vec<OsString>, args: Vec<OsString>) -> Self {
        Self {
            srun,
            args,
            in_allocation: std::env::var_os("SLURM_JOB_ID").is_some_and(|v| !v.is_empty()),
        }
    }

    /// Job slots when `-j` is not given: the allocation's tasks (or CPUs).
    pub fn default_slots(&self) -> Option<usize> {
        if !self.in_allocation {
            return None;
        }
        ["SLURM_NTASKS", "SLURM_NPROCS", "SLURM_CPUS_ON_NODE"]
            .iter()
            .find_map(|k| std::env::var(k).ok()?.trim().parse::<usize>().ok())
            .filter(|&n| n > 0)
    }

    /// The argv that runs `line` (a plain argv, or a shell line run by
    /// `shell`) through srun.
    pub fn wrap(&self, line: &CommandLine, shell: &[OsString]) -> Argv {
        let mut argv: Vec<Vec<u8>> = self
            .srun
            .iter()
            .map(|w| w.as_encoded_bytes().to_vec())
            .collect();
        let fixed: &[&str] = if self.in_allocation {
            &["--exact", "-n1", "-c1", "--quiet"]
        } else {
            &["-n1", "-c1", "--quiet"]
        };
        argv.extend(fixed.iter().map(|w| w.as_bytes().to_vec()));
        argv.extend(self.args.iter().map(|w| w.as_encoded_bytes().to_vec()));
        match line {
            CommandLine::Direct(words) => argv.extend(words.iter().map(<[u8]>::to_vec)),
            CommandLine::Shell(text) => {
                argv.extend(shell.iter().map(|w| w.as_encoded_bytes().to_vec()));
                argv.push(b"-c".to_vec());
                argv.push(text.clone());
            }
        }
        argv.into_iter().collect()
    }
}

/// `--slurm-alloc` outside an allocation: runs this parx again, as
/// `salloc -n SLOTS [--slurm-args] parx ARGS`, where it finds itself inside
/// the allocation and runs the jobs as its steps. Returns how that ended.
pub fn within_allocation(slurm: &Slurm, slots: usize, args: &[OsString]) -> crate::exit::Exit {
    let salloc = std::env::var_os("PARX_SALLOC").unwrap_or_else(|| "salloc".into());
    let me = std::env::current_exe().unwrap_or_else(|_| args[0].clone().into());
    // The run inside the allocation must not ask for another one, even if
    // an odd salloc did not set SLURM_JOB_ID.
    if std::env::var_os("PARX_IN_SALLOC").is_some() {
        eprintln!("parx: --slurm-alloc: salloc set no SLURM_JOB_ID; not asking again");
        return crate::exit::Exit::Code(crate::exit::OWN_ERROR);
    }
    let child = std::process::Command::new(&salloc)
        .env("PARX_IN_SALLOC", "1")
        .arg("--quiet")
        .arg(format!("-n{slots}"))
        .args(&slurm.args)
        .arg(me)
        .args(&args[1..])
        .spawn();
    // A signal sent to this parx alone (`kill PID`, a batch system's
    // SIGTERM) is passed on to salloc, which ends the run inside the
    // allocation with it; Ctrl-C reaches them all from the terminal anyway.
    // parx then ends as if the signal had stopped it (130, 143 ...),
    // whatever salloc reports.
    let got = std::sync::Arc::new(std::sync::atomic::AtomicI32::new(0));
    let status = child.and_then(|mut child| {
        let pid = child.id();
        let forward = [libc::SIGTERM, libc::SIGINT, libc::SIGHUP, libc::SIGQUIT];
        let Ok(mut signals) = signal_hook::iterator::Signals::new(forward) else {
            return child.wait();
        };
        let handle = signals.handle();
        let got = std::sync::Arc::clone(&got);
        std::thread::spawn(move || {
            for signal in signals.forever() {
                got.store(signal, std::sync::atomic::Ordering::Release);
                crate::sys::kill_process(pid, signal);
            }
        });
        let status = child.wait();
        handle.close();
        status
    });
    match got.load(std::sync::atomic::Ordering::Acquire) {
        0 => {}
        signal => return crate::exit::Exit::Signal(signal),
    }
    match status {
        Ok(status) => match (
            status.code(),
            std::os::unix::process::ExitStatusExt::signal(&status),
        ) {
            (Some(code), _) => crate::exit::Exit::Code(code),
            (None, Some(sig)) => crate::exit::Exit::Signal(sig),
            (None, None) => crate::exit::Exit::Code(crate::exit::OWN_ERROR),
        },
        Err(err) => {
            eprintln!(
                "parx: --slurm-alloc: cannot run {}: {err}",
                salloc.to_string_lossy()
            );
            crate::exit::Exit::Code(crate::exit::OWN_ERROR)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(argv: &Argv) -> Vec<String> {
        argv.iter()
            .map(|w| String::from_utf8_lossy(w).into_owned())
            .collect()
    }

    #[test]
    fn steps_inside_an_allocation_jobs_outside() {
        let mut slurm = Slurm {
            srun: vec!["srun".into()],
            args: vec!["-c2".into()],
            in_allocation: true,
        };
        let direct = CommandLine::Direct(["gzip", "a b"].into_iter().collect());
        assert_eq!(
            words(&slurm.wrap(&direct, &["sh".into()])),
            ["srun", "--exact", "-n1", "-c1", "--quiet", "-c2", "gzip", "a b"]
        );
        slurm.in_allocation = false;
        let shell = CommandLine::Shell(b"echo 'x' | wc".to_vec());
        assert_eq!(
            words(&slurm.wrap(&shell, &["sh".into()])),
            [
                "srun",
                "-n1",
                "-c1",
                "--quiet",
                "-c2",
                "sh",
                "-c",
                "echo 'x' | wc"
            ]
        );
    }
}
