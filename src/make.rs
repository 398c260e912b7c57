//! A GNU make jobserver client: under `make -jN`, parx runs a job only with
//! a token from make, so a whole build never runs more than N processes.
//!
//! Every process make starts holds one implicit token; parx uses it for one
//! job and takes a token from the jobserver for every other job running at
//! the same time, giving it back when the job ends. Blocking reads of the
//! jobserver happen on the `jobserver` crate's helper thread, so a worker
//! waiting for a token still notices Ctrl-C. Jobs inherit make's jobserver
//! (its fds and MAKEFLAGS), so a nested make shares the same limit.

use std::ffi::OsStr;
use std::io;
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::time::Duration;

use crate::signal::Control;

/// How often a worker waiting for a token checks whether parx is stopping.
const STOP_POLL: Duration = Duration::from_millis(50);

/// What the environment says about a jobserver.
pub enum Found {
    /// No jobserver (none offered, or make disabled it for this recipe).
    None,
    /// A usable jobserver, and make's `-j` if MAKEFLAGS names it.
    Client(::jobserver::Client, Option<usize>),
    /// MAKEFLAGS names a jobserver parx cannot use (a recipe without `+`
    /// gets closed fds): the reason, for a warning.
    Unusable(String),
}

/// Looks for make's jobserver. Call before opening any file: the
/// jobserver is named by fd numbers, which must still be make's.
pub fn from_env() -> Found {
    use ::jobserver::FromEnvErrorKind as Kind;
    // SAFETY (of the crate's contract): called first thing in `run`, before
    // parx opens any file descriptor, and the pipe check is on, so an fd
    // number that is not make's pipe is refused rather than adopted.
    #[allow(unsafe_code)]
    let found = unsafe { ::jobserver::Client::from_env_ext(true) };
    let make_jobs = found
        .var
        .as_ref()
        .and_then(|(_, value)| jobs_in_makeflags(value));
    match found.client {
        Ok(client) => Found::Client(client, make_jobs),
        Err(err) => match err.kind() {
            Kind::NoEnvVar | Kind::NoJobserver | Kind::NegativeFd | Kind::Unsupported => {
                Found::None
            }
            _ => Found::Unusable(err.to_string()),
        },
    }
}

/// make's `-jN` from MAKEFLAGS (`" -j3 --jobserver-auth=3,4"`).
pub fn jobs_in_makeflags(value: &OsStr) -> Option<usize> {
    let text = value.to_str()?;
    text.split_whitespace().find_map(|word| {
        let n = word
            .strip_prefix("-j")
            .or_else(|| word.strip_prefix("--jobs="))?;
        n.parse().ok().filter(|&n| n > 0)
    })
}

/// A token a job runs on.
pub enum Token {
    /// The token make gave parx itself.
    Implicit,
    /// One read from the jobserver; released when dropped.
    Acquired(::jobserver::Acquired),
}

#[derive(Default)]
struct State {
    implicit_free: bool,
    /// Tokens read for workers that have not picked them up yet.
    spare: Vec<::jobserver::Acquired>,
    /// Workers waiting for a token.
    waiting: usize,
    /// Tokens asked of the helper thread and not yet delivered.
    requested: usize,
    error: Option<String>,
}

struct Shared {
    state: Mutex<State>,
    delivered: Condvar,
}

impl Shared {
    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Hands out make's tokens to parx's job slots.
pub struct Jobserver {
    shared: Arc<Shared>,
    helper: ::jobserver::HelperThread,
}

impl Jobserver {
    /// Starts the helper thread that reads tokens.
    pub fn new(client: ::jobserver::Client) -> io::Result<Self> {
        let shared = Arc::new(Shared {
            state: Mutex::new(State {
                implicit_free: true,
                ..State::default()
            }),
            delivered: Condvar::new(),
        });
        let for_helper = Arc::clone(&shared);
        let helper = client.into_helper_thread(move |token| {
            let mut state = for_helper.lock();
            state.requested = state.requested.saturating_sub(1);
            match token {
                // Keep it only if a worker still waits; otherwise dropping
                // it gives it straight back to make.
                Ok(token) if state.spare.len() < state.waiting => {
                    state.spare.push(token);
                    for_helper.delivered.notify_one();
                }
                Ok(_) => {}
                Err(err) => {
                    state.error = Some(err.to_string());
                    for_helper.delivered.notify_all();
                }
            }
        })?;
        Ok(Self { shared, helper })
    }

    /// Waits for a token; `None` once parx is stopping (or the jobserver
    /// failed, which is reported once).
    pub fn take(&self, control: &Control) -> Option<Token> {
        let mut state = self.shared.lock();
        state.waiting += 1;
        let token = loop {
            if control.is_stopping() || state.error.is_some() {
                break None;
            }
            if state.implicit_free {
                state.implicit_free = false;
                break Some(Token::Implicit);
            }
            if let Some(token) = state.spare.pop() {
                break Some(Token::Acquired(token));
            }
            if state.requested < state.waiting {
                state.requested += 1;
                self.helper.request_token();
            }
            state = self
                .shared
                .delivered
                .wait_timeout(state, STOP_POLL)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        };
        state.waiting -= 1;
        token
    }

    /// Returns a token when its job has ended.
    pub fn give_back(&self, token: Token) {
        let mut state = self.shared.lock();
        match token {
            Token::Implicit => state.implicit_free = true,
            // Another slot is waiting: pass the token on instead of
            // returning it to make and asking again.
            Token::Acquired(token) if state.spare.len() < state.waiting => state.spare.push(token),
            Token::Acquired(token) => drop(token),
        }
        self.shared.delivered.notify_one();
    }

    /// Why the jobserver stopped working, if it did.
    pub fn error(&self) -> Option<String> {
        self.shared.lock().error.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::signal::default_termseq;

    #[test]
    fn make_jobs_from_makeflags() {
        assert_eq!(
            jobs_in_makeflags(OsStr::new(" -j3 --jobserver-auth=3,4")),
            Some(3)
        );
        assert_eq!(
            jobs_in_makeflags(OsStr::new("-j8 --jobserver-auth=fifo:/tmp/x")),
            Some(8)
        );
        assert_eq!(jobs_in_makeflags(OsStr::new("--jobserver-auth=3,4")), None);
        assert_eq!(
            jobs_in_makeflags(OsStr::new("-j --jobserver-auth=3,4")),
            None
        );
    }

    #[test]
    fn tokens_beyond_the_implicit_one_come_from_the_jobserver() {
        // A jobserver of our own with two tokens: with the implicit one,
        // three jobs may run; the fourth waits until one is given back.
        let client = ::jobserver::Client::new(2).unwrap();
        let js = Jobserver::new(client).unwrap();
        let control = Control::new(4, default_termseq());
        let a = js.take(&control).unwrap();
        let b = js.take(&control).unwrap();
        let c = js.take(&control).unwrap();
        assert!(matches!(a, Token::Implicit));
        assert!(matches!(b, Token::Acquired(_)) && matches!(c, Token::Acquired(_)));
        std::thread::scope(|s| {
            let waiter = s.spawn(|| js.take(&control).is_some());
            js.give_back(b);
            assert!(waiter.join().unwrap());
        });
        // Stopping releases a waiting worker without a token.
        control.stop(crate::signal::StopCause::Hangup);
        assert!(js.take(&control).is_none());
        js.give_back(a);
        js.give_back(c);
    }
}
