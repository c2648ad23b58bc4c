//! The README's tour runs as written: every GraphQL example in README.md is
//! extracted with the tour comment above it (`<!-- tour: as <role>; save
//! <name> = <path>; expect <RULE> -->`) and the variables block below it, and
//! run in order against a fresh server with the demo data and the demo
//! tokens. An example that errors, a placeholder nobody saved, or an example
//! without its comment fails the test, so the README cannot drift from the
//! schema or from the rules.

use std::collections::HashMap;

use serde_json::{Value, json};

use crate::helpers::{Backend, spawn_app};
use crate::on_both_backends;

/// What cargo run seeds.
const DEMO_ORDERS: u64 = 40;

/// One runnable example.
#[derive(Debug)]
struct Example {
    /// 1-based line of the example's opening fence, for messages.
    line: usize,
    role: String,
    saves: Vec<(String, String)>,
    expect: Option<String>,
    query: String,
    variables: Value,
}

fn directive(line: usize, text: &str) -> (String, Vec<(String, String)>, Option<String>) {
    let body = text.trim().trim_start_matches("<!-- tour:").trim_end_matches("-->").trim();
    let (mut role, mut saves, mut expect) = (None, Vec::new(), None);
    for part in body.split(';').map(str::trim).filter(|p| !p.is_empty()) {
        if let Some(who) = part.strip_prefix("as ") {
            role = Some(who.trim().to_owned());
        } else if let Some(save) = part.strip_prefix("save ") {
            let (name, path) = save.split_once('=').unwrap_or_else(|| panic!("README.md:{line}: `{part}`"));
            saves.push((name.trim().to_owned(), path.trim().to_owned()));
        } else if let Some(what) = part.strip_prefix("expect ") {
            expect = Some(what.trim().to_owned());
        } else {
            panic!("README.md:{line}: unknown tour directive `{part}`");
        }
    }
    (role.unwrap_or_else(|| panic!("README.md:{line}: the tour comment names no role (`as buyer`)")), saves, expect)
}

/// The fenced block starting at `lines[start]` (the fence itself), and the
/// index after its closing fence.
fn block(lines: &[&str], start: usize) -> (String, usize) {
    let end = (start + 1..lines.len())
        .find(|&i| lines[i].trim() == "```")
        .unwrap_or_else(|| panic!("README.md:{}: unclosed block", start + 1));
    (lines[start + 1..end].join("\n"), end + 1)
}

fn examples(readme: &str) -> Vec<Example> {
    let lines: Vec<&str> = readme.lines().collect();
    let mut out = Vec::new();
    let mut pending: Option<(usize, String)> = None;
    let mut i = 0;
    while i < lines.len() {
        let line = lines[i].trim();
        if line.starts_with("<!-- tour:") {
            assert!(pending.is_none(), "README.md:{}: a tour comment without its example", i + 1);
            pending = Some((i + 1, line.to_owned()));
            i += 1;
        } else if line == "```graphql" {
            let (at, comment) = pending
                .take()
                .unwrap_or_else(|| panic!("README.md:{}: a GraphQL example without a tour comment", i + 1));
            assert_eq!(at, i, "README.md:{at}: the tour comment must sit right above its example");
            let (role, saves, expect) = directive(at, &comment);
            let (query, next) = block(&lines, i);
            let mut after = next;
            while after < lines.len() && lines[after].trim().is_empty() {
                after += 1;
            }
            let (variables, next) = if after < lines.len() && lines[after].trim() == "```json" {
                let (text, next) = block(&lines, after);
                let value = serde_json::from_str(&text)
                    .unwrap_or_else(|e| panic!("README.md:{}: the variables are not JSON: {e}", after + 1));
                (value, next)
            } else {
                (json!({}), next)
            };
            out.push(Example { line: i + 1, role, saves, expect, query, variables });
            i = next;
        } else {
            i += 1;
        }
    }
    assert!(pending.is_none(), "a tour comment at the end of README.md without its example");
    out
}

/// Replaces `"<name>"` strings with saved values and `"<a new UUID>"` with a
/// fresh one.
fn fill(line: usize, value: &Value, saved: &HashMap<String, Value>) -> Value {
    match value {
        Value::String(text) if text.starts_with('<') && text.ends_with('>') => {
            let name = &text[1..text.len() - 1];
            if name == "a new UUID" {
                return json!(uuid::Uuid::new_v4().to_string());
            }
            saved.get(name).cloned().unwrap_or_else(|| {
                panic!("README.md:{line}: `{text}` is not saved by an earlier example (saved: {:?})", saved.keys())
            })
        }
        Value::Object(map) => Value::Object(map.iter().map(|(k, v)| (k.clone(), fill(line, v, saved))).collect()),
        Value::Array(items) => Value::Array(items.iter().map(|v| fill(line, v, saved)).collect()),
        other => other.clone(),
    }
}

fn at_path<'a>(data: &'a Value, path: &str) -> &'a Value {
    path.split('.').fold(data, |v, key| match key.parse::<usize>() {
        Ok(index) => &v[index],
        Err(_) => &v[key],
    })
}

async fn the_readme_tour_runs_as_written(backend: Backend) {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).expect("README.md");
    let examples = examples(&readme);
    // The tour covers reading, ordering, paying, delivering and refunding.
    assert!(examples.len() >= 15, "only {} examples found", examples.len());
    for op in
        ["createOrder", "initiatePayment", "capturePayment", "acceptAssignment", "confirmDelivery", "refundPayment"]
    {
        assert!(examples.iter().any(|e| e.query.contains(op)), "the tour lost its `{op}` step");
    }

    let app = spawn_app(backend).await;
    app.seed(DEMO_ORDERS).await;
    let mut tokens = HashMap::new();
    for role in ["buyer", "seller", "agent", "admin"] {
        tokens.insert(role.to_owned(), app.token_for(&format!("{role}@courier.test")).await);
    }
    let mut saved: HashMap<String, Value> = HashMap::new();
    for example in &examples {
        let at = example.line;
        assert!(!example.query.contains('<'), "README.md:{at}: put placeholders in the variables, not in the query");
        let token = tokens.get(&example.role).unwrap_or_else(|| panic!("README.md:{at}: unknown role"));
        let variables = fill(at, &example.variables, &saved);
        let res = app.graphql(&example.query, variables, Some(token)).await;
        match &example.expect {
            None => {
                assert!(res.body.get("errors").is_none(), "README.md:{at}: the example fails: {}", res.body);
                assert!(res.body["data"].is_object(), "README.md:{at}: no data: {}", res.body);
            }
            Some(what) => {
                let ext = &res.error()["extensions"];
                assert!(ext["rule"] == what.as_str() || ext["code"] == what.as_str(), "README.md:{at}: {}", res.body);
            }
        }
        for (name, path) in &example.saves {
            let value = at_path(&res.body["data"], path);
            assert!(value.is_string(), "README.md:{at}: `{path}` is not in the answer: {}", res.body);
            saved.insert(name.clone(), value.clone());
        }
    }
    // The walk-through ended where it says: delivered, partly refunded.
    let order = saved["orderId"].clone();
    let res = app
        .graphql(
            "query($id: ID!) { node(id: $id) { ... on Order { status payment { status refundedAmount } } } }",
            json!({ "id": order }),
            Some(&tokens["admin"]),
        )
        .await;
    assert_eq!(res.data()["node"]["status"], "DELIVERED", "{}", res.body);
    assert_eq!(res.data()["node"]["payment"]["status"], "PARTIALLY_REFUNDED", "{}", res.body);
}

#[test]
fn the_extractor_refuses_an_example_without_its_comment() {
    let bare = "text\n\n```graphql\n{ viewer { id } }\n```\n";
    assert!(std::panic::catch_unwind(|| examples(bare)).is_err());
    let good = "<!-- tour: as buyer; save x = viewer.id -->\n```graphql\n{ viewer { id } }\n```\n\n```json\n{ \"a\": 1 }\n```\n";
    let found = examples(good);
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].saves, vec![("x".to_owned(), "viewer.id".to_owned())]);
    assert_eq!(found[0].variables, json!({ "a": 1 }));
}

on_both_backends!(the_readme_tour_runs_as_written);
