//! One integration test binary: drives the real `ptest` on configs written into temp dirs.

mod config_errors;
mod docs;
mod graph;
mod harness;
mod listing;
mod lua_api;
mod overrides;
mod rendering;
mod selection;
mod workers;
