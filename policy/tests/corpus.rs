//! The moto IAM policy-validation corpus (Apache-2.0, converted to JSON; see
//! `data/policy-validation/LICENSE-moto-Apache-2.0.txt`): every `valid`
//! document must be accepted and every `invalid` one rejected, as managed
//! (identity) policies.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

use ward_policy::{Policy, PolicyKind};

fn corpus() -> serde_json::Value {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/data/policy-validation/moto-iam-policies.json"
    );
    let text = std::fs::read_to_string(path).expect("corpus file");
    serde_json::from_str(&text).expect("corpus JSON")
}

/// The document text: strings are given verbatim (they are not JSON).
fn text(doc: &serde_json::Value) -> String {
    match doc {
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

#[test]
fn every_valid_document_is_accepted() {
    let c = corpus();
    let valid = c["valid"].as_array().expect("valid list");
    assert_eq!(valid.len(), 54);
    let mut wrong = Vec::new();
    for doc in valid {
        if let Err(e) = Policy::parse(&text(doc), PolicyKind::Managed) {
            wrong.push(format!("{doc}\n    rejected: {e}"));
        }
    }
    assert!(
        wrong.is_empty(),
        "{} valid documents rejected:\n{}",
        wrong.len(),
        wrong.join("\n")
    );
}

#[test]
fn every_invalid_document_is_rejected_with_a_located_message() {
    let c = corpus();
    let invalid = c["invalid"].as_array().expect("invalid list");
    assert_eq!(invalid.len(), 60);
    let mut wrong = Vec::new();
    for case in invalid {
        let doc = &case["document"];
        match Policy::parse(&text(doc), PolicyKind::Managed) {
            Ok(_) => wrong.push(format!(
                "{doc}\n    accepted; moto says: {}",
                case["error_message"]
            )),
            Err(e) => {
                for p in &e.problems {
                    assert!(p.path.as_str().starts_with('$'), "{p}");
                    assert!(!p.message.is_empty(), "{p}");
                }
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "{} invalid documents accepted:\n{}",
        wrong.len(),
        wrong.join("\n")
    );
}

/// Valid documents survive parse → serialise → parse unchanged.
#[test]
fn valid_documents_round_trip() {
    for doc in corpus()["valid"].as_array().expect("valid list") {
        let p = Policy::parse(&text(doc), PolicyKind::Managed).expect("valid");
        let again = Policy::parse(&p.to_json().to_string(), PolicyKind::Managed).expect("reparse");
        assert_eq!(p, again, "{doc}");
    }
}
