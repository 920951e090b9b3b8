//! Arbitrary bytes as `ward policy simulate` input, with a fixed clock.
//!
//! Properties: `simulate` never panics, and neither does rendering its
//! result as JSON or as text.
#![no_main]

use libfuzzer_sys::fuzz_target;
use ward_policy::{simulate, Instant};

fuzz_target!(|data: &[u8]| {
    let now = Instant::from_epoch_seconds(1_700_000_000);
    if let Ok(sim) = simulate(data, Some(now)) {
        let json = sim.to_json();
        // Serialise too: the JSON is what the CLI prints.
        let _ = serde_json::to_string(&json);
        let _ = sim.to_text();
    }
});
