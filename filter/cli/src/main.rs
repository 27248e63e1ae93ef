//! `trino-router`: check a config and explain routing decisions offline, with the same
//! core the Envoy filter runs.

mod config_file;

use std::process::ExitCode;
use trino_router_core::config::Config;

const USAGE: &str = "usage:
  trino-router validate FILE
      FILE is the filter's JSON config, or an Envoy/Istio YAML that embeds it.
      Exit 0 when every config found is valid; else print each error with its field, exit 1.";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("validate") if args.len() == 2 => validate(&args[1]),
        Some("-h" | "--help" | "help") => {
            println!("{USAGE}");
            ExitCode::SUCCESS
        }
        _ => {
            eprintln!("{USAGE}");
            ExitCode::from(2)
        }
    }
}

fn validate(path: &str) -> ExitCode {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("{path}: {e}");
            return ExitCode::from(2);
        }
    };
    let configs = match config_file::find_configs(&text) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("{path}: {e}");
            return ExitCode::FAILURE;
        }
    };
    let mut ok = true;
    for found in configs {
        match Config::from_json(found.json.as_bytes()) {
            Ok(c) => println!(
                "{path} ({}): valid: {} clusters, {} groups, {} rules",
                found.location,
                c.clusters.len(),
                c.groups.len(),
                c.rules.0.len()
            ),
            Err(errors) => {
                ok = false;
                for e in errors.0 {
                    println!("{path} ({}): {e}", found.location);
                }
            }
        }
    }
    if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
