//! The `kiteline` binary's library: command line, configuration, key file,
//! start-up and the job worker. `main.rs` only calls [`cli::main`].

pub mod cli;
pub mod config;
pub mod keyfile;
pub mod listener;
pub mod secrets;
pub mod serve;
pub mod witness;
pub mod worker;
