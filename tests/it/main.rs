//! Integration tests: the CLI as a user runs it, snapshots of every generated file, the whole
//! corpus, and the generated service running for real.

mod cli;
mod contract;
mod corpus;
mod corpus_service;
mod deploy;
mod devcontainer;
mod docker;
mod fuzz;
mod injection;
mod lint;
mod lock;
mod runtime;
mod service;
mod snapshots;
mod support;
mod swarm;
