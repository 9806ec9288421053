use std::process::ExitCode;

use clap::Parser;

/// mimalloc instead of the system's allocator: the analysis builds and drops a syntax tree
/// and its facts for every cell, and glibc's allocator took a quarter of a conversion's
/// instructions (see BENCHMARKS.md). Without transparent huge pages, which would add about
/// 20 MiB to the resident set of a short run.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = nb2svc::cli::Cli::parse();
    let worker = std::thread::Builder::new()
        .name("nb2svc".into())
        .stack_size(nb2svc::STACK_BYTES)
        .spawn(move || {
            nb2svc::run(
                cli,
                &mut std::io::stdout().lock(),
                &mut std::io::stderr().lock(),
            )
        });
    // While the worker reads its arguments and the notebook, this thread starts the helpers
    // that its passes spread their work over.
    nb2svc::start_helpers();
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
