//! The few Unix calls std does not offer, each wrapped once with its safety
//! argument. This and [`crate::spawn`] (posix_spawn from parx's own
//! buffers) are the only modules allowed `unsafe`.

// Some of these serve only the command-line program (the `cli` feature).
#![cfg_attr(not(feature = "cli"), allow(dead_code))]
#![allow(unsafe_code)]

use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::time::Duration;

/// Whether any process is left in process group `pgid`.
pub(crate) fn group_exists(pgid: u32) -> bool {
    let Ok(pgid) = libc::pid_t::try_from(pgid) else {
        return false;
    };
    // SAFETY: killpg with signal 0 only checks; no memory is involved.
    let found = unsafe { libc::killpg(pgid, 0) } == 0;
    found || io::Error::last_os_error().raw_os_error() == Some(libc::EPERM)
}

/// Sends `signal` to the process `pid` (errors ignored: it may be gone).
pub(crate) fn kill_process(pid: u32, signal: i32) {
    if let Ok(pid) = libc::pid_t::try_from(pid) {
        if pid > 1 {
            // SAFETY: kill has no memory-safety preconditions.
            unsafe {
                libc::kill(pid, signal);
            }
        }
    }
}

/// Sends `signal` to the process group `pgid`.
pub(crate) fn kill_group(pgid: u32, signal: i32) {
    let Ok(pgid) = libc::pid_t::try_from(pgid) else {
        return;
    };
    if pgid <= 1 {
        return; // never signal "every process" or init's group by accident
    }
    // SAFETY: killpg and kill have no memory-safety preconditions; other
    // errors are ignored on purpose (the job may be gone already).
    unsafe {
        // A job that had to stay in parx's group (xargs -o) leads none.
        if libc::killpg(pgid, signal) != 0
            && io::Error::last_os_error().raw_os_error() == Some(libc::ESRCH)
        {
            libc::kill(pgid, signal);
        }
    }
}

/// The C library's text for an errno value, without Rust's "(os error N)".
pub(crate) fn strerror(errno: i32) -> String {
    let text = io::Error::from_raw_os_error(errno).to_string();
    match text.rfind(" (os error ") {
        Some(at) => text[..at].to_string(),
        None => text,
    }
}

/// Where the file behind `fd` is read from next; None when it cannot seek
/// (a pipe, a terminal).
pub(crate) fn file_offset(fd: BorrowedFd<'_>) -> Option<u64> {
    // SAFETY: lseek on a borrowed, open descriptor has no memory effects.
    let at = unsafe { libc::lseek(fd.as_raw_fd(), 0, libc::SEEK_CUR) };
    u64::try_from(at).ok()
}

/// Moves the read offset of `fd` to `offset`, as `fflush` on stdin does
/// for a seekable file: a later reader starts where parx stopped reading.
pub(crate) fn set_file_offset(fd: BorrowedFd<'_>, offset: u64) {
    let Ok(offset) = libc::off_t::try_from(offset) else {
        return;
    };
    // SAFETY: as above; a failure leaves the offset where it was.
    unsafe {
        libc::lseek(fd.as_raw_fd(), offset, libc::SEEK_SET);
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

/// Reaps child `pid`, waiting for it to exit if it has not: how it ended.
pub(crate) fn reap(pid: u32) -> io::Result<std::process::ExitStatus> {
    use std::os::unix::process::ExitStatusExt;
    let pid = libc::pid_t::try_from(pid)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "no such process"))?;
    loop {
        let mut status: libc::c_int = 0;
        // SAFETY: the pointer is valid for the call.
        if unsafe { libc::waitpid(pid, &mut status, 0) } == pid {
            return Ok(std::process::ExitStatus::from_raw(status));
        }
        let err = io::Error::last_os_error();
        if err.kind() != io::ErrorKind::Interrupted {
            return Err(err);
        }
    }
}

/// Waits until one of `fds` is ready or `timeout` passes: readable (or
/// closed) for the first three, writable (or closed) for the fourth.
/// Returns which are ready. Fixed-size, so the per-job event loop
/// allocates nothing.
pub(crate) fn poll_ready(
    fds: [Option<BorrowedFd<'_>>; 4],
    timeout: Option<Duration>,
) -> io::Result<[bool; 4]> {
    let mut pollfds = [libc::pollfd {
        fd: -1,
        events: 0,
        revents: 0,
    }; 4];
    let mut slot_of = [0usize; 4];
    let mut n = 0;
    for (i, fd) in fds.iter().enumerate() {
        if let Some(fd) = fd {
            pollfds[n] = libc::pollfd {
                fd: fd.as_raw_fd(),
                events: if i == 3 { libc::POLLOUT } else { libc::POLLIN },
                revents: 0,
            };
            slot_of[n] = i;
            n += 1;
        }
    }
    // ppoll: timeouts below a millisecond (a feed's first pause) are kept.
    let timespec = timeout.map(|t| libc::timespec {
        tv_sec: libc::time_t::try_from(t.as_secs()).unwrap_or(libc::time_t::MAX),
        tv_nsec: libc::c_long::from(t.subsec_nanos()),
    });
    let timespec_ptr = timespec
        .as_ref()
        .map_or(std::ptr::null(), |t| t as *const libc::timespec);
    loop {
        // SAFETY: pollfds is a valid, exclusively borrowed array of at least
        // n entries; timespec_ptr is null or points to a live timespec; a
        // null signal mask leaves the mask as it is.
        let rc = unsafe {
            libc::ppoll(
                pollfds.as_mut_ptr(),
                n as libc::nfds_t,
                timespec_ptr,
                std::ptr::null(),
            )
        };
        if rc >= 0 {
            break;
        }
        let err = io::Error::last_os_error();
        if err.kind() != io::ErrorKind::Interrupted {
            return Err(err);
        }
    }
    let mut ready = [false; 4];
    for (p, &i) in pollfds[..n].iter().zip(&slot_of) {
        ready[i] = p.revents != 0;
    }
    Ok(ready)
}

/// Makes writes to `fd` return at once (WouldBlock) instead of waiting.
pub(crate) fn set_nonblocking(fd: BorrowedFd<'_>) -> io::Result<()> {
    // SAFETY: fcntl on a borrowed, open descriptor has no memory effects.
    unsafe {
        let flags = libc::fcntl(fd.as_raw_fd(), libc::F_GETFL);
        if flags < 0 || libc::fcntl(fd.as_raw_fd(), libc::F_SETFL, flags | libc::O_NONBLOCK) < 0 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(())
}

/// Adds `increment` to this thread's niceness, as nice(1) does; threads
/// started from here on and the processes they start inherit it.
pub(crate) fn nice(increment: i32) -> io::Result<()> {
    // nice(2) may return -1 as a valid niceness: errno tells.
    // SAFETY: errno is this thread's; nice takes an int.
    unsafe {
        *libc::__errno_location() = 0;
        if libc::nice(increment) == -1 && *libc::__errno_location() != 0 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(())
}

/// The online CPUs' topology from sysfs: (sockets, physical cores,
/// hardware threads). Where sysfs says nothing, every logical CPU counts as
/// a core of one socket.
pub(crate) fn cpu_topology() -> (usize, usize, usize) {
    let read = |path: String| std::fs::read_to_string(path).ok();
    let online: Vec<usize> = read("/sys/devices/system/cpu/online".into())
        .map(|list| cpu_list(list.trim()))
        .unwrap_or_default();
    let mut sockets = std::collections::BTreeSet::new();
    let mut cores = std::collections::BTreeSet::new();
    for cpu in &online {
        let dir = format!("/sys/devices/system/cpu/cpu{cpu}/topology");
        let package = read(format!("{dir}/physical_package_id"));
        let core = read(format!("{dir}/core_id"));
        if let (Some(package), Some(core)) = (package, core) {
            sockets.insert(package.trim().to_string());
            cores.insert((package.trim().to_string(), core.trim().to_string()));
        }
    }
    let threads = if online.is_empty() {
        std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get)
    } else {
        online.len()
    };
    if cores.is_empty() {
        return (1, threads, threads);
    }
    (sockets.len(), cores.len(), threads)
}

/// The CPUs of a sysfs list such as `0-3,8,10-11`.
fn cpu_list(text: &str) -> Vec<usize> {
    let mut cpus = Vec::new();
    for part in text.split(',').filter(|p| !p.is_empty()) {
        let (from, to) = part.split_once('-').unwrap_or((part, part));
        if let (Ok(from), Ok(to)) = (from.parse::<usize>(), to.parse::<usize>()) {
            cpus.extend(from..=to);
        }
    }
    cpus
}

/// A new pipe, both ends close-on-exec: (read end, write end).
pub(crate) fn pipe() -> io::Result<(OwnedFd, OwnedFd)> {
    let mut fds = [0 as libc::c_int; 2];
    // SAFETY: pipe2 writes two new descriptors into the array it is given.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: the kernel just returned these descriptors; nothing else owns them.
    Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
}

/// How many bytes sit in the pipe `fd` (either end) unread: FIONREAD.
pub(crate) fn bytes_in_pipe(fd: BorrowedFd<'_>) -> u64 {
    let mut n: libc::c_int = 0;
    // SAFETY: FIONREAD stores an int through the pointer it is given.
    if unsafe { libc::ioctl(fd.as_raw_fd(), libc::FIONREAD, &mut n) } < 0 {
        return 0;
    }
    u64::try_from(n).unwrap_or(0)
}

/// Moves up to `len` bytes of `file` at `*offset` into the pipe `pipe`
/// inside the kernel (splice(2), no copy through parx), advancing
/// `*offset`. Never waits: a full pipe gives WouldBlock.
pub(crate) fn splice_to_pipe(
    file: BorrowedFd<'_>,
    offset: &mut u64,
    pipe: BorrowedFd<'_>,
    len: usize,
) -> io::Result<usize> {
    let mut off = libc::loff_t::try_from(*offset)
        .map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
    // SAFETY: both descriptors are open and borrowed for the call; `off` is
    // a valid, exclusively borrowed loff_t the kernel updates.
    let n = unsafe {
        libc::splice(
            file.as_raw_fd(),
            &mut off,
            pipe.as_raw_fd(),
            std::ptr::null_mut(),
            len,
            libc::SPLICE_F_NONBLOCK | libc::SPLICE_F_MOVE,
        )
    };
    if n < 0 {
        return Err(io::Error::last_os_error());
    }
    *offset = u64::try_from(off).unwrap_or(*offset);
    Ok(usize::try_from(n).unwrap_or(0))
}

/// Sets LC_CTYPE from the environment (as C programs do at start) and says
/// whether it is UTF-8: a locale that is not installed counts as C.
pub(crate) fn ctype_is_utf8() -> bool {
    // SAFETY: called once at start of xargs mode's -t, before other threads
    // use locale-dependent C functions; the string nl_langinfo returns is
    // read at once.
    unsafe {
        if libc::setlocale(libc::LC_CTYPE, c"".as_ptr()).is_null() {
            return false;
        }
        let codeset = std::ffi::CStr::from_ptr(libc::nl_langinfo(libc::CODESET));
        codeset.to_bytes().eq_ignore_ascii_case(b"UTF-8")
    }
}

/// Whether the C library prints `c` (iswprint in the current locale):
/// false for controls, line and paragraph separators, unassigned code
/// points.
pub(crate) fn is_printable(c: char) -> bool {
    // The libc crate does not bind iswprint; wint_t is a 32-bit unsigned
    // int in glibc and musl.
    extern "C" {
        fn iswprint(wc: u32) -> libc::c_int;
    }
    // SAFETY: iswprint reads only locale tables.
    unsafe { iswprint(u32::from(c)) != 0 }
}

/// Makes a named pipe at `path` (mode 0600).
pub(crate) fn mkfifo(path: &std::path::Path) -> io::Result<()> {
    use std::os::unix::ffi::OsStrExt;
    let c = std::ffi::CString::new(path.as_os_str().as_bytes())
        .map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
    // SAFETY: c is a valid NUL-terminated path for the call's duration.
    if unsafe { libc::mkfifo(c.as_ptr(), 0o600) } == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// Whether `signal` is ignored (SIG_IGN), as `nohup` or a shell's `&`
/// leaves SIGHUP or SIGINT: parx then leaves it ignored.
pub(crate) fn is_ignored(signal: i32) -> bool {
    // SAFETY: sigaction with a null new action only reads the current one
    // into `old`, a valid, exclusively borrowed struct.
    unsafe {
        let mut old: libc::sigaction = std::mem::zeroed();
        libc::sigaction(signal, std::ptr::null(), &mut old) == 0
            && old.sa_sigaction == libc::SIG_IGN
    }
}

/// Whether parx runs in the foreground of its controlling terminal (an
/// interactive shell's job): then commands that use the terminal must stay
/// in parx's process group, or the terminal would stop them.
pub(crate) fn in_terminal_foreground() -> bool {
    let Ok(tty) = std::fs::File::open("/dev/tty") else {
        return false;
    };
    // SAFETY: tcgetpgrp on an open descriptor and getpgrp have no memory effects.
    unsafe {
        let fg = libc::tcgetpgrp(tty.as_raw_fd());
        fg > 0 && fg == libc::getpgrp()
    }
}

/// Asks for a pipe buffer of `bytes` (Linux); fewer wake-ups per block
/// fed to a job. Returns the capacity the kernel gave (at least `bytes`);
/// `None` on failure (an unprivileged limit), which keeps the default.
pub(crate) fn grow_pipe(fd: BorrowedFd<'_>, bytes: usize) -> Option<u64> {
    let bytes = libc::c_int::try_from(bytes).ok()?;
    // SAFETY: as above.
    let size = unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_SETPIPE_SZ, bytes) };
    u64::try_from(size).ok()
}

/// A pidfd for child `pid` (Linux 5.3 and later): readable once it exits.
/// `None` where the kernel has none; callers then poll [`has_exited`].
pub(crate) fn pidfd_open(pid: u32) -> Option<OwnedFd> {
    let pid = libc::pid_t::try_from(pid).ok()?;
    // SAFETY: pidfd_open takes a pid and flags and returns a new fd or -1.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
    let fd = libc::c_int::try_from(fd).ok().filter(|&fd| fd >= 0)?;
    // SAFETY: the kernel just returned this fd to us; nothing else owns it.
    Some(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// True once child `pid` has exited (it is left unreaped).
pub(crate) fn has_exited(pid: u32) -> bool {
    let pid = libc::id_t::from(pid);
    // SAFETY: siginfo_t is plain data, zeroed is valid; the pointer is valid for the call.
    unsafe {
        let mut info: libc::siginfo_t = std::mem::zeroed();
        let rc = libc::waitid(
            libc::P_PID,
            pid,
            &mut info,
            libc::WEXITED | libc::WNOHANG | libc::WNOWAIT,
        );
        rc == 0 && info.si_pid() != 0
    }
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

/// Open files one running job may hold in parx: both ends of its stdout
/// and stderr pipes while it starts, its pidfd, and a temporary file when
/// its output spills.
const FILES_PER_SLOT: u64 = 6;
/// Open files parx keeps for itself: standard streams, the job log, the
/// input files, signal and jobserver pipes.
const FILES_RESERVED: u64 = 32;

/// Raises the soft limit on open files as far as `slots` running jobs
/// need (at most the hard limit), and returns how many slots fit under
/// it: `slots`, or fewer where even the hard limit is too low, so that
/// jobs wait for a slot instead of failing to start with EMFILE.
pub(crate) fn fit_slots_to_open_files(slots: usize) -> usize {
    let needed = (slots as u64)
        .saturating_mul(FILES_PER_SLOT)
        .saturating_add(FILES_RESERVED);
    let (soft, hard) = rlimit(Resource::OpenFiles);
    // Only when needed: jobs inherit the limit, and programs using select()
    // break above 1024 descriptors.
    if soft < needed && soft < hard {
        let lim = libc::rlimit {
            rlim_cur: needed.min(hard),
            rlim_max: hard,
        };
        // SAFETY: lim is a valid pointer; failure just keeps the old limit.
        unsafe {
            libc::setrlimit(libc::RLIMIT_NOFILE, &lim);
        }
    }
    let (soft, _) = rlimit(Resource::OpenFiles);
    let fit = soft.saturating_sub(FILES_RESERVED) / FILES_PER_SLOT;
    slots.min(usize::try_from(fit).unwrap_or(usize::MAX)).max(1)
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

/// Runnable processes right now (the kernel's run queue, the fourth field
/// of /proc/loadavg), not counting the caller.
pub(crate) fn runnable_processes() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/loadavg").ok()?;
    let running = text.split_whitespace().nth(3)?.split('/').next()?;
    running.parse::<u64>().ok().map(|n| n.saturating_sub(1))
}

/// `-j 0`: as many slots as open-file and process limits allow, capped at
/// 1024 (each slot is a thread and holds up to four pipe ends).
pub(crate) fn max_slots() -> usize {
    let (files, _) = rlimit(Resource::OpenFiles);
    let (procs, _) = rlimit(Resource::Processes);
    let by_files = usize::try_from(files.saturating_sub(32) / 4).unwrap_or(usize::MAX);
    let by_procs = usize::try_from(procs / 2).unwrap_or(usize::MAX);
    by_files.min(by_procs).clamp(1, 1024)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_lists_are_read_as_sysfs_writes_them() {
        assert_eq!(cpu_list("0-3,8,10-11"), [0, 1, 2, 3, 8, 10, 11]);
        assert_eq!(cpu_list("0"), [0]);
        assert!(cpu_list("").is_empty());
    }
}
