//! The `selfheal` command: parses the command line, runs the library, prints, and maps the
//! outcome to the exit codes of the README (all in `cli`).

#![forbid(unsafe_code)]

mod cli;

fn main() -> std::process::ExitCode {
    cli::main()
}
