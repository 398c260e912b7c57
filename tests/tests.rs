//! Integration tests: every module here runs the built `parx` binary.

#![allow(unreachable_pub)]

mod util;

mod completions;
mod core;
mod crash;
mod examples;
mod faults;
mod golden;
mod injection;
mod jobs;
mod load;
mod make;
mod man;
mod output;
mod pipe;
mod progress;
mod remote;
mod signals;
mod slurm;
mod slurm_harness;
mod ssh_harness;
mod xargs_conformance;
mod xargs_diff;
mod xargs_mode;
