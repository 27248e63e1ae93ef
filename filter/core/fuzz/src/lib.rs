//! The fuzz targets of `trino-router-core`; their bodies live in `targets.rs`, which the
//! core's `tests/fuzz_corpus_replay.rs` includes too.

pub mod targets;
