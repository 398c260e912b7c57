//! Starting a job's process: posix_spawn(3) straight from parx's own
//! buffers.
//!
//! Written by hand rather than through `std::process::Command` for memory:
//! Command copies every argument into an allocation of its own and keeps a
//! `CString`, a pointer and allocator overhead for each (about 56 bytes an
//! argument beside its bytes), and captures the whole environment again on
//! every spawn that adds a variable. A packed (`-X`) command holds up to
//! ARG_MAX of arguments, some 130,000 short ones here, so each slot that
//! spawned one held about 7 MiB for it. Here a [`Program`] takes over the
//! job's argv buffers and lays them out in place, NUL-terminated back to
//! back with one pointer array (9 bytes an argument beside its bytes, and
//! no copy), and the job drops it once started. (The `nix` crate's spawn
//! takes one `CString` per argument too.)
//!
//! What the child gets is what std's posix_spawn path gives it: the
//! program looked up in `PATH` when its name has no `/`, stdin, stdout and
//! stderr as asked, parx's blocked-signal mask (as std has passed it on
//! since Rust 1.66, and as xargs and GNU parallel do), SIGPIPE back to its default (Rust
//! ignores it in parx), optionally a process group of its own, and every
//! other open descriptor closed by close-on-exec, as all of parx's are. An
//! executable file without a `#!` line runs under /bin/sh, as execvp runs
//! it (std's Command reported "Exec format error").
//! Signals parx was started with ignored stay ignored.
//!
//! glibc's posix_spawn reports a failed exec as its return value from
//! version 2.24 on (2016); with an older glibc a missing program would show
//! as exit 127 without a message. The lookup in `PATH` happens in the child,
//! which reads the environment unlocked: a library user who calls
//! `std::env::set_var` from another thread while jobs start races with it,
//! as with any C code that reads the environment.
//!
//! This module and `sys` are the only ones allowed `unsafe`.

#![allow(unsafe_code)]

use std::ffi::OsStr;
use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::{OsStrExt, OsStringExt};

use crate::input::Values;

/// A command laid out for posix_spawn: the program and its arguments
/// NUL-terminated, back to back, and a null-terminated array of pointers to
/// them (into a buffer that is never changed once they are made).
pub(crate) struct Program {
    strings: Vec<u8>,
    argv: Vec<*const libc::c_char>,
}

impl Program {
    /// `values` (the program, then its arguments), laid out in their own
    /// buffers: a NUL goes in after each value, which moves the bytes along
    /// in place, and where each value ends becomes where it starts, then
    /// its pointer. A packed command of ARG_MAX is not copied again.
    pub(crate) fn from_values(values: Values) -> io::Result<Self> {
        let (mut strings, mut at) = values.into_parts();
        if strings.contains(&0) {
            return Err(nul_byte());
        }
        let Some(&end) = at.last() else {
            // (No program at all is a program that is not there, as for exec.)
            return Err(io::Error::from_raw_os_error(libc::ENOENT));
        };
        strings.resize(end + at.len(), 0);
        // From the last value back, each moves right by its index: its
        // place ends before the one already moved after it.
        for i in (0..at.len()).rev() {
            let start = if i == 0 { 0 } else { at[i - 1] };
            let end = at[i];
            strings.copy_within(start..end, start + i);
            strings[end + i] = 0;
            at[i] = start + i;
        }
        Ok(Self::with_starts(strings, at))
    }

    /// `words` (the program, then its arguments), copied.
    pub(crate) fn from_words<'a>(
        words: impl Iterator<Item = &'a [u8]> + Clone,
    ) -> io::Result<Self> {
        let (count, bytes) = words
            .clone()
            .fold((0, 0), |(n, bytes), word| (n + 1, bytes + word.len() + 1));
        if count == 0 {
            return Err(io::Error::from_raw_os_error(libc::ENOENT));
        }
        let mut strings = Vec::with_capacity(bytes);
        let mut at = Vec::with_capacity(count + 1);
        for word in words {
            if word.contains(&0) {
                return Err(nul_byte());
            }
            at.push(strings.len());
            strings.extend_from_slice(word);
            strings.push(0);
        }
        Ok(Self::with_starts(strings, at))
    }

    /// `strings` with the strings starting at `at`: the pointers, made in
    /// `at`'s own allocation.
    fn with_starts(strings: Vec<u8>, mut at: Vec<usize>) -> Self {
        at.push(usize::MAX);
        let base = strings.as_ptr();
        let argv = at
            .into_iter()
            .map(|i| match i {
                usize::MAX => std::ptr::null(),
                i => base.wrapping_add(i).cast(),
            })
            .collect();
        Self { strings, argv }
    }

    /// The program's name, as given.
    pub(crate) fn name(&self) -> &[u8] {
        let end = self.strings.iter().position(|&b| b == 0);
        &self.strings[..end.unwrap_or(self.strings.len())]
    }
}

fn nul_byte() -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, "an argument holds a NUL byte")
}

/// What to start, and with which standard streams.
pub(crate) struct Request<'a> {
    /// The program and its arguments.
    pub program: &'a Program,
    /// Variables added to (or replacing those of) parx's environment.
    pub env: &'a [(&'a OsStr, &'a OsStr)],
    /// The child's stdin, stdout and stderr: `None` inherits parx's own.
    pub stdio: [Option<BorrowedFd<'a>>; 3],
    /// Put the child in a new process group of its own (its pid).
    pub own_group: bool,
}

/// Starts the process `request` describes; its pid.
///
/// Errors as `Command::spawn` reports them: the OS error posix_spawn
/// returned (`NotFound` for a missing program, `EAGAIN` while the system is
/// out of processes), or `InvalidInput` when a variable holds a NUL byte
/// (as [`Program`] refuses an argument that does), which a command cannot
/// carry.
pub(crate) fn spawn(request: &Request<'_>) -> io::Result<u32> {
    let name = request.program.name();
    let search = !name.contains(&b'/');
    // The environment's strings the same way, in a buffer of their own.
    let mut strings = Vec::with_capacity(4096);
    let mut envp_at = Vec::new();
    for (name, value) in std::env::vars_os() {
        if !request.env.iter().any(|(n, _)| *n == name.as_os_str()) {
            envp_at.push(strings.len());
            push_variable(&mut strings, &name, &value);
        }
    }
    for (name, value) in request.env {
        if name.as_bytes().contains(&0) || value.as_bytes().contains(&0) {
            return Err(nul_byte());
        }
        envp_at.push(strings.len());
        push_variable(&mut strings, name, value);
    }
    // (The same layout as a program's: strings and pointers to them.)
    let envp = Program::with_starts(strings, envp_at);
    let (argv, envp) = (&request.program.argv, &envp.argv);

    // A descriptor the child gets as 0, 1 or 2 must not itself be 0, 1 or
    // 2 (possible when parx was started with one of them closed): the
    // dup2 onto a lower number would replace it before its own turn.
    let mut moved: Vec<OwnedFd> = Vec::new();
    let mut sources = [None; 3];
    for (target, fd) in request.stdio.iter().enumerate() {
        let Some(fd) = fd else { continue };
        if fd.as_raw_fd() <= 2 {
            moved.push(dup_above_stdio(*fd)?);
            sources[target] = moved.last().map(AsRawFd::as_raw_fd);
        } else {
            sources[target] = Some(fd.as_raw_fd());
        }
    }

    let mut actions = FileActions::new()?;
    for (target, source) in sources.iter().enumerate() {
        if let Some(source) = *source {
            let target = libc::c_int::try_from(target).expect("0, 1 or 2");
            actions.dup2(source, target)?;
        }
    }
    let attributes = Attributes::new(request.own_group)?;
    // The child's pid, or the error number posix_spawn returned.
    let launch = |search: bool, argv: &[*const libc::c_char]| -> Result<libc::pid_t, libc::c_int> {
        let mut pid: libc::pid_t = 0;
        // SAFETY: `actions` and `attributes` are initialised; every pointer
        // of `argv` and `envp` points at a NUL-terminated string that
        // outlives the call (in `strings`, or the caller's), and both arrays
        // end with a null pointer. glibc's posix_spawn reports exec failures
        // as its return value (it waits for the child to exec).
        let rc = unsafe {
            let (program, args, env) = (argv[0], argv.as_ptr().cast(), envp.as_ptr().cast());
            // posix_spawnp looks the name up in PATH unless it holds a '/', as execvp.
            if search {
                libc::posix_spawnp(&mut pid, program, &*actions.0, &*attributes.0, args, env)
            } else {
                libc::posix_spawn(&mut pid, program, &*actions.0, &*attributes.0, args, env)
            }
        };
        if rc == 0 {
            Ok(pid)
        } else {
            Err(rc)
        }
    };
    let mut spawned = launch(search, argv);
    if spawned == Err(libc::ENOEXEC) {
        // An executable file without a `#!` line: run it with /bin/sh, as
        // execvp does (and so GNU xargs, and the shell GNU parallel uses).
        if let Some(file) = which(name, search) {
            let shell = c"/bin/sh";
            let mut script: Vec<*const libc::c_char> = Vec::with_capacity(argv.len() + 1);
            script.extend([shell.as_ptr(), file.as_ptr()]);
            script.extend_from_slice(&argv[1..]);
            spawned = launch(false, &script);
        }
    }
    drop(moved);
    let pid = spawned.map_err(io::Error::from_raw_os_error)?;
    Ok(u32::try_from(pid).expect("a child's pid is positive"))
}

/// The file `name` runs: itself if it holds a `/`, else the first
/// executable file of that name in `PATH` (as posix_spawnp finds it).
fn which(name: &[u8], search: bool) -> Option<std::ffi::CString> {
    use std::os::unix::fs::PermissionsExt;
    let runnable = |path: &std::path::Path| {
        std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
    };
    let found = if search {
        // (glibc's default PATH when there is none.)
        let path = std::env::var_os("PATH").unwrap_or_else(|| "/bin:/usr/bin".into());
        std::env::split_paths(&path)
            .map(|dir| dir.join(OsStr::from_bytes(name)))
            .find(|file| runnable(file))?
    } else {
        std::path::PathBuf::from(OsStr::from_bytes(name))
    };
    std::ffi::CString::new(found.into_os_string().into_vec()).ok()
}

fn push_variable(strings: &mut Vec<u8>, name: &OsStr, value: &OsStr) {
    strings.extend_from_slice(name.as_bytes());
    strings.push(b'=');
    strings.extend_from_slice(value.as_bytes());
    strings.push(0);
}

/// posix_spawn's functions return an error number rather than setting errno.
fn check(rc: libc::c_int) -> io::Result<()> {
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::from_raw_os_error(rc))
    }
}

/// A close-on-exec duplicate of `fd` numbered 3 or above.
fn dup_above_stdio(fd: BorrowedFd<'_>) -> io::Result<OwnedFd> {
    // SAFETY: F_DUPFD_CLOEXEC returns a new descriptor or -1.
    let fd = unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_DUPFD_CLOEXEC, 3) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: the kernel just returned this descriptor; nothing else owns it.
    Ok(unsafe { std::os::fd::FromRawFd::from_raw_fd(fd) })
}

/// posix_spawn_file_actions_t, destroyed on drop.
struct FileActions(Box<libc::posix_spawn_file_actions_t>);

impl FileActions {
    fn new() -> io::Result<Self> {
        // SAFETY: the type is plain data; init fills it in before any use.
        let mut actions =
            Box::new(unsafe { std::mem::zeroed::<libc::posix_spawn_file_actions_t>() });
        // SAFETY: the pointer is valid and the struct not yet initialised.
        check(unsafe { libc::posix_spawn_file_actions_init(&mut *actions) })?;
        Ok(Self(actions))
    }

    /// The child's `source` descriptor becomes `target`.
    fn dup2(&mut self, source: libc::c_int, target: libc::c_int) -> io::Result<()> {
        // SAFETY: initialised in new; both are plain descriptor numbers.
        check(unsafe { libc::posix_spawn_file_actions_adddup2(&mut *self.0, source, target) })
    }
}

impl Drop for FileActions {
    fn drop(&mut self) {
        // SAFETY: initialised in new, destroyed once.
        unsafe {
            libc::posix_spawn_file_actions_destroy(&mut *self.0);
        }
    }
}

/// posix_spawnattr_t, destroyed on drop.
struct Attributes(Box<libc::posix_spawnattr_t>);

impl Attributes {
    /// SIGPIPE at its default in the child (the signal mask is inherited), and a
    /// process group of its own if `own_group`.
    fn new(own_group: bool) -> io::Result<Self> {
        // SAFETY: the type is plain data; init fills it in before any use.
        let mut attr = Box::new(unsafe { std::mem::zeroed::<libc::posix_spawnattr_t>() });
        // SAFETY: the pointer is valid and the struct not yet initialised.
        check(unsafe { libc::posix_spawnattr_init(&mut *attr) })?;
        // (Destroyed on drop from here on, also on an error below.)
        let mut this = Self(attr);
        let attr = &mut *this.0;
        let mut flags = libc::POSIX_SPAWN_SETSIGDEF;
        // SAFETY: `attr` is initialised; the sigset_t is filled in by
        // sigemptyset before it is read.
        unsafe {
            let mut set: libc::sigset_t = std::mem::zeroed();
            libc::sigemptyset(&mut set);
            libc::sigaddset(&mut set, libc::SIGPIPE);
            check(libc::posix_spawnattr_setsigdefault(attr, &set))?;
            if own_group {
                flags |= libc::POSIX_SPAWN_SETPGROUP;
                check(libc::posix_spawnattr_setpgroup(attr, 0))?;
            }
            let flags = libc::c_short::try_from(flags).expect("posix_spawn flags fit a short");
            check(libc::posix_spawnattr_setflags(attr, flags))?;
        }
        Ok(this)
    }
}

impl Drop for Attributes {
    fn drop(&mut self) {
        // SAFETY: initialised in new, destroyed once.
        unsafe {
            libc::posix_spawnattr_destroy(&mut *self.0);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    /// Runs `sh -c SCRIPT` through [`spawn`] with `env` added; its stdout
    /// and exit code.
    fn sh(script: &str, env: &[(&OsStr, &OsStr)], own_group: bool) -> (String, i32) {
        run(&[b"sh", b"-c", script.as_bytes()], env, own_group)
    }

    /// Runs `args` through [`spawn`]; its stdout and exit code.
    fn run(args: &[&[u8]], env: &[(&OsStr, &OsStr)], own_group: bool) -> (String, i32) {
        let (read, write) = crate::sys::pipe().expect("pipe");
        let program = Program::from_values(args.iter().collect()).expect("no NUL");
        let pid = spawn(&Request {
            program: &program,
            env,
            stdio: [None, Some(write.as_fd()), None],
            own_group,
        })
        .expect("sh starts");
        drop(write);
        let mut out = String::new();
        std::fs::File::from(read)
            .read_to_string(&mut out)
            .expect("read");
        let status = crate::sys::reap(pid).expect("reaped");
        (out, status.code().expect("exited"))
    }

    use std::os::fd::AsFd;

    /// Whether `signal` is in the child's signal set `field` of
    /// /proc/self/status (`SigIgn`, `SigBlk`), read by grep itself (not
    /// through sh: dash clears the mask when it starts).
    fn child_has(field: &str, signal: i32) -> bool {
        let pattern = format!("^{field}");
        let (out, code) = run(
            &[b"grep", pattern.as_bytes(), b"/proc/self/status"],
            &[],
            false,
        );
        assert_eq!(code, 0, "{out}");
        let mask = u64::from_str_radix(out.split_whitespace().nth(1).expect("mask"), 16)
            .expect("hex mask");
        mask & (1 << (signal - 1)) != 0
    }

    #[test]
    fn the_child_gets_sigpipe_back_at_its_default() {
        // Rust ignores SIGPIPE in this test process, as in parx.
        assert!(!child_has("SigIgn", libc::SIGPIPE));
    }

    #[test]
    fn added_variables_replace_inherited_ones() {
        // (HOME is inherited from the test's own environment; no set_var,
        // which would race with the other tests' spawns.)
        let home = std::env::var("HOME").expect("HOME is set");
        let env = [(OsStr::new("HOME"), OsStr::new("given"))];
        let (out, _) = sh("env | grep -c '^HOME='; echo $HOME", &env, false);
        assert_eq!(out, "1\ngiven\n");
        let (out, _) = sh("echo $HOME", &[], false);
        assert_eq!(out, format!("{home}\n"));
    }

    #[test]
    fn the_signal_mask_is_inherited() {
        // SAFETY: only this test's thread's mask changes, and it is put back.
        let old = unsafe {
            let mut set: libc::sigset_t = std::mem::zeroed();
            let mut old: libc::sigset_t = std::mem::zeroed();
            libc::sigemptyset(&mut set);
            libc::sigaddset(&mut set, libc::SIGUSR2);
            libc::pthread_sigmask(libc::SIG_BLOCK, &set, &mut old);
            old
        };
        let blocked = child_has("SigBlk", libc::SIGUSR2);
        // SAFETY: as above.
        unsafe {
            libc::pthread_sigmask(libc::SIG_SETMASK, &old, std::ptr::null_mut());
        }
        assert!(blocked, "SIGUSR2 not blocked in the child");
    }

    #[test]
    fn a_process_group_of_its_own_when_asked() {
        let pgid = |own| {
            let (out, _) = sh("ps -o pgid= -p $$; echo $$", &[], own);
            let ids: Vec<u32> = out
                .split_whitespace()
                .map(|w| w.parse().expect("id"))
                .collect();
            ids[0] == ids[1]
        };
        assert!(pgid(true));
        assert!(!pgid(false));
    }

    #[test]
    fn values_are_laid_out_in_place_each_nul_terminated() {
        let words: [&[u8]; 5] = [b"printf", b"%s|", b"", b"a b", b"\xff\xfe"];
        let program = Program::from_values(words.into_iter().collect()).expect("no NUL");
        assert_eq!(program.name(), b"printf");
        assert_eq!(program.argv.len(), words.len() + 1);
        assert!(program.argv[words.len()].is_null());
        for (i, word) in words.iter().enumerate() {
            // SAFETY: every pointer but the last points at a NUL-terminated
            // string in `program.strings`, which lives as long as `program`.
            let got = unsafe { std::ffi::CStr::from_ptr(program.argv[i]) };
            assert_eq!(got.to_bytes(), *word, "argument {i}");
        }
        assert_eq!(program.strings, b"printf\0%s|\0\0a b\0\xff\xfe\0");
        // And what the child gets (the empty argument included).
        let (out, code) = run(&words[..4], &[], false);
        assert_eq!((out.as_str(), code), ("|a b|", 0));
    }

    #[test]
    fn exit_codes_and_errors_come_back() {
        assert_eq!(sh("exit 3", &[], false).1, 3);
        let nul = [b"echo".as_slice(), b"a\0b"];
        let err = Program::from_words(nul.into_iter())
            .err()
            .expect("NUL byte");
        assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
        let err = Program::from_values(nul.into_iter().collect())
            .err()
            .expect("NUL byte");
        assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
        for name in [
            b"parx-no-such-program".as_slice(),
            b"./parx-no-such-program",
        ] {
            let program = Program::from_words([name].into_iter()).expect("no NUL");
            // (from_words here, from_values in `run`: both layouts start.)
            let err = spawn(&Request {
                program: &program,
                env: &[],
                stdio: [None; 3],
                own_group: false,
            })
            .expect_err("no such program");
            assert_eq!(err.kind(), io::ErrorKind::NotFound);
        }
    }
}
