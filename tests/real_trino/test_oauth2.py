"""OAuth2 external authentication through the router, against real Trino 476 and a local OpenID
Connect provider: the Python client (trino.auth.OAuth2Authentication) logs in to a group of two
OAuth2 coordinators (oauth-1, oauth-2) through one Envoy replica while the "browser" follows the
login URL through another, and then runs its query.

The flow's state lives on the coordinator that answered the first 401 (its token exchange in
memory, its nonce cookie): the login URL, the provider's callback and the token polls must all
reach it. The filter pins them (README, "Authentication flows"); each coordinator's request log
shows that no step reached the other one.
"""

import json
import subprocess

import pytest
import trino

from harness import wait_until
from harness.live_config import CLI_BIN
from harness.oauth2 import USER, Browser, requests_to, self_signed, tls_listener

from .configs import ENVOY_CLUSTER, two_cluster_group


@pytest.fixture(scope="module")
def filter_json():
    return two_cluster_group()


def flow_paths(server) -> list:
    return [(m, p, s) for m, p, s in server.http_requests() if p.startswith("/oauth2/")]


def test_the_python_client_logs_in_with_oauth2_across_two_replicas_and_every_step_reaches_one_coordinator(
        oauth2_servers, start_envoy, module_logs, monkeypatch):
    files = self_signed(module_logs / "tls")
    # Clients trust the test's certificate; requests would take a CA bundle from these instead.
    for name in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"):
        monkeypatch.delenv(name, raising=False)
    # Group adhoc's two Envoy clusters lead to the OAuth2 coordinators in this test.
    ports = {ENVOY_CLUSTER["adhoc-1"]: oauth2_servers["oauth-1"].port,
             ENVOY_CLUSTER["adhoc-2"]: oauth2_servers["oauth-2"].port}
    replica_a = start_envoy(two_cluster_group(), ports=ports, adjust=tls_listener(files))
    replica_b = start_envoy(two_cluster_group(), ports=ports, adjust=tls_listener(files))
    browser = Browser(via=f"https://127.0.0.1:{replica_b.port}", verify=str(files["cert"]))
    conn = trino.dbapi.connect(host="127.0.0.1", port=replica_a.port, http_scheme="https", verify=str(files["cert"]),
                               auth=trino.auth.OAuth2Authentication(redirect_auth_url_handler=browser))
    try:
        cur = conn.cursor()
        cur.execute("SELECT current_user")
        assert cur.fetchall() == [[USER]]
    finally:
        conn.close()

    # The browser went through replica B: login URL, the provider, the callback, each once; the
    # callback is one of those `trino-router oauth2-redirect-uris` tells operators to register.
    assert len(requests_to(browser.visited, r"/trino-router/[^/]+/oauth2/token/initiate/")) == 1, browser.visited
    [callback] = requests_to(browser.visited, r"/trino-router/[^/]+/oauth2/callback\?")
    config_file = module_logs / "oauth2-filter.json"
    config_file.write_text(json.dumps(two_cluster_group()))
    listed = subprocess.run([str(CLI_BIN), "oauth2-redirect-uris", str(config_file), browser.via],
                            capture_output=True, text=True, timeout=30, check=True).stdout.split()
    assert callback[1].split("?")[0] in listed, (callback, listed)
    # Every step reached one coordinator, the one whose 401 started the flow.
    wait_until(lambda: any(p.startswith("/oauth2/callback") for s in oauth2_servers.values()
                           for _, p, _ in flow_paths(s)), 30, "a coordinator to log the callback")
    steps = {name: flow_paths(s) for name, s in oauth2_servers.items()}
    [owner] = [name for name, logged in steps.items() if logged]
    logged = steps[owner]
    assert any(p.startswith("/oauth2/token/initiate/") and s == 303 for _, p, s in logged), logged
    assert any(p.startswith("/oauth2/callback") and s == 200 for _, p, s in logged), logged
    assert any(m == "GET" and p.startswith("/oauth2/token/") and "initiate" not in p and s == 200
               for m, p, s in logged), logged
