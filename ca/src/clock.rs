//! The daemon's wall clock, in one place (decision code takes time as
//! an input; this is where that input is read).

/// Unix seconds now. The daemon's only clock read for decisions.
pub fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}
