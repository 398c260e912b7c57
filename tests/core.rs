//! Core behaviour: inputs, templates, execution and exit statuses.

use crate::util::{sorted_lines, Env};

#[test]
fn runs_each_argument_as_a_job() {
    let env = Env::new();
    let out = env.parx(["echo", ":::", "a", "b", "c"]).stdout();
    assert_eq!(sorted_lines(&out), ["a", "b", "c"]);
}
