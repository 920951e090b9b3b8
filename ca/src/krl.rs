//! placeholder (in progress)
