//! The route table's documents cannot drift from it
//! (`ward_authz::routes::ROUTES`, which ward-ca's router is checked
//! against):
//!
//! - `docs/routes.md` is generated from it: this test fails when the file
//!   differs, and `WARD_BLESS=1` rewrites it;
//! - the route table in `protocol/src/api.rs`'s doc comment (which adds
//!   the request and response bodies) lists exactly the same routes, and
//!   where it names one action, the same action.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use ward_authz::routes::{markdown, ROUTES};

fn root() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
}

#[test]
fn docs_routes_md_is_generated_from_the_table() {
    let path = root().join("docs/routes.md");
    let want = markdown();
    if std::env::var_os("WARD_BLESS").is_some() {
        std::fs::write(&path, &want).unwrap();
    }
    let have = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        have == want,
        "docs/routes.md is not what ward_authz::routes::markdown() makes; \
         run WARD_BLESS=1 cargo test -p ward-tests --test routes"
    );
}

/// `/v1/users/{name}/x` → `/v1/users/{}/x`.
fn shape(path: &str) -> String {
    let mut out = String::new();
    let mut skip = false;
    for c in path.chars() {
        match c {
            '{' => {
                skip = true;
                out.push_str("{}");
            }
            '}' => skip = false,
            c if !skip => out.push(c),
            _ => {}
        }
    }
    out
}

/// The protocol doc's rows: (METHOD, path shape) → the action cell.
fn protocol_rows(src: &str) -> BTreeMap<(String, String), String> {
    let mut out = BTreeMap::new();
    for line in src.lines() {
        let Some(row) = line.strip_prefix("//! | `") else {
            continue;
        };
        let cells: Vec<&str> = row.split(" | ").collect();
        let first = cells[0];
        let (method, rest) = first.split_once(' ').unwrap();
        let end = rest.find(['?', '`']).unwrap();
        let path = &rest[..end];
        let action = cells.get(1).copied().unwrap_or("").trim().to_owned();
        let paths = if path.contains("{users|groups|roles}") {
            vec![
                path.replace("{users|groups|roles}", "users"),
                path.replace("{users|groups|roles}", "groups"),
                path.replace("{users|groups|roles}", "roles"),
            ]
        } else {
            vec![path.to_owned()]
        };
        for p in paths {
            let key = (method.to_owned(), shape(&p));
            assert!(
                out.insert(key.clone(), action.clone()).is_none(),
                "protocol/src/api.rs lists {key:?} twice"
            );
        }
    }
    out
}

#[test]
fn the_protocol_route_doc_lists_the_table() {
    let src = std::fs::read_to_string(root().join("protocol/src/api.rs")).unwrap();
    let doc = protocol_rows(&src);
    assert!(doc.len() > 50, "parsed only {} rows", doc.len());
    let table: BTreeMap<(String, String), &str> = ROUTES
        .iter()
        .map(|r| ((r.method.to_owned(), shape(r.path)), r.action))
        .collect();
    let doc_keys: BTreeSet<_> = doc.keys().cloned().collect();
    let table_keys: BTreeSet<_> = table.keys().cloned().collect();
    let undocumented: Vec<_> = table_keys.difference(&doc_keys).collect();
    let unknown: Vec<_> = doc_keys.difference(&table_keys).collect();
    assert!(
        undocumented.is_empty() && unknown.is_empty(),
        "routes missing from protocol/src/api.rs: {undocumented:?}\n\
         documented there but not in the table: {unknown:?}"
    );
    // Where the doc names exactly one action, it is the table's.
    for (key, cell) in &doc {
        let single = cell
            .strip_prefix('`')
            .and_then(|c| c.strip_suffix('`'))
            .filter(|c| c.contains(':') && !c.contains(['`', '{', '…', ' ']));
        if let Some(action) = single {
            assert_eq!(action, table[key], "{key:?}: protocol doc vs table");
        }
    }
}
