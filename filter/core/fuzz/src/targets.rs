//! The bodies of the fuzz targets, shared with `filter/core/tests/fuzz_corpus_replay.rs`
//! (which includes this file with `#[path]`), so a target and its stable replay cannot drift.
//!
//! Each function takes the raw fuzz input and must return without panicking. Besides
//! "no panic", they check a few properties the core documents, cheaply: token ranges
//! lie on character boundaries in order, `SqlFacts::from_body` agrees with `analyze`,
//! an analysis without names (`Names::Skip`) says the same of the statement as one with,
//! decoded prepared statements respect the limits, and every pin token `decide` mints
//! verifies back to the cluster it forwards to.
//!
//! Only `std` and `trino_router_core` are used here: the replay test has no other crates.

use std::sync::OnceLock;

use trino_router_core::config::{ClusterId, ClusterState, Config};
use trino_router_core::explain::explain;
use trino_router_core::inspect::{SqlFacts, SqlStatus};
use trino_router_core::observed::{ClusterView, LoadFigure};
use trino_router_core::pin;
use trino_router_core::protocol::CoordinatorId;
use trino_router_core::request::{Headers, RequestHead};
use trino_router_core::route::{decide, Decision, Incoming, Why};
use trino_router_core::sql::{
    analyze, analyze_with, decode_prepared_statements, tokenize, Analysis, Names, SessionContext, SqlError, SqlText,
    MAX_PREPARED_SQL_BYTES, MAX_PREPARED_STATEMENTS, MAX_PREPARED_TOTAL_BYTES, MAX_TABLES,
};

/// The names of every target, as directories under `corpus/` and `artifacts/`.
pub const TARGETS: [&str; 3] = ["sql_analyze", "prepared_header", "route_decide"];

/// Runs the target called `name` on `data`; false for an unknown name.
pub fn run(name: &str, data: &[u8]) -> bool {
    match name {
        "sql_analyze" => sql_analyze(data),
        "prepared_header" => prepared_header(data),
        "route_decide" => route_decide(data),
        _ => return false,
    }
    true
}

/// An `X-Trino-Prepared-Statement` value for the session of `sql_analyze` when bit 3 of
/// the first byte is set: a plain statement, a self-loop, a broken one and a write.
const PREPARED_HEADER: &str = "q=SELECT+*+FROM+t+WHERE+x+%3D+%3F, loop=EXECUTE+loop, bad=SELECT+%27x, \
ins=INSERT+INTO+hive.s.t+SELECT+*+FROM+u";

/// Input: one flags byte, then the SQL. Flags (the seeds use the digits `0`-`9`):
/// bit 0 sets X-Trino-Catalog, bit 1 X-Trino-Schema, bit 2 picks awkward values for them
/// (blank, quoted mixed case) instead of `hive`/`tpcds`, bit 3 adds prepared statements.
pub fn sql_analyze(data: &[u8]) {
    let Some((&flags, body)) = data.split_first() else {
        return;
    };
    let (catalog, schema) = if flags & 4 == 0 { ("hive", "tpcds") } else { (" ", "\"Mixed\"") };
    let catalog = (flags & 1 != 0).then_some(catalog);
    let schema = (flags & 2 != 0).then_some(schema);
    let prepared = flags & 8 != 0;

    let mut headers = Headers::new();
    headers.push(":method", "POST");
    headers.push(":path", "/v1/statement");
    if let Some(c) = catalog {
        headers.push("x-trino-catalog", c);
    }
    if let Some(s) = schema {
        headers.push("x-trino-schema", s);
    }
    let mut ctx = SessionContext::new(catalog, schema);
    if prepared {
        headers.push("x-trino-prepared-statement", PREPARED_HEADER);
        let statements = decode_prepared_statements(PREPARED_HEADER.as_bytes());
        ctx = ctx.with_prepared(statements.unwrap_or_default());
    }
    let head = RequestHead::from_headers(headers);
    let facts = SqlFacts::from_body(body, &head, trino_router_core::inspect::SqlDepth::TableNames);

    let Ok(sql) = std::str::from_utf8(body) else {
        assert_eq!(facts.status, SqlStatus::Unparseable, "a body that is not UTF-8 cannot be analysed");
        return;
    };
    let text = SqlText::new(sql);
    if let Ok(tokens) = tokenize(&text) {
        let mut previous_end = 0;
        for t in &tokens {
            assert!(t.start <= t.end && t.end <= sql.len(), "token {t:?} outside the text");
            assert!(t.start >= previous_end, "token {t:?} overlaps the one before");
            assert!(sql.is_char_boundary(t.start) && sql.is_char_boundary(t.end), "token {t:?} splits a character");
            previous_end = t.end;
        }
    }
    let kept = analyze(sql, &ctx);
    same_without_names(&kept, &analyze_with(sql, &ctx, Names::Skip));
    match kept {
        Ok(analysis) => {
            assert!(analysis.tables.len() <= MAX_TABLES, "more than MAX_TABLES tables");
            assert_eq!(facts.status, SqlStatus::Analysed, "from_body disagrees with analyze: {:?}", facts.problem);
            assert_eq!(facts.analysis.as_ref(), Some(&analysis), "from_body and analyze differ");
            let _ = analysis.table_names();
            let _ = analysis.writes();
        }
        Err(e) => {
            assert_eq!(facts.status, SqlStatus::Unparseable, "analyze failed ({e}) but from_body did not");
            let _ = (e.to_string(), e.kind());
        }
    }
}

/// The statement's facts and errors do not depend on whether names are kept; only kept
/// names can be too many.
fn same_without_names(kept: &Result<Analysis, SqlError>, skipped: &Result<Analysis, SqlError>) {
    let facts = |a: &Analysis| {
        (a.statement_type, a.query_type, a.inner_statement_type, a.kill_query_id.clone(), a.prepared_missing)
    };
    match (kept, skipped) {
        (Err(SqlError::TooManyTables { .. }), s) => {
            assert!(!matches!(s, Err(SqlError::TooManyTables { .. })), "capped without names")
        }
        (Ok(k), Ok(s)) => {
            assert_eq!(facts(k), facts(s), "the statement's facts depend on the names kept");
            assert!(s.tables.is_empty() && s.catalogs.is_empty() && s.schemas.is_empty(), "names kept: {s:?}");
        }
        (k, s) => assert_eq!(k.as_ref().err(), s.as_ref().err(), "the error depends on the names kept"),
    }
}

/// Input: an `X-Trino-Prepared-Statement` header value. Each decoded statement is then
/// analysed in a session that has them all, and `EXECUTE` of the first goes through
/// `SqlFacts::from_body` with the header attached.
pub fn prepared_header(data: &[u8]) {
    let statements = match decode_prepared_statements(data) {
        Ok(s) => s,
        Err(e) => {
            let _ = (e.to_string(), e.kind());
            return;
        }
    };
    assert!(statements.len() <= MAX_PREPARED_STATEMENTS, "too many statements decoded");
    let mut total: usize = 0;
    for (name, sql) in &statements {
        assert!(!name.is_empty(), "a statement with an empty name was decoded");
        assert!(sql.len() <= MAX_PREPARED_SQL_BYTES, "a statement over MAX_PREPARED_SQL_BYTES was decoded");
        total = total.saturating_add(sql.len());
    }
    assert!(total <= MAX_PREPARED_TOTAL_BYTES, "statements over MAX_PREPARED_TOTAL_BYTES were decoded");

    let ctx = SessionContext::new(Some("hive"), Some("web")).with_prepared(statements.clone());
    for (_, sql) in &statements {
        let _ = analyze(sql, &ctx);
    }
    let mut headers = Headers::new();
    headers.push(":method", "POST");
    headers.push(":path", "/v1/statement");
    headers.push("x-trino-catalog", "hive");
    headers.push("x-trino-schema", "web");
    headers.push("x-trino-prepared-statement", data);
    let head = RequestHead::from_headers(headers);
    let first = statements.first().map(|(name, _)| name.replace('"', "\"\"")).unwrap_or_default();
    let facts = SqlFacts::from_body(
        format!("EXECUTE \"{first}\"").as_bytes(),
        &head,
        trino_router_core::inspect::SqlDepth::TableNames,
    );
    assert_ne!(facts.status, SqlStatus::NotRead);
}

/// The config `route_decide` routes with: the shape of `tests/common/mod.rs`, plus a
/// draining and a disabled cluster, every selection policy, a fallback chain, header and SQL
/// rules, and the routing-group header honoured for two groups.
pub const ROUTE_CONFIG: &str = r#"{
  "clusters": [
    {"name": "adhoc-1", "envoy_cluster": "trino_adhoc_1"},
    {"name": "adhoc-2", "envoy_cluster": "trino_adhoc_2"},
    {"name": "etl-1", "envoy_cluster": "trino_etl_1", "stickiness": "forwarded_prefix"},
    {"name": "etl-2", "envoy_cluster": "trino_etl_2", "state": "draining"},
    {"name": "old-1", "envoy_cluster": "trino_old_1", "state": "disabled"}
  ],
  "groups": [
    {"name": "adhoc", "selection": "power_of_two",
      "members": [{"cluster": "adhoc-1"}, {"cluster": "adhoc-2", "weight": 3}]},
    {"name": "etl", "selection": "least_loaded", "fallback": "adhoc",
      "members": [{"cluster": "etl-1"}, {"cluster": "etl-2", "weight": 2}]},
    {"name": "legacy", "fallback": "etl", "members": [{"cluster": "old-1"}]}
  ],
  "default_group": "adhoc",
  "rules": [
    {"name": "etl-user", "when": {"user": {"regex": "etl-.*"}}, "route_to": "etl"},
    {"name": "airflow", "when": {"all": [{"source": {"prefix": "airflow"}},
      {"client_tags": {"any_of": ["nightly", "backfill"]}}]}, "route_to": "etl"},
    {"name": "big-session", "when": {"session_property": {"name": "query_max_memory", "value": {"in": ["1TB", "2TB"]}}},
      "route_to": "etl"},
    {"name": "legacy-team", "when": {"header": {"name": "X-Team", "value": {"exact": "legacy"}}}, "route_to": "legacy"},
    {"name": "writes", "when": {"query_type": {"in": ["INSERT", "DELETE", "DATA_DEFINITION"]}}, "route_to": "etl"},
    {"name": "finance", "when": {"tables": {"any": {"glob": "hive.finance.*"}}}, "route_to": "etl"},
    {"name": "only-tpch", "when": {"catalogs": {"all": {"exact": "tpch"}}}, "route_to": "adhoc"},
    {"name": "approx", "when": {"sql": {"search": "(?i)approx_distinct"}}, "route_to": "etl"},
    {"name": "huge", "when": {"body_size": {"min": 1024}}, "route_to": "etl"},
    {"name": "not-analysed", "when": {"not": {"sql_inspection": {"exact": "analysed"}}}, "route_to": "adhoc"},
    {"name": "header", "when": {"header": {"name": "X-Team", "value": {"exact": "data"}}}, "route_to": "etl"}
  ],
  "routing_group_header": {"enabled": true, "allowed_groups": ["etl", "legacy"]},
  "stickiness": {"signing_key": "fuzz-signing-key-0123456789abcdefghij"},
  "sql_inspection": {"max_body_bytes": 2048}
}"#;

fn route_config() -> Option<&'static Config> {
    static CONFIG: OnceLock<Option<Config>> = OnceLock::new();
    CONFIG.get_or_init(|| Config::from_json(ROUTE_CONFIG.as_bytes()).ok()).as_ref()
}

/// Every cluster takes new queries (the config's states still apply). Load figures and
/// the owner of a coordinator id come from a hash of the input: figures are missing for
/// some inputs (load-aware choice falls back to weighted random) and tie for others, and
/// one of the owners is past the end of the config, which must be handled too.
struct EveryClusterUsable {
    seed: u64,
}

impl ClusterView for EveryClusterUsable {
    fn accepts_new_queries(&self, _: ClusterId) -> bool {
        true
    }

    fn load(&self, cluster: ClusterId) -> Option<LoadFigure> {
        let bits = self.seed.checked_shr(u32::try_from(cluster.0 % 16).ok()?.saturating_mul(4))?;
        (self.seed & 1 == 0).then_some(LoadFigure { queued: bits & 3, running: (bits >> 2) & 3 })
    }

    fn owner_of(&self, coordinator: &CoordinatorId) -> Option<ClusterId> {
        let first = coordinator.as_str().bytes().next()?;
        Some(ClusterId(usize::from(first % 6)))
    }

    fn now_s(&self) -> u64 {
        self.seed % 4_000_000_000
    }
}

/// Input: a small HTTP request in text form:
///
/// ```text
/// METHOD path\n
/// name: value\n        (any number of header lines, bytes kept as they are)
/// \n
/// body                 (read as the SQL when `Incoming::needs_body` says so)
/// ```
///
/// In the path, `@pin@` becomes a valid token for `etl-1`, `@old@` one for the disabled
/// `old-1` and `@gone@` one for a cluster the config does not have, so the fuzzer reaches
/// the pinned paths without forging an HMAC. The choice's random number and the view's
/// load figures come from a hash of the input.
pub fn route_decide(data: &[u8]) {
    let Some(config) = route_config() else {
        panic!("ROUTE_CONFIG does not load");
    };
    let (head_bytes, body) = match find(data, b"\n\n") {
        Some(i) => (data.get(..i).unwrap_or_default(), data.get(i.saturating_add(2)..).unwrap_or_default()),
        None => (data, &[][..]),
    };
    let mut lines = head_bytes.split(|&b| b == b'\n');
    let request_line = lines.next().unwrap_or_default();
    let (method, path) = match request_line.iter().position(|&b| b == b' ') {
        Some(i) => {
            (request_line.get(..i).unwrap_or_default(), request_line.get(i.saturating_add(1)..).unwrap_or_default())
        }
        None => (request_line, &b"/"[..]),
    };
    let path = with_tokens(config, path);

    let mut headers = Headers::new();
    headers.push(":method", method);
    headers.push(":path", path);
    for line in lines {
        // Skip the first byte so pseudo headers (`:authority: x`) split after their name.
        let colon = line.iter().skip(1).position(|&b| b == b':').map(|i| i.saturating_add(1));
        let (name, value) = match colon {
            Some(i) => (line.get(..i).unwrap_or_default(), line.get(i.saturating_add(1)..).unwrap_or_default()),
            None => (line, &[][..]),
        };
        let value = value.strip_prefix(b" ").unwrap_or(value);
        headers.push(&String::from_utf8_lossy(name), value);
    }
    let incoming = Incoming::read(config, RequestHead::from_headers(headers));
    let head = &incoming.head;
    let sql = if incoming.needs_body(config) {
        if body.len() > config.max_body_bytes {
            SqlFacts::too_large(body.len(), config.max_body_bytes)
        } else {
            SqlFacts::from_body(body, head, trino_router_core::inspect::SqlDepth::TableNames)
        }
    } else {
        SqlFacts::not_read()
    };
    let seed = fnv1a(data);
    let decision = decide(config, &incoming, &sql, &EveryClusterUsable { seed: seed.rotate_left(17) }, seed);
    let _ = explain(Some(config), head, &sql);
    match decision {
        Decision::Forward(f) => {
            let cluster = config.cluster(f.cluster);
            assert!(cluster.is_some(), "forward to a cluster the config does not have: {f:?}");
            let Some(cluster) = cluster else { return };
            assert_eq!(f.envoy_cluster, cluster.envoy_cluster, "forward names the wrong Envoy cluster");
            // Only follow-ups (and kill_query, which follows its query) may reach a cluster
            // that is not active; a disabled one is never reached.
            if !matches!(f.why, Why::Pinned | Why::QueryId | Why::KillQuery) {
                assert_eq!(cluster.state, ClusterState::Active, "{} chosen for {}", cluster.name, f.why);
            }
            assert_ne!(cluster.state, ClusterState::Disabled, "disabled {} reached for {}", cluster.name, f.why);
            if let Some(prefix) = &f.forwarded_prefix {
                let Some((token, rest)) = pin::split_prefix(&config.path_marker, prefix) else {
                    panic!("forwarded prefix {prefix:?} does not carry a token");
                };
                assert_eq!(rest, "/", "forwarded prefix {prefix:?} has more than a token");
                assert_eq!(config.pin_keys.verify(token).ok().as_deref(), Some(cluster.name.as_str()));
            }
            let _ = f.why.to_string();
        }
        Decision::Reply(r) => {
            assert!(matches!(r.status, 400 | 404 | 410 | 500 | 503), "unexpected status {}", r.status);
            assert!(r.body.starts_with("Error "), "reply body {:?} is not in Trino's form", r.body);
            let _ = r.why.to_string();
        }
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

fn with_tokens(config: &Config, path: &[u8]) -> Vec<u8> {
    let mut out = path.to_vec();
    for (placeholder, cluster) in [(&b"@pin@"[..], "etl-1"), (&b"@old@"[..], "old-1"), (&b"@gone@"[..], "retired-1")] {
        let Some(token) = config.pin_keys.sign(cluster) else { continue };
        while let Some(i) = find(&out, placeholder) {
            out.splice(i..i.saturating_add(placeholder.len()), token.as_str().bytes());
        }
    }
    out
}

fn fnv1a(data: &[u8]) -> u64 {
    data.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3))
}
