use std::convert::Infallible;
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
        .spawn(move || -> Infallible {
            let result = nb2svc::run(
                cli,
                &mut std::io::stdout().lock(),
                &mut std::io::stderr().lock(),
            );
            // The process ends here, on the worker (`exit` flushes stdout): ending this
            // thread (its stack, its allocator heap) and waking the main thread to return
            // from `main` took a quarter to half a millisecond on a big notebook.
            std::process::exit(exit_code(result).into())
        });
    // While the worker starts and reads the notebook, this thread starts the helpers
    // that its passes spread their work over.
    nb2svc::start_helpers();
    let error = match worker {
        Ok(handle) => match handle.join() {
            Ok(never) => match never {},
            Err(_) => anyhow::anyhow!("internal error: nb2svc panicked (see above)"),
        },
        Err(error) => anyhow::anyhow!("cannot start nb2svc's worker thread: {error}"),
    };
    ExitCode::from(exit_code(Err(error)))
}

/// Reports an error on stderr; the process's exit status.
fn exit_code(result: anyhow::Result<()>) -> u8 {
    match result {
        Ok(()) => 0,
        Err(error) => {
            eprintln!("error: {error:#}");
            1
        }
    }
}
