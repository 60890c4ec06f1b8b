//! Shell completion scripts and man pages, both generated from the clap structs of `cli.rs`,
//! so they never drift from `--help`.

use std::io::Write;
use std::path::Path;

use clap::CommandFactory;

use crate::cli::Cli;

/// `ptest completions SHELL`: the script on stdout.
pub(crate) fn completions(shell: clap_complete::Shell) {
    let mut cmd = Cli::command();
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut cmd, "ptest", &mut script);
    crate::print_stdout(&String::from_utf8_lossy(&script));
}

/// `ptest man`: ptest.1 on stdout, or with a folder ptest.1 and `ptest-COMMAND.1` there.
pub(crate) fn man(dir: Option<&Path>) -> Result<(), String> {
    let mut cmd = Cli::command();
    cmd.build();
    let Some(dir) = dir else {
        let mut page = Vec::new();
        render(&cmd, &mut page)?;
        crate::print_stdout(&String::from_utf8_lossy(&page));
        return Ok(());
    };
    std::fs::create_dir_all(dir)
        .map_err(|e| format!("cannot make {}: {}", dir.display(), crate::io_message(&e)))?;
    let mut pages = vec![("ptest.1".to_owned(), cmd.clone())];
    for sub in cmd.get_subcommands().filter(|s| s.get_name() != "help") {
        let name = format!("ptest-{}", sub.get_name());
        pages.push((format!("{name}.1"), sub.clone().name(name)));
    }
    for (file, page_cmd) in pages {
        let path = dir.join(&file);
        let mut page = Vec::new();
        render(&page_cmd, &mut page)?;
        std::fs::write(&path, page)
            .map_err(|e| format!("cannot write {}: {}", path.display(), crate::io_message(&e)))?;
        let _ = writeln!(std::io::stderr().lock(), "wrote {}", path.display());
    }
    Ok(())
}

fn render(cmd: &clap::Command, out: &mut Vec<u8>) -> Result<(), String> {
    clap_mangen::Man::new(cmd.clone())
        .render(out)
        .map_err(|e| format!("cannot render the man page: {}", crate::io_message(&e)))
}
