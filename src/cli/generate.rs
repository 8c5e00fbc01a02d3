//! `selfheal generate`: shell completions and the manual page selfheal(1), generated from
//! the command-line definitions and printed on stdout, for install steps and packagers.
//! The command is hidden from help and completions; it reads no root and writes no file.
//!
//! The manual is one self-contained page: the global synopsis and options, then every
//! command (nested ones as `selfheal journal list`) with its own synopsis, description and
//! options, then the exit status and environment.

use clap::Subcommand;
use clap_complete::Shell;
use clap_mangen::Man;
use std::io::{self, Write};

/// What `generate` prints.
#[derive(Debug, Subcommand)]
pub enum GenerateCommand {
    /// Completions for SHELL (bash, zsh, fish, elvish, powershell).
    Completions {
        /// The shell.
        #[arg(value_enum)]
        shell: Shell,
    },
    /// The manual page selfheal(1), in roff.
    Man,
}

/// Prints what `what` asks for, generated from `cmd` (the whole command line).
pub fn run(what: &GenerateCommand, cmd: clap::Command) -> io::Result<()> {
    let mut out = io::stdout().lock();
    match what {
        GenerateCommand::Completions { shell } => completions(*shell, cmd, &mut out),
        GenerateCommand::Man => man(cmd, &mut out),
    }?;
    out.flush()
}

/// The completion script for `shell`. It offers no hidden command (clap_complete would).
pub fn completions(shell: Shell, cmd: clap::Command, out: &mut dyn Write) -> io::Result<()> {
    let mut visible = clap::Command::new("selfheal")
        .version(super::version())
        .args(cmd.get_arguments().cloned())
        .subcommands(cmd.get_subcommands().filter(|s| !s.is_hide_set()).cloned());
    let mut buf = Vec::new();
    clap_complete::generate(shell, &mut visible, "selfheal", &mut buf);
    out.write_all(&buf)
}

/// The manual page.
pub fn man(mut cmd: clap::Command, out: &mut dyn Write) -> io::Result<()> {
    cmd.build();
    let top = Man::new(cmd.clone())
        .title("SELFHEAL")
        .source(concat!("selfheal ", env!("CARGO_PKG_VERSION")));
    top.render_title(out)?;
    top.render_name_section(out)?;
    top.render_synopsis_section(out)?;
    top.render_description_section(out)?;
    top.render_options_section(out)?;
    writeln!(out, ".SH COMMANDS")?;
    for sub in leaves(&cmd) {
        command_section(sub, out)?;
    }
    static_sections(out)?;
    top.render_version_section(out)
}

/// The visible commands that run something (a group such as `journal` is replaced by its
/// members, clap's own `help` is left out), in definition order.
pub fn leaves(cmd: &clap::Command) -> Vec<&clap::Command> {
    let mut out = Vec::new();
    let shown = cmd
        .get_subcommands()
        .filter(|s| !s.is_hide_set() && s.get_name() != "help");
    for sub in shown {
        if sub.has_subcommands() {
            out.extend(leaves(sub));
        } else {
            out.push(sub);
        }
    }
    out
}

/// One command: `.SS selfheal NAME`, its synopsis, description and own options (the global
/// ones are described once, above).
fn command_section(sub: &clap::Command, out: &mut dyn Write) -> io::Result<()> {
    let name = sub.get_bin_name().unwrap_or_else(|| sub.get_name());
    writeln!(out, ".SS \"{}\"", name.replace('"', ""))?;
    let own = sub
        .clone()
        .mut_args(|a| if a.is_global_set() { a.hide(true) } else { a });
    let page = Man::new(own);
    for render in [
        Man::render_synopsis_section,
        Man::render_description_section,
        Man::render_options_section,
    ] {
        let mut buf = Vec::new();
        render(&page, &mut buf)?;
        out.write_all(&without_headings(&buf))?;
        writeln!(out, ".PP")?;
    }
    Ok(())
}

/// `buf` without its `.SH` lines: a command's parts go under its own `.SS` heading.
fn without_headings(buf: &[u8]) -> Vec<u8> {
    let mut kept = Vec::with_capacity(buf.len());
    for line in buf.split_inclusive(|b| *b == b'\n') {
        if !line.starts_with(b".SH") {
            kept.extend_from_slice(line);
        }
    }
    kept
}

/// Items of a `.TP` list: (tag, text). No text starts with `.` or `'`, so it needs no
/// escaping beyond the backslashes it does not contain.
const EXIT_STATUS: &[(&str, &str)] = &[
    ("0", "The trading engine may start; the command did what was asked."),
    ("1", "check: repairs are pending. salvage: something was lost or the input held several versions."),
    ("4", "The engine must not start (real mode: a critical finding, a failed heal or a health score under 50); a rollback was refused; verification failed; a recovery conflict is left."),
    ("8", "Operational error: I/O, a missing root, a journal of an unknown newer format."),
    ("16", "Usage or configuration error, an unknown transaction id included."),
    ("32", "The wait for another selfheal's lock timed out, or the run was interrupted."),
];

const ENVIRONMENT: &[(&str, &str)] = &[
    ("SELFHEAL_ROOT", "The state root when --root is not given (default: the current directory)."),
    ("TRADING_MODE", "The mode when --mode is not given, else TRADING_MODE in the root's .env, else paper. The mode is paper only when the value, lowercased, is paper; anything else is real."),
    ("RUST_LOG", "Log filter for the messages on standard error (default: warn; -v info, -vv debug)."),
    ("NOTIFY_SOCKET", "watch: the systemd notification socket (READY=1, STATUS=, WATCHDOG=1, STOPPING=1)."),
];

fn static_sections(out: &mut dyn Write) -> io::Result<()> {
    writeln!(out, ".SH \"EXIT STATUS\"")?;
    writeln!(
        out,
        "When several codes apply, the highest wins (16 > 32 > 8 > 4 > 1 > 0)."
    )?;
    tp_list(EXIT_STATUS, out)?;
    writeln!(out, ".SH ENVIRONMENT")?;
    tp_list(ENVIRONMENT, out)
}

fn tp_list(items: &[(&str, &str)], out: &mut dyn Write) -> io::Result<()> {
    for (tag, text) in items {
        writeln!(out, ".TP\n\\fB{tag}\\fR\n{text}")?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_command_line_is_consistent() {
        super::super::Cli::command().debug_assert();
    }

    #[test]
    fn every_visible_command_has_a_manual_section() {
        let mut cmd = super::super::Cli::command();
        cmd.build();
        let names: Vec<String> = leaves(&cmd)
            .iter()
            .map(|c| c.get_bin_name().unwrap_or_default().to_string())
            .collect();
        assert!(
            names.contains(&"selfheal journal verify".to_string()),
            "{names:?}"
        );
        assert!(!names
            .iter()
            .any(|n| n.contains("generate") || n.contains("help")));
        let mut page = Vec::new();
        man(super::super::Cli::command(), &mut page).unwrap_or_else(|e| panic!("{e}"));
        let page = String::from_utf8_lossy(&page);
        for name in names {
            assert!(page.contains(&format!(".SS \"{name}\"")), "{name}");
        }
    }
}
