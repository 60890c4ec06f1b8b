//! One integration test binary: drives the real `ptest` on configs written into temp dirs.

mod config_errors;
mod examples;
mod harness;
mod limits;
mod listing;
mod merge;
mod outputs;
mod probe;
mod run_basic;
mod run_output;
mod run_stop;
