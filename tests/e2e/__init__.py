"""End-to-end suites: real Envoy with the built wasm filter in front of stand-in coordinators."""
