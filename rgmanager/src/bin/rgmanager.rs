//! `rgmanager`: the node daemon (see `rgmanager::daemon`). The command line is parsed here with
//! its clap declaration (`rgmanager::cli::daemon_args`: `--help`, `--version`, usage errors)
//! and handed to the daemon spelled out.
//!
//! Under systemd (`rgmanager.service`, `Type=notify`), `rgmanager::sd_bridge` sends READY,
//! STATUS and WATCHDOG from the daemon's admin socket until the daemon sends them itself; and
//! SIGHUP (`systemctl reload`) is caught here so that it cannot kill the daemon, which does not
//! reload from disk yet.
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};

use rgmanager::cli::{daemon_args, Parsed};
use rgmanager::sd_notify::Notifier;

static RELOAD: AtomicBool = AtomicBool::new(false);

extern "C" fn on_hup(_: libc::c_int) {
    // Only an atomic store: all a signal handler may do.
    RELOAD.store(true, Ordering::SeqCst);
}

fn main() -> ExitCode {
    // First, while this is the only thread: the notification socket, taken out of the
    // environment the agents inherit.
    let notifier = Notifier::from_env().unwrap_or_else(|_| Notifier::disabled());
    let handler = on_hup as extern "C" fn(libc::c_int) as libc::sighandler_t;
    // SAFETY: the handler only stores to an atomic, which is async-signal-safe. A handler (not
    // SIG_IGN) is reset on exec, so the agents' programs get the default SIGHUP.
    unsafe {
        libc::signal(libc::SIGHUP, handler);
    }
    let args: Vec<String> = std::env::args().skip(1).collect();
    let parsed = daemon_args::parse(
        &args,
        &mut std::io::stdout().lock(),
        &mut std::io::stderr().lock(),
    );
    match parsed {
        Parsed::Run(a) => {
            let _bridge = rgmanager::sd_bridge::spawn(notifier, a.socket.clone(), &RELOAD);
            ExitCode::from(rgmanager::daemon::main(&daemon_args::canonical(&a)))
        }
        Parsed::Exit(code) => ExitCode::from(code),
    }
}
