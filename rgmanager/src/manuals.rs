//! Every installed tool's man page and shell completions, from the same source as its `--help`
//! (`tooldoc`): the clap declarations of our own tools, the help tables of the RHCS tools, the
//! options table of the fence agents.
//!
//! The files are generated into `packaging/` and committed, so that `cargo deb` packages them
//! as they are; `rgmanager/tests/generated_docs.rs` fails when one differs from what the
//! sources give now (`UPDATE_GENERATED=1` rewrites them).

use tooldoc::{Page, Shell};

/// The name the package installs the `demo` binary under (a bare `demo` has no place in a
/// system path).
pub const DEMO_INSTALLED_NAME: &str = "rgmanager-demo";

/// One installed tool.
pub struct Tool {
    /// Its installed name.
    pub name: String,
    pub page: Page,
    /// The command its completions come from.
    pub command: clap::Command,
}

fn table_tool(page: Page) -> Tool {
    Tool {
        name: page.name.clone(),
        command: page.command(),
        page,
    }
}

fn clap_tool(command: clap::Command, page: Page) -> Tool {
    Tool {
        name: page.name.clone(),
        page,
        command,
    }
}

/// Every tool the package installs.
pub fn tools() -> Vec<Tool> {
    use crate::cli;
    let mut v = vec![
        clap_tool(cli::daemon_args::command(), cli::daemon_args::page()),
        table_tool(cli::clustat::page()),
        table_tool(cli::clusvcadm::page()),
        clap_tool(cli::ccs_sync::command(), cli::ccs_sync::page()),
        clap_tool(cli::rg_test::command(), cli::rg_test::page()),
        clap_tool(cli::rgm_keygen::command(), cli::rgm_keygen::page()),
        clap_tool(
            cli::fence_ack_manual::command(),
            cli::fence_ack_manual::page(),
        ),
        clap_tool(
            crate::demo::command().name(DEMO_INSTALLED_NAME),
            crate::demo::page(DEMO_INSTALLED_NAME),
        ),
        table_tool(ccs::cli::validate_page()),
        table_tool(ccs::cli::dump_page()),
        table_tool(fence::node_cli::page()),
    ];
    for spec in [
        &fence::agents::ipmilan::SPEC,
        &fence::agents::apc::SPEC,
        &fence::agents::virsh::SPEC,
    ] {
        v.push(table_tool(fence::cli::page(spec)));
    }
    v
}

/// The generated files: (path under `packaging/`, content).
pub fn files() -> Vec<(String, String)> {
    let mut out = Vec::new();
    for t in tools() {
        out.push((format!("man/{}.{}", t.name, t.page.section), t.page.roff()));
        for (shell, dir, file) in [
            (Shell::Bash, "bash", t.name.clone()),
            (Shell::Zsh, "zsh", format!("_{}", t.name)),
            (Shell::Fish, "fish", format!("{}.fish", t.name)),
        ] {
            out.push((
                format!("completions/{dir}/{file}"),
                tooldoc::completion(&t.command, shell),
            ));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_tool_once_with_a_page_and_options() {
        let t = tools();
        let mut names: Vec<&str> = t.iter().map(|t| t.name.as_str()).collect();
        names.sort();
        let n = names.len();
        names.dedup();
        assert_eq!(names.len(), n, "{names:?}");
        assert_eq!(n, 14);
        for tool in &t {
            assert!(!tool.page.about.is_empty(), "{}", tool.name);
            assert!(!tool.page.synopsis.is_empty(), "{}", tool.name);
            let c = &tool.command;
            assert!(
                c.get_arguments().count() + c.get_subcommands().count() > 0,
                "{}",
                tool.name
            );
        }
    }
}
