//! The few Unix calls std does not offer, each wrapped once with its safety
//! argument. This is the only module allowed `unsafe`.
#![allow(unsafe_code)]

use std::io;
use std::os::fd::{AsRawFd, BorrowedFd};

/// Sends `signal` to the process group `pgid`.
pub(crate) fn kill_group(pgid: u32, signal: i32) {
    let Ok(pgid) = libc::pid_t::try_from(pgid) else {
        return;
    };
    if pgid <= 1 {
        return; // never signal "every process" or init's group by accident
    }
    // SAFETY: killpg has no memory-safety preconditions; errors (ESRCH) are ignored on purpose.
    unsafe {
        libc::killpg(pgid, signal);
    }
}

/// Blocks until child `pid` has exited, without reaping it, so its process
/// group id cannot be reused while parx may still signal it.
pub(crate) fn wait_exit_keep_zombie(pid: u32) -> io::Result<()> {
    let pid = libc::id_t::from(pid);
    loop {
        // SAFETY: siginfo_t is plain data, zeroed is a valid value; the pointer is valid for the call.
        let rc = unsafe {
            let mut info: libc::siginfo_t = std::mem::zeroed();
            libc::waitid(libc::P_PID, pid, &mut info, libc::WEXITED | libc::WNOWAIT)
        };
        if rc == 0 {
            return Ok(());
        }
        let err = io::Error::last_os_error();
        if err.kind() != io::ErrorKind::Interrupted {
            return Err(err);
        }
    }
}

/// Waits until at least one of the (up to two) open fds is readable or
/// closed, and says which. Fixed-size, so the per-job read loop allocates
/// nothing.
pub(crate) fn poll_readable(fds: [Option<BorrowedFd<'_>>; 2]) -> io::Result<[bool; 2]> {
    let mut pollfds = [libc::pollfd {
        fd: -1,
        events: 0,
        revents: 0,
    }; 2];
    let mut n = 0;
    let mut slot_of = [0usize; 2];
    for (i, fd) in fds.iter().enumerate() {
        if let Some(fd) = fd {
            pollfds[n] = libc::pollfd {
                fd: fd.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            };
            slot_of[n] = i;
            n += 1;
        }
    }
    loop {
        // SAFETY: pollfds is a valid, exclusively borrowed array of at least n entries.
        let rc = unsafe { libc::poll(pollfds.as_mut_ptr(), n as libc::nfds_t, -1) };
        if rc >= 0 {
            break;
        }
        let err = io::Error::last_os_error();
        if err.kind() != io::ErrorKind::Interrupted {
            return Err(err);
        }
    }
    let mut ready = [false; 2];
    for (p, &i) in pollfds[..n].iter().zip(&slot_of) {
        ready[i] = p.revents != 0;
    }
    Ok(ready)
}

/// The kernel's limit on argv plus environment (`sysconf(_SC_ARG_MAX)`).
pub(crate) fn arg_max() -> usize {
    // SAFETY: sysconf has no preconditions.
    let n = unsafe { libc::sysconf(libc::_SC_ARG_MAX) };
    usize::try_from(n)
        .ok()
        .filter(|&n| n > 0)
        .unwrap_or(128 * 1024)
}

/// A soft and hard resource limit.
pub(crate) fn rlimit(resource: Resource) -> (u64, u64) {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: lim is a valid out pointer.
    let rc = unsafe { libc::getrlimit(resource.raw(), &mut lim) };
    if rc != 0 {
        return (u64::MAX, u64::MAX);
    }
    (lim.rlim_cur, lim.rlim_max)
}

/// Raises the soft limit on open files to the hard limit: each running job
/// holds a few pipes, and `-j 0` or a deep keep-order buffer needs many.
pub(crate) fn raise_nofile_limit() {
    let (soft, hard) = rlimit(Resource::OpenFiles);
    if soft < hard {
        let lim = libc::rlimit {
            rlim_cur: hard,
            rlim_max: hard,
        };
        // SAFETY: lim is a valid pointer; failure just keeps the old limit.
        unsafe {
            libc::setrlimit(libc::RLIMIT_NOFILE, &lim);
        }
    }
}

/// The resource limits parx reads.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Resource {
    /// RLIMIT_NOFILE
    OpenFiles,
    /// RLIMIT_NPROC
    Processes,
}

impl Resource {
    fn raw(self) -> libc::__rlimit_resource_t {
        match self {
            Resource::OpenFiles => libc::RLIMIT_NOFILE,
            Resource::Processes => libc::RLIMIT_NPROC,
        }
    }
}

/// Restores the default action of `signal` and sends it to parx itself, so
/// the parent sees parx die of it (as a shell loop expects after Ctrl-C).
/// Returns only if the signal did not end the process.
pub(crate) fn die_of_signal(signal: i32) {
    // SAFETY: resetting a disposition to SIG_DFL and unblocking/raising the signal
    // have no memory-safety preconditions.
    unsafe {
        libc::signal(signal, libc::SIG_DFL);
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, signal);
        libc::pthread_sigmask(libc::SIG_UNBLOCK, &set, std::ptr::null_mut());
        libc::raise(signal);
    }
}
