//! --bar: a live display on a real terminal (tmux), and nothing at all
//! when stderr is not a terminal.

use std::process::Command;

use crate::util::{parx_bin, wait_for, Env};

/// A tmux server of the test's own, killed when the test ends.
struct Tmux {
    socket: String,
}

impl Tmux {
    fn start(command: &str) -> Self {
        let socket = format!("parx-test-{}-{}", std::process::id(), command.len());
        let status = Command::new("tmux")
            .args([
                "-L",
                &socket,
                "new-session",
                "-d",
                "-x",
                "120",
                "-y",
                "10",
                command,
            ])
            .status()
            .expect("tmux runs (the test suite installs it)");
        assert!(status.success());
        Self { socket }
    }

    fn screen(&self) -> String {
        let out = Command::new("tmux")
            .args(["-L", &self.socket, "capture-pane", "-p"])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = Command::new("tmux")
            .args(["-L", &self.socket, "kill-server"])
            .status();
    }
}

#[test]
fn bar_shows_progress_on_a_terminal_and_keeps_stdout_clean() {
    let env = Env::new();
    let out = env.path("out");
    let done = env.path("done");
    let command = format!(
        "{} --bar -j2 'sleep 0.3; echo {{}}' ::: 1 2 3 4 5 6 > {}; touch {}; sleep 60",
        parx_bin().display(),
        out.display(),
        done.display()
    );
    let tmux = Tmux::start(&command);
    // Part way: a bar with a count out of the known total.
    wait_for("the bar to show progress", || {
        let screen = tmux.screen();
        ["1/6 jobs", "2/6 jobs", "3/6 jobs", "4/6 jobs"]
            .iter()
            .any(|s| screen.contains(s))
    });
    wait_for("parx to finish", || done.exists());
    assert!(tmux.screen().contains("6/6 jobs"), "{}", tmux.screen());
    let mut lines: Vec<String> = std::fs::read_to_string(&out)
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect();
    lines.sort();
    assert_eq!(
        lines,
        ["1", "2", "3", "4", "5", "6"],
        "stdout holds only the jobs' output"
    );
}

#[test]
fn bar_counts_when_the_total_is_unknown() {
    let env = Env::new();
    let done = env.path("done");
    let command = format!(
        "seq 3 | {} --bar -j1 'sleep 0.2; : {{}}' > /dev/null; touch {}; sleep 60",
        parx_bin().display(),
        done.display()
    );
    let tmux = Tmux::start(&command);
    wait_for("parx to finish", || done.exists());
    assert!(tmux.screen().contains("3 jobs done"), "{}", tmux.screen());
}

#[test]
fn no_bar_when_stderr_is_not_a_terminal() {
    let env = Env::new();
    let out = env.parx(["--bar", "echo", ":::", "a", "b"]).expect_code(0);
    assert_eq!(out.stderr, b"", "nothing drawn into a pipe");
    assert_eq!(out.stdout.len(), 4);
}

#[test]
fn bar_is_not_filled_when_halt_stops_the_run() {
    let env = Env::new();
    let done = env.path("done");
    // -j1: job 2 fails and --halt stops before jobs 3 to 6 start.
    let command = format!(
        "{} --bar -j1 --halt now,fail=1 'exit {{}}' ::: 0 1 0 0 0 0 2>&1; touch {}; sleep 60",
        parx_bin().display(),
        done.display()
    );
    let tmux = Tmux::start(&command);
    wait_for("parx to finish", || done.exists());
    let screen = tmux.screen();
    assert!(screen.contains("2/6 jobs"), "{screen}");
    assert!(!screen.contains("6/6 jobs"), "{screen}");
}
