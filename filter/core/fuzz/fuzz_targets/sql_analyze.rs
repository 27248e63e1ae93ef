#![no_main]
//! See `targets::sql_analyze` for the input format.

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| trino_router_core_fuzz::targets::sql_analyze(data));
