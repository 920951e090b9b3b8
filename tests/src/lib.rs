//! End-to-end and architecture tests for the ward workspace. The library is
//! empty; the tests live in `tests/tests/`.
#![forbid(unsafe_code)]
