//! The `runner` command line: parses arguments, calls the library, maps failures to exit codes
//! (2: the spec is invalid, 1: anything else went wrong).

mod cli;

use clap::Parser;
use std::process::ExitCode;

fn main() -> ExitCode {
    // A closed stdout (`runner compare runs | head -1`) ends the program quietly, as it does
    // other command-line tools, instead of making `println!` panic. Rust ignores SIGPIPE by
    // default; this restores the default action.
    // SAFETY: called before any thread starts; SIG_DFL is a valid disposition for SIGPIPE.
    unsafe { libc::signal(libc::SIGPIPE, libc::SIG_DFL) };
    // SAFETY: no other thread has started yet.
    unsafe { runner::device::pin_default_device() };
    runner::device::allocator::reuse_freed_buffers();
    let args = cli::Cli::parse();
    cli::init_logging(args.quiet);
    match cli::run(args.command, args.quiet) {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => {
            eprintln!("{failure}");
            ExitCode::from(failure.exit_code())
        }
    }
}
