use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = nb2svc::cli::Cli::parse();
    match nb2svc::run(
        cli,
        &mut std::io::stdout().lock(),
        &mut std::io::stderr().lock(),
    ) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}
