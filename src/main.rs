use std::process::ExitCode;

use clap::Parser;

/// The stack of the thread that does the work. `python::limits` keeps every syntax tree
/// shallow before the recursive parser and visitors see it; this much stack (reserved, only
/// touched as used) is the margin that keeps a debug build within them too.
const STACK_BYTES: usize = 256 * 1024 * 1024;

fn main() -> ExitCode {
    let cli = nb2svc::cli::Cli::parse();
    let worker = std::thread::Builder::new()
        .name("nb2svc".into())
        .stack_size(STACK_BYTES)
        .spawn(move || {
            nb2svc::run(
                cli,
                &mut std::io::stdout().lock(),
                &mut std::io::stderr().lock(),
            )
        });
    let result = match worker {
        Ok(handle) => match handle.join() {
            Ok(result) => result,
            Err(_) => Err(anyhow::anyhow!(
                "internal error: nb2svc panicked (see above)"
            )),
        },
        Err(error) => Err(anyhow::anyhow!(
            "cannot start nb2svc's worker thread: {error}"
        )),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}
