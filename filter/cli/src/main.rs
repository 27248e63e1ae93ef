//! `trino-router`: check a config and explain routing decisions offline, with the same
//! core the Envoy filter runs.

mod config_file;

use std::process::ExitCode;
use trino_router_core::config::{Config, StickinessMode};
use trino_router_core::explain::explain_body;
use trino_router_core::rate_limit::Stage;
use trino_router_core::request::{Headers, RequestHead};

const USAGE: &str = "usage:
  trino-router validate FILE
      FILE is the filter's JSON config, or an Envoy/Istio YAML that embeds it (an identify
      stage, {\"stage\": \"identify\"}, is checked against the router filter of its vm_id).
      Exit 0 when every config found is valid; else print each error with its field, exit 1.
  trino-router explain [--config FILE] [--header 'Name: value']... (--sql TEXT | --sql-file PATH)
      Print, as one JSON object, what the SQL is and touches; with --config also the rule,
      group and candidate clusters a new query with these headers would get.
  trino-router oauth2-redirect-uris FILE BASE_URL
      Print, per cluster, the OAuth2 callback URI its coordinator gives the identity provider
      behind the router at BASE_URL (https://host[:port]): register each with the provider.";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("validate") if args.len() == 2 => validate(&args[1]),
        Some("explain") => explain_cmd(&args[1..]),
        Some("oauth2-redirect-uris") if args.len() == 3 => redirect_uris(&args[1], &args[2]),
        Some("-h" | "--help" | "help") => {
            println!("{USAGE}");
            Ok(true)
        }
        _ => Err(format!("unknown command\n{USAGE}")),
    };
    match result {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("trino-router: {e}");
            ExitCode::from(2)
        }
    }
}

/// Prints every config found in the file; Ok(false) when any is invalid.
fn validate(path: &str) -> Result<bool, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{path}: {e}"))?;
    let configs = config_file::find_configs(&text).map_err(|e| format!("{path}: {e}"))?;
    let stages: Vec<_> = configs.iter().map(|found| Stage::from_json(found.json.as_bytes())).collect();
    let mut ok = true;
    for (found, stage) in configs.iter().zip(&stages) {
        let problems = match stage {
            Ok(Stage::Route(c)) => {
                let problems = surroundings_problems(c, found);
                if problems.is_empty() {
                    let (clusters, groups, rules) = (c.clusters.len(), c.groups.len(), c.rules.0.len());
                    println!("{path} ({}): valid: {clusters} clusters, {groups} groups, {rules} rules", found.location);
                }
                problems
            }
            Ok(Stage::Identify) => {
                let problems = identify_problems(found, &configs, &stages);
                if problems.is_empty() {
                    println!("{path} ({}): valid: identify stage for the rate-limit filters", found.location);
                }
                problems
            }
            Err(errors) => errors.0.iter().map(ToString::to_string).collect(),
        };
        for problem in &problems {
            println!("{path} ({}): {problem}", found.location);
        }
        ok &= problems.is_empty();
    }
    Ok(ok)
}

/// An identify stage needs the router configuration of a trino-router filter in its VM (same
/// vm_id), and may hold a new query for its body when that configuration reads the SQL.
fn identify_problems(found: &config_file::Found, all: &[config_file::Found], stages: &[StageResult]) -> Vec<String> {
    // A plain JSON file, or an Istio WasmPlugin: the VM is not described here.
    let Some(vm_id) = &found.vm_id else { return Vec::new() };
    let router = all.iter().zip(stages).find_map(|(f, s)| match s {
        Ok(Stage::Route(c)) if f.vm_id.as_ref() == Some(vm_id) => Some(c),
        _ => None,
    });
    let Some(router) = router else {
        return vec![format!(
            "config.vm_config.vm_id: no trino-router filter with vm_id `{vm_id}` in this file: the identify \
             stage reads the router configuration of its VM, and without one answers every request 503"
        )];
    };
    let mut problems = Vec::new();
    if router.reads_sql && found.holds_headers == Some(false) {
        problems.push(
            "config.allow_on_headers_stop_iteration: the router configuration reads the SQL of new queries, \
             so the identify stage holds them for their body: set it to true, or Envoy would hold every new \
             query forever"
                .to_string(),
        );
    }
    problems
}

type StageResult = Result<Stage, trino_router_core::error::ConfigErrors>;

/// What a valid config gets wrong about the Envoy it runs in, each naming the field or
/// the Envoy setting to change.
fn surroundings_problems(c: &Config, found: &config_file::Found) -> Vec<String> {
    let mut problems = Vec::new();
    if c.reads_sql && found.holds_headers == Some(false) {
        problems.push(
            "rules / sql_inspection: this config reads the SQL of new queries (SQL conditions or \
             route_kill_query), but the wasm filter does not set allow_on_headers_stop_iteration: true, \
             so Envoy would hold every new query forever"
                .to_string(),
        );
    }
    let Some(envoy) = &found.envoy else { return problems };
    for (i, cluster) in c.clusters.iter().enumerate() {
        if !envoy.clusters.contains(&cluster.envoy_cluster) {
            problems.push(format!(
                "clusters[{i}].envoy_cluster: no Envoy cluster named `{}` in this file (it has: {}); \
                 every poll and query for cluster {} would fail",
                cluster.envoy_cluster,
                envoy.clusters.join(", "),
                cluster.name
            ));
        }
    }
    let (limit, setting) = &envoy.buffer_limit;
    if c.reads_sql && u64::try_from(c.max_body_bytes).map_or(true, |max| max > *limit) {
        problems.push(format!(
            "sql_inspection.max_body_bytes: {} is over Envoy's request buffer limit of {limit} ({setting}): \
             Envoy would answer 413 itself for bodies in between; lower max_body_bytes or raise that setting",
            c.max_body_bytes
        ));
    }
    problems
}

/// Trino writes the router's pin prefix into its OAuth2 callback URI (forwarded-prefix mode), so
/// each cluster has its own, stable while the signing key is: one line `cluster uri` each.
fn redirect_uris(path: &str, base: &str) -> Result<bool, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{path}: {e}"))?;
    let configs = config_file::find_configs(&text).map_err(|e| format!("{path}: {e}"))?;
    let found = configs.first().ok_or_else(|| format!("{path}: no filter config found"))?;
    let config = Config::from_json(found.json.as_bytes()).map_err(|e| format!("{path}: {e}"))?;
    let base = base.trim_end_matches('/');
    for (i, cluster) in config.clusters.iter().enumerate() {
        match (cluster.stickiness, config.pins.prefix(i)) {
            (StickinessMode::ForwardedPrefix, Some(prefix)) => {
                println!("{} {base}{prefix}/oauth2/callback", cluster.name)
            }
            _ => println!("{} (rewrite mode: OAuth2 through the router needs forwarded_prefix)", cluster.name),
        }
    }
    Ok(true)
}

fn explain_cmd(args: &[String]) -> Result<bool, String> {
    let mut config_path = None;
    let mut headers = Headers::new();
    headers.push(":method", "POST");
    headers.push(":path", "/v1/statement");
    let mut sql = None;
    let mut it = args.iter();
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or_else(|| format!("{flag} needs a value\n{USAGE}"));
        match flag.as_str() {
            "--config" => config_path = Some(value()?.clone()),
            "--header" => {
                let h = value()?;
                let (name, v) = h.split_once(':').ok_or_else(|| format!("--header {h:?}: expected 'Name: value'"))?;
                headers.push(name.trim(), v.trim().as_bytes());
            }
            "--sql" => sql = Some(value()?.clone()),
            "--sql-file" => {
                let p = value()?;
                sql = Some(std::fs::read_to_string(p).map_err(|e| format!("{p}: {e}"))?);
            }
            other => return Err(format!("unknown option {other}\n{USAGE}")),
        }
    }
    let sql = sql.ok_or_else(|| format!("give --sql or --sql-file\n{USAGE}"))?;
    let config = match &config_path {
        None => None,
        Some(path) => Some(load_one_config(path)?),
    };
    let head = RequestHead::from_headers(headers);
    let out = explain_body(config.as_ref(), &head, sql.as_bytes());
    println!("{}", serde_json::to_string_pretty(&out).map_err(|e| e.to_string())?);
    Ok(true)
}

/// The config in a file; an Envoy YAML must embed exactly one.
fn load_one_config(path: &str) -> Result<Config, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{path}: {e}"))?;
    let mut found = config_file::find_configs(&text).map_err(|e| format!("{path}: {e}"))?;
    if found.len() != 1 {
        return Err(format!("{path}: holds {} router configs; give a file with exactly one", found.len()));
    }
    let one = found.remove(0);
    Config::from_json(one.json.as_bytes()).map_err(|e| format!("{path}: invalid config: {e}"))
}
