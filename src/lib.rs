//! nb2svc: turn a Jupyter notebook and its requirements into a containerized FastAPI service.

pub mod diagnostics;
pub mod docker_run;
pub mod import_map;
pub mod notebook;
pub mod python;
pub mod requirements;
