"""End-to-end suites against real Trino 476 servers, through real Envoy, with the real clients."""
