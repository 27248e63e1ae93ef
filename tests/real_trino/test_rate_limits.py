"""Rate limits on real Trino 476 through envoy/examples/rate-limits.yaml (the identify stage, Envoy's
local rate limit keyed on its headers: 10 new queries per user, then one per 6 s, 429 with
Retry-After: 6), and what the real clients do with the 429:

- Python (trino 0.340.0) retries a 429 that carries Retry-After after sleeping that long: the
  query succeeds once the user's bucket has a token again.
- JDBC and the CLI (476) and Node (trino-client) do not retry a 429: the query fails at once, and
  what each says is asserted below (and written in the README, "Rate limits").

Each test first spends a fresh user's burst with plain POSTs (each cancelled at once), so the
client's own query is the user's 11th. The JVM and Node clients meet the example with the per-user
refill slowed to 10 minutes: on a busy machine a JVM can take longer than 6 s to send its first
request, and the bucket would have a token again.
"""

import time
import uuid

import pytest
import requests

from harness import envoys
from harness.clients import Session, client
from harness.envoy_config import filter_config, http_filter, shipped_config
from harness.paths import REPO_ROOT
from harness.trino_http import post_statement

from .configs import on_real_trino
from .conftest import upstream_ports
from e2e.configs import SIGNING_KEY

EXAMPLE = REPO_ROOT / "envoy" / "examples" / "rate-limits.yaml"
BURST = 10
REFILL_SECONDS = 6


def example_filter() -> dict:
    config = filter_config(shipped_config(EXAMPLE))
    config["stickiness"] = {**config["stickiness"], "signing_key": SIGNING_KEY}
    config["health"] = {"poll_interval_seconds": 1}
    return on_real_trino(config)


@pytest.fixture(scope="module")
def router(trino_servers, module_logs):
    started = envoys.launch_envoy(upstream_ports(trino_servers), example_filter(), module_logs,
                                  base=shipped_config(EXAMPLE))
    yield started
    envoys.stop_envoy(started)


def slow_refill(config: dict) -> None:
    """The per-user bucket refilled every 10 minutes instead of 6 s (Retry-After unchanged)."""
    limits = http_filter(config, "envoy.filters.http.local_ratelimit")["typed_config"]
    [per_user] = [d for d in limits["descriptors"] if d["entries"][0]["key"] == "trino_user"]
    per_user["token_bucket"]["fill_interval"] = "600s"


@pytest.fixture(scope="module")
def slow_router(trino_servers, module_logs):
    started = envoys.launch_envoy(upstream_ports(trino_servers), example_filter(), module_logs,
                                  base=shipped_config(EXAMPLE), adjust=slow_refill)
    yield started
    envoys.stop_envoy(started)


def limited(router) -> int:
    """How many requests Envoy's local rate limit has answered 429 so far."""
    return router.stats(r"trino_rate_limit\.http_local_rate_limit\.rate_limited").get(
        "trino_rate_limit.http_local_rate_limit.rate_limited", 0)


def spend_burst(url: str, user: str) -> None:
    """The user's whole burst, on queries cancelled at once; the next new query is over the limit."""
    for _ in range(BURST):
        page = post_statement(url, "SELECT 1", user=user)
        assert page.status_code == 200, page.text
        requests.delete(page.json()["nextUri"], headers={"X-Trino-User": user}, timeout=10)
    over = post_statement(url, "SELECT 1", user=user)
    assert over.status_code == 429 and over.headers.get("Retry-After") == str(REFILL_SECONDS), over.text


def run_over_the_limit(router, name: str):
    user = f"{name}-{uuid.uuid4().hex[:8]}"
    spend_burst(router.url, user)
    marker = uuid.uuid4().hex
    started = time.monotonic()
    [result] = client(name).run(router.url, [f"SELECT 7 /* {marker} */"], Session(user=user), timeout=60)
    return result, time.monotonic() - started


def test_the_python_client_waits_retry_after_and_then_succeeds(router):
    result, took = run_over_the_limit(router, "python")
    print(f"\npython: {took:.1f} s, ok={result.ok}, rows={result.rows}")
    assert result.ok, result
    assert str(result.rows) in ("[[7]]", "[['7']]")
    # Its first try got 429 (the bucket was empty); it slept Retry-After and tried again.
    assert took >= REFILL_SECONDS - 1.5, f"succeeded after {took:.1f} s: no wait, so no 429?"


@pytest.mark.parametrize("name", ["jdbc", "cli", "node"])
def test_jdbc_cli_and_node_fail_at_once_on_429(slow_router, name):
    before = limited(slow_router)
    result, took = run_over_the_limit(slow_router, name)
    print(f"\n{name}: {took:.1f} s, ok={result.ok}, error={result.error!r}")
    assert not result.ok, f"{name} succeeded over the limit: {result}"
    # JDBC and the CLI: "Error starting query at <uri> returned an invalid response:
    # JsonResponse{statusCode=429, ...}"; Node: "HTTP 429: Request failed with status code 429".
    assert "429" in str(result.error), result.error
    # No retry after Retry-After: the spent burst's check got one 429, the client's POST the
    # other; a client that tried again would have met the empty bucket again.
    assert limited(slow_router) - before == 2, f"{name}: {limited(slow_router) - before} requests limited"
