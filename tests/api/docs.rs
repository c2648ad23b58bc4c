//! The operators' documents are checked against the code: every log event
//! in `docs/events.md`, every metric in `docs/metrics.md` (against what
//! `/metrics` exposes after a workload), and the Grafana dashboard and the
//! Prometheus alerts query only metrics that exist.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use crate::helpers::Backend;
use crate::operations::{Exposition, scrape, workload};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn read(path: &str) -> String {
    std::fs::read_to_string(root().join(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("read dir").flatten() {
        let path = entry.path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The string literal starting at `text` (just after its opening quote).
fn literal(text: &str) -> Option<&str> {
    text.split_once('"').map(|(name, _)| name)
}

/// Every event name the source emits: `event = "name"` in log macros and
/// the event of each `db::retry(policy, "name", ...)`. Comment lines are skipped.
fn emitted_events() -> (BTreeSet<String>, BTreeSet<String>) {
    let mut files = Vec::new();
    rust_files(&root().join("src"), &mut files);
    let (mut events, mut retries) = (BTreeSet::new(), BTreeSet::new());
    for file in files {
        let text = std::fs::read_to_string(&file).expect("source");
        let code: String = text.lines().filter(|l| !l.trim_start().starts_with("//")).collect::<Vec<_>>().join("\n");
        for (i, _) in code.match_indices("event = \"") {
            if let Some(name) = literal(&code[i + "event = \"".len()..]) {
                events.insert(name.to_owned());
            }
        }
        for (i, _) in code.match_indices("db::retry(") {
            let rest = &code[i..];
            if let Some(start) = rest.find('"')
                && let Some(name) = literal(&rest[start + 1..])
            {
                events.insert(name.to_owned());
                retries.insert(name.to_owned());
            }
        }
    }
    (events, retries)
}

/// The first column of a Markdown table's rows, when it is `` `name` ``,
/// with the rest of the row's cells.
fn table(markdown: &str) -> BTreeMap<String, Vec<String>> {
    markdown
        .lines()
        .filter_map(|line| {
            let cells: Vec<String> =
                line.trim().strip_prefix('|')?.strip_suffix('|')?.split('|').map(|c| c.trim().to_owned()).collect();
            let name = cells.first()?.strip_prefix('`')?.strip_suffix('`')?.to_owned();
            Some((name, cells[1..].to_vec()))
        })
        .collect()
}

#[test]
fn every_emitted_event_is_documented_and_every_documented_one_is_emitted() {
    let (emitted, _) = emitted_events();
    assert!(emitted.len() > 40, "the scan finds the events: {emitted:?}");
    let documented: BTreeSet<String> = table(&read("docs/events.md")).into_keys().collect();
    let undocumented: Vec<_> = emitted.difference(&documented).collect();
    let gone: Vec<_> = documented.difference(&emitted).collect();
    assert!(undocumented.is_empty(), "add to docs/events.md: {undocumented:?}");
    assert!(gone.is_empty(), "documented in docs/events.md but no longer emitted: {gone:?}");
    for (name, cells) in table(&read("docs/events.md")) {
        let level = cells.first().map(String::as_str).unwrap_or("");
        assert!(
            level.split('/').map(str::trim).all(|l| ["trace", "debug", "info", "warn", "error"].contains(&l)),
            "{name}: level `{level}`"
        );
    }
}

#[test]
fn retried_operations_are_the_retry_events() {
    let (_, retries) = emitted_events();
    let known: BTreeSet<String> =
        courier::telemetry::metrics::RETRIED_OPERATIONS.iter().map(|s| (*s).to_owned()).collect();
    assert_eq!(retries, known, "metrics::RETRIED_OPERATIONS must list every db::retry event");
}

/// Metric names a PromQL text uses (`courier_...`), histogram suffixes removed.
fn metrics_used(text: &str) -> BTreeSet<String> {
    let mut used = BTreeSet::new();
    for (i, _) in text.match_indices("courier_") {
        let name: String = text[i..].chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').collect();
        let base =
            ["_bucket", "_count", "_sum"].iter().find_map(|s| name.strip_suffix(s)).map_or(name.clone(), str::to_owned);
        used.insert(base);
    }
    used
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_docs_dashboard_and_alerts_match_what_metrics_exposes() {
    let app = workload(Backend::Postgres).await;
    let mut exposed = Exposition::parse("");
    for _ in 0..50 {
        exposed = Exposition::parse(&scrape(&app).await.2);
        if exposed.types.contains_key("courier_ledger_invariant_violations")
            && exposed.types.contains_key("courier_pg_cache_hit_ratio")
        {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let documented = table(&read("docs/metrics.md"));
    let exposed_names: BTreeSet<String> = exposed.types.keys().filter(|n| n.starts_with("courier_")).cloned().collect();
    let documented_names: BTreeSet<String> = documented.keys().cloned().collect();
    assert_eq!(
        documented_names, exposed_names,
        "docs/metrics.md lists exactly what /metrics exposes (left: documented, right: exposed)"
    );
    for (name, cells) in &documented {
        assert_eq!(cells.first(), exposed.types.get(name), "{name}: documented type");
        let documented_labels: BTreeSet<String> = cells
            .get(1)
            .map(|c| {
                c.split(',')
                    .map(|l| l.trim().trim_matches('`').to_owned())
                    .filter(|l| !l.is_empty() && l != "-")
                    .collect()
            })
            .unwrap_or_default();
        let seen: BTreeSet<String> = exposed
            .samples
            .iter()
            .filter(|(n, _, _)| {
                n == name || n.strip_prefix(name.as_str()).is_some_and(|s| ["_bucket", "_count", "_sum"].contains(&s))
            })
            .flat_map(|(_, labels, _)| labels.keys().filter(|k| *k != "le").cloned())
            .collect();
        assert_eq!(documented_labels, seen, "{name}: documented labels");
    }

    let dashboard: serde_json::Value =
        serde_json::from_str(&read("deploy/grafana/courier.json")).expect("the dashboard is valid JSON");
    let mut exprs = String::new();
    fn collect(value: &serde_json::Value, out: &mut String) {
        match value {
            serde_json::Value::Object(map) => {
                for (k, v) in map {
                    if k == "expr" {
                        out.push_str(v.as_str().unwrap_or(""));
                        out.push('\n');
                    } else {
                        collect(v, out);
                    }
                }
            }
            serde_json::Value::Array(items) => items.iter().for_each(|v| collect(v, out)),
            _ => {}
        }
    }
    collect(&dashboard, &mut exprs);
    let used = metrics_used(&exprs);
    for needed in [
        "courier_http_request_duration_seconds",
        "courier_graphql_errors_total",
        "courier_db_pool_in_use",
        "courier_sql_slow_statements_total",
        "courier_payment_captures_total",
    ] {
        assert!(used.contains(needed), "the dashboard shows {needed}");
    }
    let unknown: Vec<_> = used.difference(&documented_names).collect();
    assert!(unknown.is_empty(), "the dashboard queries metrics that do not exist: {unknown:?}");

    let alerts = read("deploy/prometheus/alerts.yml");
    let used = metrics_used(&alerts);
    let unknown: Vec<_> = used.difference(&documented_names).collect();
    assert!(unknown.is_empty(), "alerts query metrics that do not exist: {unknown:?}");
    for needed in [
        "courier_payment_capture_duration_seconds",
        "courier_ledger_invariant_violations",
        "courier_db_pool_utilization_ratio",
        "courier_sql_slow_statements_total",
        "courier_db_up",
    ] {
        assert!(used.contains(needed), "an alert uses {needed}");
    }
}

#[test]
fn the_readme_links_the_operators_documents() {
    let readme = read("README.md");
    for doc in [
        "docs/operations.md",
        "docs/events.md",
        "docs/metrics.md",
        "deploy/prometheus/alerts.yml",
        "deploy/grafana/courier.json",
    ] {
        assert!(readme.contains(doc), "README links {doc}");
        assert!(root().join(doc).exists(), "{doc} exists");
    }
}
