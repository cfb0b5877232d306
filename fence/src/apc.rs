//! The APC MasterSwitch / Switched Rack PDU dialog, sans-I/O, in the two dialects fence-agents'
//! `fence_apc` drives (fencing.md §4): AOS v2/v3 menus and the AOS v5+ `apc>` command line.
//!
//! A [`Dialog`] is a little expect script: [`Dialog::poll`] says what to do next — send these
//! bytes, wait for one of these screen texts (within the login, shell or power time limit), or
//! done — and [`Dialog::matched`] gets the text the device printed before the awaited one. The
//! I/O edge (`fence::agents::apc`) only moves bytes. Unlike fence_apc there are no fixed 0.5 s
//! sleeps: every step waits for the screen it needs (the agent's `settle_delay` option adds a
//! pause before each send for units that drop input).

use std::collections::VecDeque;

use crate::agent::{FenceError, Outlet, PowerState, Secret};

/// End of line sent to the device.
const EOL: &str = "\r\n";
/// The menu prompt (fence_apc's `\n>`).
const MENU_PROMPT: &str = "\n>";
/// The command-line prompt.
const CLI_PROMPT: &str = "\napc>";
const USER_PROMPT: &str = "user name :";
const PASSWORD_PROMPT: &str = "password";
const PAGE: &str = "press <enter>";
const CONFIRM: &str = "enter 'yes' to continue or <enter> to cancel :";
const CONTINUE: &str = "press <enter> to continue...";
const LOGOUT_ENTRY: &str = "- logout";
const CTRL_C: &str = "\x03";

/// Which interface the unit offers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    /// AOS v2/v3 menus.
    Menus,
    /// AOS v5 and later: the `apc>` command line.
    CommandLine,
}

/// The firmware major version in a login banner: the first `v<digits>.` (fence_apc reads only the
/// last digit before the dot, so it would take a v10 for v0; all digits are read here).
pub fn firmware_major(banner: &str) -> Option<u32> {
    let b = banner.as_bytes();
    (0..b.len()).find_map(|i| {
        if b[i] != b'v' && b[i] != b'V' {
            return None;
        }
        let digits: String = banner[i + 1..]
            .chars()
            .take_while(char::is_ascii_digit)
            .collect();
        let after = banner[i + 1 + digits.len()..].chars().next();
        (!digits.is_empty() && after == Some('.')).then(|| digits.parse().ok())?
    })
}

/// The dialect a banner announces: the command line from AOS v5 on, menus before.
pub fn dialect_of(banner: &str) -> Dialect {
    match firmware_major(banner) {
        Some(v) if v >= 5 => Dialect::CommandLine,
        _ => Dialect::Menus,
    }
}

/// Outlets on a menu screen: `  3- Outlet 3                 ON`.
pub fn parse_menu_outlets(screen: &str) -> Vec<Outlet> {
    screen
        .split(['\r', '\n'])
        .filter_map(|line| {
            let line = line.trim();
            let (num, rest) = line.split_once("- ")?;
            if num.is_empty() || !num.chars().all(|c| c.is_ascii_digit()) {
                return None;
            }
            let rest = rest.trim_end();
            let (name, state) = rest.rsplit_once(char::is_whitespace)?;
            if state != "ON" && state != "OFF" {
                return None;
            }
            Some(Outlet {
                plug: num.to_string(),
                alias: name.trim().to_string(),
                status: Some(state.to_string()),
            })
        })
        .collect()
}

/// Outlets in `olStatus` output: ` 3: Outlet 3: On`.
pub fn parse_cli_outlets(text: &str) -> Vec<Outlet> {
    text.split(['\r', '\n'])
        .filter_map(|line| {
            let line = line.trim();
            let (num, rest) = line.split_once(": ")?;
            if num.is_empty() || !num.chars().all(|c| c.is_ascii_digit()) {
                return None;
            }
            let (name, state) = rest.rsplit_once(": ")?;
            let state = state.trim();
            if !state.eq_ignore_ascii_case("on") && !state.eq_ignore_ascii_case("off") {
                return None;
            }
            Some(Outlet {
                plug: num.to_string(),
                alias: name.to_string(),
                status: Some(state.to_string()),
            })
        })
        .collect()
}

/// The power state of `plug` in `outlets`.
pub fn state_of(outlets: &[Outlet], plug: &str) -> Result<PowerState, FenceError> {
    let o = outlets
        .iter()
        .find(|o| o.plug == plug)
        .ok_or_else(unknown_plug)?;
    match o.status.as_deref().map(str::to_ascii_lowercase).as_deref() {
        Some("on") => Ok(PowerState::On),
        Some("off") => Ok(PowerState::Off),
        _ => Err(unknown_plug()),
    }
}

fn unknown_plug() -> FenceError {
    FenceError::Device("Unable to obtain correct plug status or plug is not available".into())
}

/// Which time limit applies to a wait.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Limit {
    /// `login_timeout`.
    Login,
    /// `shell_timeout`.
    Shell,
    /// `power_timeout` (after a power command).
    Power,
}

/// What the dialog wants next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// Send these bytes.
    Send(Vec<u8>),
    /// Wait until one of these texts (lower case; matched case-insensitively) appears.
    Expect {
        /// Candidates.
        patterns: Vec<&'static str>,
        /// Time limit.
        limit: Limit,
    },
    /// Finished.
    Done,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tag {
    Skip,
    User,
    Password,
    Banner,
    DeviceManager,
    OutletManagement,
    List,
    Plug,
    CliStatus,
    CliSet,
}

// No Debug: a queued item may carry the password.
#[derive(Clone)]
enum Item {
    Send(String),
    Expect(Vec<&'static str>, Limit, Tag),
}

/// What a dialog is for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Task {
    /// Log in and find the dialect.
    Login {
        /// User name.
        user: String,
        /// Password (only ever sent to the device).
        password: Secret,
    },
    /// The transport (SSH) has logged in already: wait for the first prompt and find the
    /// dialect in the banner before it.
    Attach,
    /// Read every outlet's state.
    Status,
    /// Switch `plug` on or off.
    Set {
        /// Outlet number.
        plug: String,
        /// Target.
        state: PowerState,
    },
}

/// One APC dialog. (No Debug: it may hold the password.)
pub struct Dialog {
    task: Task,
    switch: Option<String>,
    queue: VecDeque<Item>,
    waiting: Option<(Vec<&'static str>, Limit, Tag)>,
    master_plus: bool,
    restriction: bool,
    admin: bool,
    v3: bool,
    outlets: Vec<Outlet>,
    found_dialect: Option<Dialect>,
}

fn expect(patterns: &[&'static str], limit: Limit, tag: Tag) -> Item {
    Item::Expect(patterns.to_vec(), limit, tag)
}

fn line(s: &str) -> Item {
    Item::Send(format!("{s}{EOL}"))
}

impl Dialog {
    /// A dialog for `task` on a unit speaking `dialect` (ignored for a login or attach), with the daisy-chain
    /// `switch` number of a MasterSwitch plus.
    pub fn new(task: Task, dialect: Dialect, switch: Option<String>) -> Dialog {
        let mut queue = VecDeque::new();
        match (&task, dialect) {
            (Task::Login { .. }, _) => {
                queue.push_back(expect(&[USER_PROMPT], Limit::Login, Tag::User));
            }
            (Task::Attach, _) => {
                queue.push_back(expect(
                    &[MENU_PROMPT, CLI_PROMPT],
                    Limit::Login,
                    Tag::Banner,
                ));
            }
            (_, Dialect::Menus) => {
                queue.push_back(line("1"));
                queue.push_back(expect(&[MENU_PROMPT], Limit::Shell, Tag::DeviceManager));
            }
            (Task::Status, Dialect::CommandLine) => {
                queue.push_back(line("olStatus all"));
                queue.push_back(expect(&[CLI_PROMPT], Limit::Shell, Tag::CliStatus));
            }
            (Task::Set { plug, state }, Dialect::CommandLine) => {
                let cmd = match state {
                    PowerState::On => "olOn",
                    PowerState::Off => "olOff",
                };
                queue.push_back(line(&format!("{cmd} {plug}")));
                queue.push_back(expect(&[CLI_PROMPT], Limit::Power, Tag::CliSet));
            }
        }
        Dialog {
            task,
            switch,
            queue,
            waiting: None,
            master_plus: false,
            restriction: false,
            admin: false,
            v3: false,
            outlets: Vec::new(),
            found_dialect: None,
        }
    }

    /// The outlets read by a status dialog (also filled by a menu set dialog).
    pub fn outlets(&self) -> &[Outlet] {
        &self.outlets
    }

    /// The dialect found by a login or attach dialog.
    pub fn dialect(&self) -> Option<Dialect> {
        self.found_dialect
    }

    /// The next step. After an `Expect`, call [`Dialog::matched`] before polling again.
    pub fn poll(&mut self) -> Step {
        if let Some((patterns, limit, _)) = &self.waiting {
            // Still waiting: the same request again.
            return Step::Expect {
                patterns: patterns.clone(),
                limit: *limit,
            };
        }
        match self.queue.pop_front() {
            None => Step::Done,
            Some(Item::Send(s)) => Step::Send(s.into_bytes()),
            Some(Item::Expect(patterns, limit, tag)) => {
                self.waiting = Some((patterns.clone(), limit, tag));
                Step::Expect { patterns, limit }
            }
        }
    }

    fn back_to_top(&mut self) {
        self.queue.push_back(Item::Send(CTRL_C.into()));
        self.queue
            .push_back(expect(&[LOGOUT_ENTRY], Limit::Shell, Tag::Skip));
        self.queue
            .push_back(expect(&[MENU_PROMPT], Limit::Shell, Tag::Skip));
    }

    /// Pattern `index` of the last `Expect` appeared; `before` is what the device printed since
    /// the previous match, up to it.
    pub fn matched(&mut self, index: usize, before: &str) -> Result<(), FenceError> {
        let Some((patterns, _, tag)) = self.waiting.take() else {
            return Ok(());
        };
        let which = patterns.get(index).copied().unwrap_or("");
        let lower = before.to_ascii_lowercase();
        match tag {
            Tag::Skip => {}
            Tag::User => {
                if let Task::Login { user, .. } = &self.task {
                    self.queue.push_back(line(user));
                }
                self.queue
                    .push_back(expect(&[PASSWORD_PROMPT], Limit::Login, Tag::Password));
            }
            Tag::Password => {
                if let Task::Login { password, .. } = &self.task {
                    self.queue.push_back(line(password.expose()));
                }
                self.queue.push_back(expect(
                    &[MENU_PROMPT, CLI_PROMPT, USER_PROMPT],
                    Limit::Login,
                    Tag::Banner,
                ));
            }
            Tag::Banner => {
                if which == USER_PROMPT {
                    return Err(FenceError::Login(
                        "the device asked for the user name again (wrong user name or password)"
                            .into(),
                    ));
                }
                self.found_dialect = Some(if which == CLI_PROMPT {
                    Dialect::CommandLine
                } else {
                    dialect_of(before)
                });
            }
            Tag::DeviceManager => {
                self.master_plus = lower.contains("masterswitch plus");
                self.v3 = lower.contains("outlet management");
                self.admin = lower.contains("outlet control/configuration");
                if self.master_plus {
                    let sw = match (&self.switch, lower.contains("masterswitch plus 2")) {
                        (Some(s), _) => s.clone(),
                        (None, false) => "1".into(),
                        (None, true) => {
                            return Err(FenceError::Usage(
                                "Failed: You have to enter physical switch number".into(),
                            ))
                        }
                    };
                    self.queue.push_back(line(&sw));
                    self.queue
                        .push_back(expect(&[PAGE, MENU_PROMPT], Limit::Shell, Tag::List));
                } else if self.v3 {
                    self.queue.push_back(line("2"));
                    self.queue.push_back(expect(
                        &[MENU_PROMPT],
                        Limit::Shell,
                        Tag::OutletManagement,
                    ));
                } else {
                    self.queue
                        .push_back(line(if self.admin { "3" } else { "2" }));
                    self.queue
                        .push_back(expect(&[PAGE, MENU_PROMPT], Limit::Shell, Tag::List));
                }
            }
            Tag::OutletManagement => {
                self.restriction = lower.contains("2- outlet restriction");
                self.queue.push_back(line("1"));
                self.queue
                    .push_back(expect(&[PAGE, MENU_PROMPT], Limit::Shell, Tag::List));
            }
            Tag::List => {
                self.outlets.extend(parse_menu_outlets(before));
                if which == PAGE {
                    self.queue.push_back(line(""));
                    self.queue
                        .push_back(expect(&[PAGE, MENU_PROMPT], Limit::Shell, Tag::List));
                    return Ok(());
                }
                match self.task.clone() {
                    Task::Set { plug, .. } => {
                        if !self.outlets.iter().any(|o| o.plug == plug) {
                            return Err(unknown_plug());
                        }
                        self.queue.push_back(line(&plug));
                        self.queue
                            .push_back(expect(&[MENU_PROMPT], Limit::Shell, Tag::Plug));
                    }
                    _ => self.back_to_top(),
                }
            }
            Tag::Plug => {
                let Task::Set { state, .. } = self.task.clone() else {
                    return Ok(());
                };
                // The outlet screen leads to "Control Outlet" on these layouts.
                let control_step = self.master_plus || self.admin || self.restriction;
                if control_step {
                    self.queue.push_back(line("1"));
                    self.queue
                        .push_back(expect(&[MENU_PROMPT], Limit::Shell, Tag::Skip));
                }
                let action = match (state, self.master_plus) {
                    (PowerState::On, _) => "1",
                    (PowerState::Off, true) => "3",
                    (PowerState::Off, false) => "2",
                };
                self.queue.push_back(line(action));
                self.queue
                    .push_back(expect(&[CONFIRM], Limit::Shell, Tag::Skip));
                self.queue.push_back(line("YES"));
                self.queue
                    .push_back(expect(&[CONTINUE], Limit::Power, Tag::Skip));
                self.queue.push_back(line(""));
                self.queue
                    .push_back(expect(&[MENU_PROMPT], Limit::Power, Tag::Skip));
                self.back_to_top();
            }
            Tag::CliStatus => {
                self.outlets = parse_cli_outlets(before);
                if self.outlets.is_empty() {
                    return Err(FenceError::Device(format!(
                        "no outlet in the olStatus answer: {}",
                        error_line(before).unwrap_or_else(|| "(empty)".into())
                    )));
                }
            }
            Tag::CliSet => {
                if !before.contains("E000") {
                    return Err(match error_line(before) {
                        Some(e) if e.starts_with("E102") => unknown_plug(),
                        Some(e) => FenceError::Device(e),
                        None => FenceError::Device("no answer to the power command".into()),
                    });
                }
            }
        }
        Ok(())
    }
}

/// The first `Ennn: …` line of a command-line answer.
fn error_line(text: &str) -> Option<String> {
    text.split(['\r', '\n'])
        .map(str::trim)
        .find(|l| {
            l.starts_with('E')
                && l.get(1..4)
                    .is_some_and(|d| d.chars().all(|c| c.is_ascii_digit()))
        })
        .map(str::to_string)
}

/// Where the earliest of `patterns` occurs in `buf` (case-insensitive): (pattern index, start,
/// end). Used by the I/O edge to answer `Expect`.
pub fn find_earliest(buf: &str, patterns: &[&str]) -> Option<(usize, usize, usize)> {
    let lower = buf.to_ascii_lowercase();
    patterns
        .iter()
        .enumerate()
        .filter_map(|(i, p)| {
            let p = p.to_ascii_lowercase();
            lower.find(&p).map(|at| (i, at, at + p.len()))
        })
        .min_by_key(|&(i, at, _)| (at, i))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs `d` against a scripted device: `screens[i]` is what the device prints after the i-th
    /// send (index 0 = before anything is sent). Returns what was sent.
    fn run(d: &mut Dialog, screens: &[&str]) -> Result<Vec<String>, FenceError> {
        let mut sent = Vec::new();
        let mut buf = screens[0].to_string();
        loop {
            match d.poll() {
                Step::Send(b) => {
                    sent.push(String::from_utf8(b).unwrap());
                    buf.push_str(screens.get(sent.len()).copied().unwrap_or(""));
                }
                Step::Expect { patterns, .. } => {
                    let (i, at, end) = find_earliest(&buf, &patterns)
                        .unwrap_or_else(|| panic!("stuck waiting for {patterns:?} in {buf:?}"));
                    let before = buf[..at].to_string();
                    buf.drain(..end);
                    d.matched(i, &before)?;
                }
                Step::Done => return Ok(sent),
            }
        }
    }

    const V3_BANNER: &str = "\r\n\r\nAmerican Power Conversion   Network Management Card AOS      v3.7.3\r\n\
        ------- Control Console ----\r\n\r\n     1- Device Manager\r\n     2- Network\r\n     3- System\r\n     4- Logout\r\n\r\n> ";
    const DM: &str = "1\r\n------- Device Manager ---\r\n\r\n     1- Phase Management\r\n     2- Outlet Management\r\n\r\n> ";
    const OM: &str = "2\r\n------- Outlet Management ---\r\n     1- Outlet Control/Configuration\r\n     2- Outlet Restriction\r\n\r\n> ";
    const LIST: &str = "1\r\n------- Outlet Control/Configuration ---\r\n\r\n      1- Outlet 1                ON\r\n      2- Web server              OFF\r\n      3- Master Control/Configuration\r\n\r\n     <ESC>- Back\r\n> ";
    const TOP: &str = "\r\n------- Control Console ---\r\n     4- Logout\r\n\r\n> ";

    #[test]
    fn login_finds_the_dialect_and_refuses_a_second_user_prompt() {
        let mut d = Dialog::new(
            Task::Login {
                user: "apc".into(),
                password: Secret::new("pw"),
            },
            Dialect::Menus,
            None,
        );
        let sent = run(
            &mut d,
            &["\r\nUser Name : ", "apc\r\nPassword  : ", V3_BANNER],
        )
        .unwrap();
        assert_eq!(sent, ["apc\r\n", "pw\r\n"]);
        assert_eq!(d.dialect(), Some(Dialect::Menus));

        let mut d = Dialog::new(
            Task::Login {
                user: "apc".into(),
                password: Secret::new("pw"),
            },
            Dialect::Menus,
            None,
        );
        let v6 =
            "\r\nNetwork Management Card AOS      v6.4.6\r\nType ? for command listing\r\n\r\napc>";
        run(&mut d, &["User Name : ", "Password  : ", v6]).unwrap();
        assert_eq!(d.dialect(), Some(Dialect::CommandLine));

        let mut d = Dialog::new(
            Task::Login {
                user: "apc".into(),
                password: Secret::new("bad"),
            },
            Dialect::Menus,
            None,
        );
        let e = run(
            &mut d,
            &["User Name : ", "Password  : ", "\r\n\r\nUser Name : "],
        )
        .unwrap_err();
        assert!(matches!(e, FenceError::Login(_)), "{e:?}");
    }

    #[test]
    fn attach_after_an_ssh_login_only_reads_the_banner() {
        let mut d = Dialog::new(Task::Attach, Dialect::Menus, None);
        assert_eq!(run(&mut d, &[V3_BANNER]).unwrap(), Vec::<String>::new());
        assert_eq!(d.dialect(), Some(Dialect::Menus));
        let mut d = Dialog::new(Task::Attach, Dialect::Menus, None);
        let v6 = "\r\nNetwork Management Card AOS      v6.4.6\r\n\r\napc>";
        assert!(run(&mut d, &[v6]).unwrap().is_empty());
        assert_eq!(d.dialect(), Some(Dialect::CommandLine));
    }

    #[test]
    fn v3_status_walks_to_the_outlet_list_and_back() {
        let mut d = Dialog::new(Task::Status, Dialect::Menus, None);
        let sent = run(&mut d, &["", DM, OM, LIST, TOP]).unwrap();
        assert_eq!(sent, ["1\r\n", "2\r\n", "1\r\n", "\x03"]);
        assert_eq!(state_of(d.outlets(), "1").unwrap(), PowerState::On);
        assert_eq!(state_of(d.outlets(), "2").unwrap(), PowerState::Off);
        assert_eq!(d.outlets()[1].alias, "Web server");
        assert!(state_of(d.outlets(), "3").is_err());
    }

    #[test]
    fn v3_off_confirms_with_yes() {
        let mut d = Dialog::new(
            Task::Set {
                plug: "2".into(),
                state: PowerState::Off,
            },
            Dialect::Menus,
            None,
        );
        let sent = run(
            &mut d,
            &[
                "",
                DM,
                OM,
                LIST,
                "2\r\n------- Outlet 2 ---\r\n     1- Control Outlet\r\n\r\n> ",
                "1\r\n------- Control Outlet ---\r\n     1- Immediate On\r\n     2- Immediate Off\r\n\r\n> ",
                "2\r\n   Immediate Off\r\n   Enter 'YES' to continue or <ENTER> to cancel : ",
                "YES\r\n\r\n        Command successfully issued.\r\n\r\n        Press <ENTER> to continue...",
                "\r\n------- Control Outlet ---\r\n\r\n> ",
                TOP,
            ],
        )
        .unwrap();
        assert_eq!(
            sent,
            ["1\r\n", "2\r\n", "1\r\n", "2\r\n", "1\r\n", "2\r\n", "YES\r\n", "\r\n", "\x03"]
        );
    }

    #[test]
    fn menu_set_refuses_an_unknown_outlet_before_typing_it() {
        let mut d = Dialog::new(
            Task::Set {
                plug: "9".into(),
                state: PowerState::On,
            },
            Dialect::Menus,
            None,
        );
        let e = run(&mut d, &["", DM, OM, LIST]).unwrap_err();
        assert!(e.to_string().contains("plug is not available"), "{e}");
    }

    #[test]
    fn v2_admin_and_paging() {
        let dm = "1\r\n------- Device Manager ---\r\n     1- Outlet Control/Configuration\r\n     2- x\r\n\r\n> ";
        let page1 =
            "3\r\n      1- Outlet 1                ON\r\n      Press <ENTER> to continue...";
        let page2 = "\r\n      2- Outlet 2                OFF\r\n\r\n> ";
        let mut d = Dialog::new(Task::Status, Dialect::Menus, None);
        let sent = run(&mut d, &["", dm, page1, page2, TOP]).unwrap();
        assert_eq!(sent, ["1\r\n", "3\r\n", "\r\n", "\x03"]);
        assert_eq!(d.outlets().len(), 2);
    }

    #[test]
    fn masterswitch_plus_needs_a_switch_number_on_a_chain() {
        let dm = "1\r\n------- MasterSwitch plus 2 ---\r\n\r\n> ";
        let mut d = Dialog::new(Task::Status, Dialect::Menus, None);
        assert!(matches!(run(&mut d, &["", dm]), Err(FenceError::Usage(_))));
        let mut d = Dialog::new(Task::Status, Dialect::Menus, Some("2".into()));
        let sent = run(&mut d, &["", dm, LIST, TOP]).unwrap();
        assert_eq!(sent[1], "2\r\n");
    }

    #[test]
    fn command_line_status_and_set() {
        let mut d = Dialog::new(Task::Status, Dialect::CommandLine, None);
        let sent = run(
            &mut d,
            &[
                "",
                "olStatus all\r\nE000: Success\r\n 1: Outlet 1: On\r\n 2: db: server: Off\r\n\r\napc>",
            ],
        )
        .unwrap();
        assert_eq!(sent, ["olStatus all\r\n"]);
        assert_eq!(state_of(d.outlets(), "2").unwrap(), PowerState::Off);
        assert_eq!(d.outlets()[1].alias, "db: server");

        let mut d = Dialog::new(
            Task::Set {
                plug: "2".into(),
                state: PowerState::On,
            },
            Dialect::CommandLine,
            None,
        );
        let sent = run(&mut d, &["", "olOn 2\r\nE000: Success\r\n\r\napc>"]).unwrap();
        assert_eq!(sent, ["olOn 2\r\n"]);

        let mut d = Dialog::new(
            Task::Set {
                plug: "12".into(),
                state: PowerState::Off,
            },
            Dialect::CommandLine,
            None,
        );
        let e = run(
            &mut d,
            &["", "olOff 12\r\nE102: Parameter Error\r\n\r\napc>"],
        )
        .unwrap_err();
        assert!(e.to_string().contains("plug is not available"));
    }

    #[test]
    fn firmware_versions() {
        assert_eq!(firmware_major("AOS      v3.7.3"), Some(3));
        assert_eq!(firmware_major("Conversion v. AOS v6.4.6"), Some(6));
        assert_eq!(firmware_major("AOS v10.1.0"), Some(10));
        assert_eq!(firmware_major("no version"), None);
        assert_eq!(dialect_of("AOS v7.0.1"), Dialect::CommandLine);
        assert_eq!(dialect_of("AOS v2.7.0"), Dialect::Menus);
        assert_eq!(dialect_of(""), Dialect::Menus);
    }

    /// Pieces real screens are made of, so random screens reach deep into the dialogs.
    const PIECES: &[&str] = &[
        "\r\n> ",
        "\r\napc>",
        "User Name : ",
        "Password  : ",
        "AOS v3.7.3",
        "AOS v6.4.6",
        "Outlet Management",
        "Outlet Control/Configuration",
        "MasterSwitch plus",
        "MasterSwitch plus 2",
        "2- Outlet Restriction",
        "  1- Outlet 1   ON\r\n",
        "  2- x OFF\r\n",
        "Press <ENTER>",
        "Enter 'YES' to continue or <ENTER> to cancel :",
        "Press <ENTER> to continue...",
        "4- Logout",
        "E000: Success",
        "E102: Parameter Error",
        " 1: Outlet 1: On\r\n",
        "\u{fffd}",
        "x",
    ];

    proptest::proptest! {
        #[test]
        fn random_screens_end_every_dialog_without_panic(
            picks in proptest::collection::vec(proptest::collection::vec(0usize..22, 0..6), 1..14),
            task in 0usize..5,
        ) {
            let task = match task {
                0 => Task::Login { user: "u".into(), password: Secret::new("p") },
                1 => Task::Status,
                4 => Task::Attach,
                _ => Task::Set { plug: "1".into(), state: PowerState::Off },
            };
            let dialect = if picks.len() % 2 == 0 { Dialect::Menus } else { Dialect::CommandLine };
            let mut d = Dialog::new(task, dialect, None);
            let mut screens = picks.iter().map(|p| p.iter().map(|&i| PIECES[i]).collect::<String>());
            let mut buf = String::new();
            for _ in 0..200 {
                match d.poll() {
                    Step::Send(_) => buf.push_str(&screens.next().unwrap_or_default()),
                    Step::Expect { patterns, .. } => match find_earliest(&buf, &patterns) {
                        Some((i, at, end)) => {
                            let before = buf[..at].to_string();
                            buf.drain(..end);
                            if d.matched(i, &before).is_err() {
                                return Ok(());
                            }
                        }
                        None => match screens.next() {
                            Some(more) => buf.push_str(&more),
                            None => return Ok(()), // the edge would time out here
                        },
                    },
                    Step::Done => return Ok(()),
                }
            }
            proptest::prop_assert!(false, "dialog did not finish in 200 steps");
        }
    }

    #[test]
    fn truncated_and_corrupted_screens_never_panic() {
        let inputs = [
            "",
            "- ",
            "1-",
            "x- y ON",
            "12- ",
            " 3- a b c OFFX",
            "\u{fffd}- \u{fffd} ON",
            "9:",
            ": :",
            "1: : On",
            "E1",
            "E10",
            "Eabcd: x",
            "Eéé: x",
            "E12",
            "v",
            "v1",
            "v.",
            "vé.",
        ];
        for s in inputs {
            let _ = parse_menu_outlets(s);
            let _ = parse_cli_outlets(s);
            let _ = error_line(s);
            let _ = firmware_major(s);
        }
        assert_eq!(parse_menu_outlets(" 3- a b c OFF").len(), 1);
        assert_eq!(parse_cli_outlets("1: : On").len(), 1);
    }
}
