//! `rgm_keygen`: write a new cluster key, like corosync-keygen (see
//! `rgmanager::membership::key`).

use std::process::ExitCode;

use rgmanager::membership::key;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    let arg0 = args
        .first()
        .and_then(|a| std::path::Path::new(a).file_name())
        .and_then(|n| n.to_str())
        .unwrap_or("rgm_keygen")
        .to_string();
    let parsed = match key::parse_keygen_args(args.get(1..).unwrap_or(&[])) {
        Ok(Some(a)) => a,
        Ok(None) => {
            print!("{}", key::keygen_usage(&arg0));
            return ExitCode::SUCCESS;
        }
        Err(msg) => {
            eprint!("{arg0}: {msg}\n{}", key::keygen_usage(&arg0));
            return ExitCode::from(1);
        }
    };
    println!(
        "Writing {} bytes of random data to {}.",
        parsed.len,
        parsed.path.display()
    );
    match key::generate(&parsed.path, parsed.len, parsed.force) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("{arg0}: {e}");
            ExitCode::from(1)
        }
    }
}
