//! Arbitrary bytes as a policy document of every kind.
//!
//! Properties: parsing never panics, and a policy that parses round-trips
//! through [`Policy::to_json`]: the normalised JSON parses, as the same kind,
//! to an equal policy (what `to_json`'s doc promises), and normalising twice
//! changes nothing.
#![no_main]

use libfuzzer_sys::fuzz_target;
use ward_policy::{Policy, PolicyKind};

const KINDS: [PolicyKind; 7] = [
    PolicyKind::Managed,
    PolicyKind::InlineUser,
    PolicyKind::InlineGroup,
    PolicyKind::InlineRole,
    PolicyKind::Session,
    PolicyKind::Resource,
    PolicyKind::Trust,
];

fuzz_target!(|data: &[u8]| {
    for kind in KINDS {
        let Ok(policy) = Policy::parse_bytes(data, kind) else {
            continue;
        };
        let json = policy.to_json();
        let text = serde_json::to_vec(&json).expect("a serde_json::Value always serialises");
        let again = match Policy::parse_bytes(&text, kind) {
            Ok(p) => p,
            Err(e) => panic!(
                "to_json output does not parse as {}: {e}\noutput: {}",
                kind.name(),
                String::from_utf8_lossy(&text)
            ),
        };
        assert_eq!(
            policy,
            again,
            "round trip through to_json changed a {} policy; to_json: {}",
            kind.name(),
            String::from_utf8_lossy(&text)
        );
        assert_eq!(json, again.to_json(), "to_json is not idempotent");
    }
});
