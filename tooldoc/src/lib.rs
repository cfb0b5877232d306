//! What every tool of rgmanager-rs says about itself, from one source per tool:
//!
//! - [`VERSION`]: the version and the git commit the tools were built from (`--version`).
//! - [`Page`]: a tool's documentation. For the tools whose command line RHCS fixed (`clustat`,
//!   `clusvcadm`, `ccs_config_validate`, the fence agents, …) it is a table of rows, and the
//!   `--help` text ([`Page::usage`]) is rendered from it byte for byte as the original printed
//!   it; for our own tools it is read from their clap definition ([`Page::from_clap`]).
//! - [`Page::roff`]: the man page, from the same page; [`completion`]: bash, zsh and fish
//!   completions from the tool's clap command (for a table tool, [`Page::command`] makes one
//!   from the option forms of its rows).
//!
//! So `--help`, the man page and the completions can never say different things.

use std::fmt::Write as _;

pub use clap_complete::Shell;

/// `0.1.0 (git 0123456789ab)`: what `--version` prints after the tool's name.
pub const VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (git ",
    env!("RGM_GIT_COMMIT"),
    ")"
);

/// The commit alone (`unknown` when the build had no git).
pub const GIT_COMMIT: &str = env!("RGM_GIT_COMMIT");

/// The shells completions are made for, with where Debian looks for each.
pub const SHELLS: &[(Shell, &str)] = &[
    (Shell::Bash, "usr/share/bash-completion/completions/{}"),
    (Shell::Zsh, "usr/share/zsh/vendor-completions/_{}"),
    (Shell::Fish, "usr/share/fish/vendor_completions.d/{}.fish"),
];

/// One row of a help table: the option form as shown (`-m <member>`, `-e <group> -F`,
/// `-t, --agent-timeout SECS`) and its help, one string per printed line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Row {
    pub form: String,
    pub help: Vec<String>,
}

impl Row {
    pub fn new(form: &str, help: &[&str]) -> Self {
        Row {
            form: form.to_string(),
            help: help.iter().map(|s| s.to_string()).collect(),
        }
    }
}

/// A block of rows printed with the same layout: `indent` spaces, the form in a column of
/// `width` characters (at least one space after it), the help after it, continuation lines
/// under the help. A form too long for the column puts its help on the next line
/// (`long_form_next_line`) or after one space.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Group {
    /// A line printed before the rows (`Resource Group Locking …:`), and the man page's
    /// subsection title.
    pub title: Option<String>,
    pub indent: usize,
    pub width: usize,
    pub long_form_next_line: bool,
    pub rows: Vec<Row>,
}

impl Group {
    pub fn new(indent: usize, width: usize, rows: Vec<Row>) -> Self {
        Group {
            title: None,
            indent,
            width,
            long_form_next_line: true,
            rows,
        }
    }

    pub fn titled(mut self, title: &str) -> Self {
        self.title = Some(title.to_string());
        self
    }

    pub fn long_form_same_line(mut self) -> Self {
        self.long_form_next_line = false;
        self
    }
}

/// A tool's documentation: what its `--help` prints (head, groups, tail) and what its man page
/// says around that (name line, synopsis, description, further sections).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Page {
    pub name: String,
    /// Manual section (8 for the administration tools in /usr/sbin).
    pub section: u8,
    /// The NAME line after the dash.
    pub about: String,
    /// Synopsis lines, each starting with the tool's name.
    pub synopsis: Vec<String>,
    /// Paragraphs separated by blank lines; a paragraph whose lines start with two spaces is
    /// shown as written (examples).
    pub description: String,
    /// `--help`: what comes before the rows.
    pub usage_head: String,
    pub groups: Vec<Group>,
    /// `--help`: what comes after the rows.
    pub usage_tail: String,
    /// Further man page sections: (title, text as in `description`).
    pub sections: Vec<(String, String)>,
    pub see_also: Vec<String>,
}

impl Page {
    pub fn new(name: &str, section: u8, about: &str) -> Self {
        Page {
            name: name.to_string(),
            section,
            about: about.to_string(),
            ..Page::default()
        }
    }

    pub fn synopsis(mut self, lines: &[&str]) -> Self {
        self.synopsis = lines.iter().map(|s| s.to_string()).collect();
        self
    }

    pub fn description(mut self, text: &str) -> Self {
        self.description = text.to_string();
        self
    }

    pub fn usage_head(mut self, text: &str) -> Self {
        self.usage_head = text.to_string();
        self
    }

    pub fn usage_tail(mut self, text: &str) -> Self {
        self.usage_tail = text.to_string();
        self
    }

    pub fn group(mut self, g: Group) -> Self {
        self.groups.push(g);
        self
    }

    pub fn section(mut self, title: &str, text: &str) -> Self {
        self.sections.push((title.to_string(), text.to_string()));
        self
    }

    pub fn see_also(mut self, refs: &[&str]) -> Self {
        self.see_also = refs.iter().map(|s| s.to_string()).collect();
        self
    }

    /// The `--help` text: head, each group's title and rows, tail.
    pub fn usage(&self) -> String {
        let mut out = self.usage_head.clone();
        for g in &self.groups {
            if let Some(t) = &g.title {
                out.push_str(t);
                out.push('\n');
            }
            let pad = " ".repeat(g.indent);
            let under = " ".repeat(g.indent + g.width);
            for r in &g.rows {
                let mut lines = r.help.iter();
                let first = lines.next();
                out.push_str(&pad);
                let too_long = r.form.chars().count() + 1 > g.width;
                match first {
                    None => out.push_str(&r.form),
                    Some(h) if too_long && g.long_form_next_line => {
                        out.push_str(&r.form);
                        out.push('\n');
                        out.push_str(&under);
                        out.push_str(h);
                    }
                    Some(h) => {
                        let _ = write!(out, "{:<w$} {h}", r.form, w = g.width.saturating_sub(1));
                    }
                }
                out.push('\n');
                for l in lines {
                    if !l.is_empty() {
                        out.push_str(&under);
                        out.push_str(l);
                    }
                    out.push('\n');
                }
            }
        }
        out.push_str(&self.usage_tail);
        out
    }

    /// The man page (roff, `man 7 man` macros). No date, so a page only changes when its
    /// source does.
    pub fn roff(&self) -> String {
        let mut o = String::new();
        let _ = writeln!(
            o,
            ".TH {} {} \"\" \"rgmanager-rs {}\" \"System Administration\"",
            roff_quoted(&self.name.to_uppercase()),
            self.section,
            env!("CARGO_PKG_VERSION")
        );
        o.push_str(".SH NAME\n");
        let _ = writeln!(o, "{} \\- {}", escape(&self.name), escape(&self.about));
        if !self.synopsis.is_empty() {
            o.push_str(".SH SYNOPSIS\n.nf\n");
            for s in &self.synopsis {
                let (cmd, rest) = s.split_once(' ').unwrap_or((s, ""));
                let _ = writeln!(o, "\\fB{}\\fR {}", escape(cmd), escape(rest));
            }
            o.push_str(".fi\n");
        }
        if !self.description.is_empty() {
            o.push_str(".SH DESCRIPTION\n");
            paragraphs(&mut o, &self.description);
        }
        if self.groups.iter().any(|g| !g.rows.is_empty()) {
            o.push_str(".SH OPTIONS\n");
            for g in &self.groups {
                if let Some(t) = &g.title {
                    let _ = writeln!(o, ".SS {}", escape(t.trim_end_matches(':')));
                }
                for r in &g.rows {
                    let _ = writeln!(o, ".TP\n\\fB{}\\fR", escape(&r.form));
                    let text = r.help.join(" ");
                    let text = text.split_whitespace().collect::<Vec<_>>().join(" ");
                    if !text.is_empty() {
                        let _ = writeln!(o, "{}", escape_line(&text));
                    }
                }
            }
        }
        for (title, text) in &self.sections {
            let _ = writeln!(o, ".SH {}", roff_quoted(&title.to_uppercase()));
            paragraphs(&mut o, text);
        }
        if !self.see_also.is_empty() {
            o.push_str(".SH SEE ALSO\n");
            let refs: Vec<String> = self
                .see_also
                .iter()
                .map(|r| match r.split_once('(') {
                    Some((n, s)) => format!("\\fB{}\\fR({}", escape(n), s),
                    None => escape(r),
                })
                .collect();
            let _ = writeln!(o, "{}", refs.join(",\n"));
        }
        o
    }

    /// A clap command with every option the rows name, for the completions of a tool that
    /// parses its command line itself. Never used to parse.
    pub fn command(&self) -> clap::Command {
        let mut cmd = clap::Command::new(self.name.clone())
            .about(self.about.clone())
            .disable_help_flag(true)
            .disable_version_flag(true);
        let mut seen: Vec<String> = Vec::new();
        for g in &self.groups {
            for r in &g.rows {
                let help = r.help.join(" ");
                let help = help.split_whitespace().collect::<Vec<_>>().join(" ");
                for o in parse_form(&r.form) {
                    let id = o
                        .long
                        .clone()
                        .unwrap_or_else(|| o.short.unwrap_or('?').into());
                    if seen.contains(&id) {
                        continue;
                    }
                    seen.push(id.clone());
                    let mut a = clap::Arg::new(id).help(help.clone());
                    if let Some(c) = o.short {
                        a = a.short(c);
                    }
                    if let Some(l) = o.long {
                        a = a.long(l);
                    }
                    a = match o.value {
                        Some(v) => a.value_name(v).action(clap::ArgAction::Set),
                        None => a.action(clap::ArgAction::SetTrue),
                    };
                    cmd = cmd.arg(a);
                }
            }
        }
        cmd
    }

    /// The page of a tool whose command line clap parses: synopsis from its usage, options
    /// and arguments from its arguments (with their defaults), commands from its subcommands;
    /// `sections` are the man page's further sections, which [`after_help`] also gives clap.
    pub fn from_clap(cmd: &clap::Command, section: u8, sections: &[(&str, &str)]) -> Page {
        let mut cmd = cmd.clone();
        cmd.build();
        let name = cmd.get_name().to_string();
        let about = cmd.get_about().map(|s| s.to_string()).unwrap_or_default();
        let mut page = Page::new(&name, section, &about);
        page.description = cmd
            .get_long_about()
            .map(|s| s.to_string())
            .unwrap_or_default();
        let usage = |c: &mut clap::Command| {
            let u = c.render_usage().to_string();
            u.trim_start_matches("Usage:").trim().to_string()
        };
        let subs: Vec<clap::Command> = cmd
            .get_subcommands()
            .filter(|s| !s.is_hide_set() && s.get_name() != "help")
            .cloned()
            .collect();
        if subs.is_empty() {
            page.synopsis.push(usage(&mut cmd));
        } else {
            for mut s in subs.clone() {
                let u = usage(&mut s);
                let rest = u.split_once(' ').map(|x| x.1).unwrap_or("");
                page.synopsis.push(
                    format!("{name} {} {rest}", s.get_name())
                        .trim_end()
                        .to_string(),
                );
            }
        }
        let positional: Vec<Row> = cmd
            .get_positionals()
            .filter(|a| !a.is_hide_set())
            .map(|a| Row {
                form: a
                    .get_value_names()
                    .map(|v| {
                        v.iter()
                            .map(|s| s.to_string())
                            .collect::<Vec<_>>()
                            .join(" ")
                    })
                    .unwrap_or_else(|| a.get_id().to_string().to_uppercase()),
                help: vec![arg_help(a)],
            })
            .collect();
        if !positional.is_empty() {
            page.groups
                .push(Group::new(2, 24, positional).titled("Arguments:"));
        }
        let options: Vec<Row> = cmd
            .get_arguments()
            .filter(|a| !a.is_positional() && !a.is_hide_set())
            .map(|a| Row {
                form: arg_form(a),
                help: vec![arg_help(a)],
            })
            .collect();
        page.groups.push(Group::new(2, 24, options));
        if !subs.is_empty() {
            let rows = subs
                .iter()
                .map(|s| Row {
                    form: s.get_name().to_string(),
                    help: vec![s
                        .get_long_about()
                        .or(s.get_about())
                        .map(|x| x.to_string())
                        .unwrap_or_default()],
                })
                .collect();
            page.groups
                .push(Group::new(2, 24, rows).titled("Commands:"));
        }
        page.sections = sections
            .iter()
            .map(|(t, x)| (t.to_string(), x.to_string()))
            .collect();
        page
    }
}

/// The further sections as `--help` shows them after the options (clap's `after_help`).
pub fn after_help(sections: &[(&str, &str)]) -> String {
    let mut out = String::new();
    for (i, (title, text)) in sections.iter().enumerate() {
        if i > 0 {
            out.push('\n');
        }
        let _ = writeln!(out, "{title}:");
        for l in text.lines() {
            if l.is_empty() {
                out.push('\n');
            } else {
                let _ = writeln!(out, "  {l}");
            }
        }
    }
    out.trim_end().to_string()
}

/// A tool's completion script for `shell`.
pub fn completion(cmd: &clap::Command, shell: Shell) -> String {
    let mut c = cmd.clone();
    let name = c.get_name().to_string();
    let mut buf = Vec::new();
    clap_complete::generate(shell, &mut c, name, &mut buf);
    String::from_utf8_lossy(&buf).into_owned()
}

fn arg_form(a: &clap::Arg) -> String {
    let mut f = String::new();
    if let Some(c) = a.get_short() {
        let _ = write!(f, "-{c}");
    }
    if let Some(l) = a.get_long() {
        if !f.is_empty() {
            f.push_str(", ");
        }
        let _ = write!(f, "--{l}");
    }
    if a.get_action().takes_values() {
        let names = a
            .get_value_names()
            .map(|v| v.iter().map(|s| s.to_string()).collect::<Vec<_>>())
            .unwrap_or_else(|| vec![a.get_id().to_string().to_uppercase()]);
        for n in names {
            let _ = write!(f, " {n}");
        }
    }
    f
}

fn arg_help(a: &clap::Arg) -> String {
    let mut h = a
        .get_long_help()
        .or(a.get_help())
        .map(|s| s.to_string())
        .unwrap_or_default();
    let defaults: Vec<String> = a
        .get_default_values()
        .iter()
        .map(|v| v.to_string_lossy().into_owned())
        .collect();
    if !defaults.is_empty() && !a.is_hide_default_value_set() && a.get_action().takes_values() {
        let _ = write!(h, " (default {})", defaults.join(" "));
    }
    h
}

/// An option a row's form names.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FormOpt {
    pub short: Option<char>,
    pub long: Option<String>,
    pub value: Option<String>,
}

fn is_value(tok: &str) -> bool {
    tok.starts_with('<')
        || tok.starts_with('[')
        || (!tok.is_empty()
            && tok
                .chars()
                .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_'))
}

/// The options a form names: `-e <group> -m <member>` → `-e` and `-m`, each taking a value;
/// `-t, --agent-timeout SECS` → one option with both names; `--ip=[ip]` → `--ip` with a value.
pub fn parse_form(form: &str) -> Vec<FormOpt> {
    let mut out: Vec<FormOpt> = Vec::new();
    // A short option followed by a comma: its long name comes next.
    let mut joined = false;
    for tok in form.split_whitespace() {
        let comma = tok.ends_with(',');
        let tok = tok.trim_end_matches(',');
        if let Some(long) = tok.strip_prefix("--") {
            let (name, value) = match long.split_once('=') {
                Some((n, v)) => (n, Some(v.trim_matches(|c| "[]<>".contains(c)).to_string())),
                None => (long, None),
            };
            match out.last_mut() {
                Some(o) if joined => {
                    o.long = Some(name.to_string());
                    o.value = value.or(o.value.take());
                }
                _ => out.push(FormOpt {
                    short: None,
                    long: Some(name.to_string()),
                    value,
                }),
            }
            joined = false;
        } else if let Some(s) = tok.strip_prefix('-').filter(|s| s.chars().count() == 1) {
            out.push(FormOpt {
                short: s.chars().next(),
                long: None,
                value: None,
            });
            joined = comma;
        } else if is_value(tok) {
            if let Some(o) = out.last_mut() {
                if o.value.is_none() {
                    o.value = Some(tok.trim_matches(|c| "[]<>".contains(c)).to_string());
                }
            }
            joined = false;
        }
    }
    out
}

fn roff_quoted(s: &str) -> String {
    format!("\"{}\"", escape(s).replace('"', "\\(dq"))
}

/// Text for roff: backslashes and hyphens escaped, an ellipsis as three dots, anything else
/// beyond ASCII as a `\[uXXXX]` glyph (troff reads its input as Latin-1, and a plain-ASCII
/// terminal has no ellipsis glyph).
fn escape(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\\' => o.push_str("\\e"),
            '-' => o.push_str("\\-"),
            '\u{2026}' => o.push_str("..."),
            c if c.is_ascii() => o.push(c),
            c => {
                let _ = write!(o, "\\[u{:04X}]", c as u32);
            }
        }
    }
    o
}

/// A text line: escaped, and protected when it would start with a control character.
fn escape_line(s: &str) -> String {
    let e = escape(s);
    if e.starts_with('.') || e.starts_with('\'') {
        format!("\\&{e}")
    } else {
        e
    }
}

fn paragraphs(o: &mut String, text: &str) {
    let mut first = true;
    for para in text.split("\n\n") {
        let para = para.trim_matches('\n');
        if para.is_empty() {
            continue;
        }
        if !first {
            o.push_str(".PP\n");
        }
        first = false;
        if para.lines().all(|l| l.starts_with("  ")) {
            o.push_str(".nf\n.RS\n");
            for l in para.lines() {
                o.push_str(&escape_line(l.strip_prefix("  ").unwrap_or(l)));
                o.push('\n');
            }
            o.push_str(".RE\n.fi\n");
        } else {
            // Lines within a paragraph are lines (a list of files, of signals): kept apart.
            for (i, l) in para.lines().enumerate() {
                if i > 0 {
                    o.push_str(".br\n");
                }
                o.push_str(&escape_line(l.trim()));
                o.push('\n');
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_names_the_commit() {
        assert!(VERSION.starts_with(env!("CARGO_PKG_VERSION")));
        assert!(VERSION.ends_with(&format!("(git {GIT_COMMIT})")));
        assert!(!GIT_COMMIT.is_empty());
    }

    #[test]
    fn rows_render_in_their_columns() {
        let p = Page::new("t", 8, "a tool")
            .usage_head("usage: t\n")
            .group(Group::new(
                4,
                19,
                vec![
                    Row::new("-i <interval>", &["Refresh.", "More."]),
                    Row::new("-x", &[]),
                    Row::new("--a-very-long-option X", &["next line"]),
                ],
            ))
            .group(
                Group::new(3, 10, vec![Row::new("-a, --ip=[ip]", &["same line"])])
                    .long_form_same_line()
                    .titled("Agent:"),
            )
            .usage_tail("end\n");
        assert_eq!(
            p.usage(),
            "usage: t\n    -i <interval>      Refresh.\n                       More.\n    -x\n    \
             --a-very-long-option X\n                       next line\nAgent:\n   \
             -a, --ip=[ip] same line\nend\n"
        );
    }

    #[test]
    fn forms_name_their_options() {
        let f = parse_form("-e <group> -m <member>");
        assert_eq!(f.len(), 2);
        assert_eq!(
            (f[0].short, f[0].value.as_deref()),
            (Some('e'), Some("group"))
        );
        assert_eq!(
            (f[1].short, f[1].value.as_deref()),
            (Some('m'), Some("member"))
        );
        let f = parse_form("-t, --agent-timeout SECS");
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].long.as_deref(), Some("agent-timeout"));
        assert_eq!(f[0].value.as_deref(), Some("SECS"));
        let f = parse_form("-a, --ip=[ip]");
        assert_eq!((f[0].short, f[0].value.as_deref()), (Some('a'), Some("ip")));
        let f = parse_form("--json");
        assert_eq!(
            (f[0].long.as_deref(), f[0].value.as_ref()),
            (Some("json"), None)
        );
    }

    #[test]
    fn man_page_escapes_and_lists_options() {
        let p = Page::new("clustat", 8, "cluster status")
            .synopsis(&["clustat [-i interval] [-x]"])
            .description(".dot first\n\n  example -x\n  second\n\nand so on\u{2026} \u{e9}t\u{e9}")
            .group(Group::new(4, 19, vec![Row::new("-x", &["Dump", "as XML"])]))
            .section("Exit status", "0 fine")
            .see_also(&["clusvcadm(8)"]);
        let r = p.roff();
        assert!(r.starts_with(".TH \"CLUSTAT\" 8 \"\""), "{r}");
        assert!(r.contains("clustat \\- cluster status\n"), "{r}");
        assert!(
            r.contains("\\fBclustat\\fR [\\-i interval] [\\-x]\n"),
            "{r}"
        );
        assert!(r.contains("\\&.dot first\n"), "{r}");
        assert!(
            r.contains(".nf\n.RS\nexample \\-x\nsecond\n.RE\n.fi\n"),
            "{r}"
        );
        assert!(r.contains(".TP\n\\fB\\-x\\fR\nDump as XML\n"), "{r}");
        assert!(r.contains("and so on... \\[u00E9]t\\[u00E9]\n"), "{r}");
        assert!(r.contains(".SH \"EXIT STATUS\"\n0 fine\n"), "{r}");
        assert!(r.contains("\\fBclusvcadm\\fR(8)"), "{r}");
    }

    #[test]
    fn a_table_gives_completions() {
        let p = Page::new("clustat", 8, "cluster status").group(Group::new(
            4,
            19,
            vec![
                Row::new("-s <service>", &["one service"]),
                Row::new("--json", &["JSON"]),
            ],
        ));
        let bash = completion(&p.command(), Shell::Bash);
        assert!(bash.contains("--json"), "{bash}");
        assert!(bash.contains("-s"), "{bash}");
        let fish = completion(&p.command(), Shell::Fish);
        assert!(fish.contains("-l json"), "{fish}");
    }

    #[test]
    fn clap_commands_become_pages() {
        let cmd = clap::Command::new("ccs_sync")
            .about("push cluster.conf")
            .long_about("Pushes the file.")
            .version(VERSION)
            .arg(
                clap::Arg::new("file")
                    .short('f')
                    .value_name("FILE")
                    .default_value("/etc/cluster/cluster.conf")
                    .help("the file"),
            )
            .arg(
                clap::Arg::new("check")
                    .long("check")
                    .action(clap::ArgAction::SetTrue)
                    .help("only check"),
            );
        let p = Page::from_clap(&cmd, 8, &[("Exit status", "0 pushed")]);
        assert_eq!(p.synopsis, vec!["ccs_sync [OPTIONS]".to_string()]);
        assert_eq!(p.description, "Pushes the file.");
        let forms: Vec<&str> = p.groups[0].rows.iter().map(|r| r.form.as_str()).collect();
        assert_eq!(
            forms,
            vec!["-f FILE", "--check", "-h, --help", "-V, --version"]
        );
        assert!(p.groups[0].rows[0].help[0].ends_with("(default /etc/cluster/cluster.conf)"));
        assert_eq!(
            after_help(&[("Exit status", "0 pushed\n1 not")]),
            "Exit status:\n  0 pushed\n  1 not"
        );
    }
}
