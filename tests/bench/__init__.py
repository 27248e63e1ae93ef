"""Benchmarks: Envoy with the trino-router filter against plain Envoy, driven by wrk (see run.py)."""
