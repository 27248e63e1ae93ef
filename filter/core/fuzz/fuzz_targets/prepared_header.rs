#![no_main]
//! See `targets::prepared_header` for the input format.

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| trino_router_core_fuzz::targets::prepared_header(data));
