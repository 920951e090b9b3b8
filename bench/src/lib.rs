//! # ward-bench
//!
//! Benchmarks for ward's performance targets (SPEC §8), each run side by
//! side with the engine it is compared against, in one process.
//!
//! The code lives in `benches/`; this library is empty and exists only so
//! that the package has a target. Run `cargo bench -p ward-bench --bench
//! policy` for the policy-decision benchmark (ward-policy vs cedar-policy).
//! The `agent_load` binary (`src/bin/agent_load.rs`, run by
//! `bench/scripts/hosts.sh`) loads a ward-agent socket.
//!
//! What it is not: a test suite. It has no tests, and `cargo test` does not
//! build its dev-dependencies.
#![forbid(unsafe_code)]
