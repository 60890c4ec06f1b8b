//! One integration test binary: drives the real `ptest` on configs written into temp dirs.

mod batches;
mod config_errors;
mod docs;
mod examples;
mod graph;
mod harness;
mod init;
mod install;
mod junit;
mod limits;
mod listing;
mod load;
mod lua_api;
mod merge;
mod outputs;
mod overrides;
mod probe;
mod processes;
mod rendering;
mod reports;
mod run_basic;
mod run_output;
mod run_stop;
mod selection;
mod tools;
mod workers;
