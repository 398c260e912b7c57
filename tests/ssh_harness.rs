//! The throwaway sshd of `util::sshd` on its own, without parx: aliases
//! answer, remote processes are visible, and dropping it leaves nothing.

use std::path::Path;
use std::process::{Command, Stdio};

use crate::util::sshd::Sshd;
use crate::util::{is_alive, wait_for};

/// Starts `command` on each of `aliases` at once (logins cost ~150 ms
/// each) and returns what each printed, checking that it succeeded.
fn run_everywhere(sshd: &Sshd, aliases: &[&str], command: &str) -> Vec<String> {
    let children: Vec<_> = aliases
        .iter()
        .map(|alias| {
            sshd.ssh(alias)
                .arg(command)
                .stdin(Stdio::null())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    children
        .into_iter()
        .zip(aliases)
        .map(|(child, alias)| {
            let out = child.wait_with_output().unwrap();
            assert!(
                out.status.success(),
                "{alias}: {command}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            String::from_utf8(out.stdout).unwrap()
        })
        .collect()
}

#[test]
fn every_alias_answers() {
    let sshd = Sshd::start(&["alpha", "beta"]);
    // `ssh -F CONFIG ALIAS echo hi`, spelled out once.
    let out = Command::new("ssh")
        .arg("-F")
        .arg(sshd.config_path())
        .args(["alpha", "echo", "hi"])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(
        (out.status.code(), &*String::from_utf8_lossy(&out.stdout)),
        (Some(0), "hi\n"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        run_everywhere(&sshd, &["alpha", "beta"], "echo hi"),
        ["hi\n"; 2]
    );
    // ssh_command() is a shell-ready prefix, as a user would give --ssh.
    let out = Command::new("sh")
        .arg("-c")
        .arg(format!("{} beta id -un", sshd.ssh_command()))
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        format!("{}\n", sshd.user())
    );
}

#[test]
fn remote_processes_are_listed() {
    let sshd = Sshd::start(&["h"]);
    assert_eq!(sshd.processes_of_user(), []);
    let marker = format!("{}.{}", 3000, std::process::id());
    let mut client = sshd
        .ssh("h")
        .args(["sleep", &marker])
        .stdin(Stdio::null())
        .spawn()
        .unwrap();
    let wanted = format!("sleep {marker}");
    wait_for("the remote sleep", || {
        sshd.processes_of_user()
            .iter()
            .any(|(_, cmdline)| *cmdline == wanted)
    });
    // sshd's session processes (`sshd: USER@notty`) are not listed.
    assert!(
        sshd.processes_of_user()
            .iter()
            .all(|(_, cmdline)| !cmdline.starts_with("sshd")),
        "{:?}",
        sshd.processes_of_user()
    );
    client.kill().unwrap();
    client.wait().unwrap();
}

#[test]
fn drop_removes_user_sshd_and_leftovers() {
    let sshd = Sshd::start(&["h"]);
    let (user, pid, dir) = (sshd.user().to_owned(), sshd.pid(), sshd.dir().to_owned());
    let home = sshd.home().to_owned();
    assert!(is_alive(pid));
    // A remote command that outlives its ssh client (no tty, so no
    // SIGHUP): Drop must kill it before userdel can succeed.
    let out = sshd.run("h", "sleep 3001 </dev/null >/dev/null 2>&1 & echo $!");
    assert!(out.status.success(), "{out:?}");
    let sleeper: u32 = String::from_utf8_lossy(&out.stdout).trim().parse().unwrap();
    assert!(is_alive(sleeper));
    drop(sshd);
    let getent = Command::new("getent")
        .args(["passwd", &user])
        .output()
        .unwrap();
    assert_eq!(getent.status.code(), Some(2), "{user} still exists");
    assert!(!is_alive(pid), "sshd {pid} survives");
    assert!(!is_alive(sleeper), "remote sleep {sleeper} survives");
    assert!(!Path::new(&dir).exists(), "{} remains", dir.display());
    assert!(!home.exists(), "{} remains", home.display());
}

#[test]
fn two_servers_run_at_once() {
    let starts: Vec<_> = (0..2)
        .map(|_| std::thread::spawn(|| Sshd::start(&["a", "b"])))
        .collect();
    let servers: Vec<Sshd> = starts.into_iter().map(|t| t.join().unwrap()).collect();
    assert_ne!(servers[0].user(), servers[1].user());
    assert_ne!(servers[0].port(), servers[1].port());
    for sshd in &servers {
        let user = format!("{}\n", sshd.user());
        assert_eq!(
            run_everywhere(sshd, &["a", "b"], "id -un"),
            [user.as_str(); 2]
        );
    }
}
