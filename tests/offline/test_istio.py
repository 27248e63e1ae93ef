"""The Istio manifests in envoy/istio/, checked without a cluster: each parses and has what
its kind needs, the filter configs pass `trino-router validate`, and the names that must
agree across files agree (filter cluster -> Istio cluster name -> route -> Service ->
DestinationRule; gateway labels; the module the image ships).
"""

import pytest
import yaml

from harness.paths import REPO_ROOT, WASM_MODULE

from .repo_files import (
    ISTIO_DIR,
    SHIPPED_ENVOY_YAML,
    STRING_VALUE_TYPE,
    WASM_TYPE,
    filter_json,
    istio_cluster_name,
    istio_manifests,
    manifests_of_kind,
    parse_istio_cluster_name,
    service_hosts,
    the_manifest,
    the_wasm_filter,
    trino_router_validate,
)

# What each kind must carry (dotted paths into the document), beyond apiVersion/kind/metadata.
REQUIRED = {
    ("v1", "Service"): ["spec.ports"],
    ("networking.istio.io/v1", "DestinationRule"): ["spec.host", "spec.trafficPolicy.outlierDetection",
                                                    "spec.trafficPolicy.connectionPool"],
    ("networking.istio.io/v1", "Gateway"): ["spec.selector", "spec.servers"],
    ("networking.istio.io/v1", "VirtualService"): ["spec.hosts", "spec.gateways", "spec.http"],
    ("extensions.istio.io/v1alpha1", "WasmPlugin"): ["spec.selector.matchLabels", "spec.url", "spec.phase",
                                                     "spec.failStrategy", "spec.vmConfig", "spec.pluginConfig"],
    ("networking.istio.io/v1alpha3", "EnvoyFilter"): ["spec.workloadSelector.labels", "spec.configPatches"],
}
SQL_CONDITIONS = {"statement_type", "query_type", "tables", "catalogs", "schemas", "sql", "body_size", "sql_inspection"}
WASM_PLUGIN_FILES = ["wasmplugin.yaml", "wasmplugin-sidecar.yaml"]


def lookup(doc: dict, dotted: str):
    value = doc
    for key in dotted.split("."):
        assert isinstance(value, dict) and key in value, f"missing {dotted}"
        value = value[key]
    return value


def manifest_id(item) -> str:
    path, doc = item
    return f"{path.name}:{doc.get('kind')}/{doc.get('metadata', {}).get('name')}"


@pytest.mark.parametrize("item", istio_manifests(), ids=manifest_id)
def test_each_manifest_has_what_its_kind_needs(item):
    path, doc = item
    key = (doc.get("apiVersion"), doc.get("kind"))
    assert key in REQUIRED, f"{path.name}: unexpected apiVersion/kind {key}"
    assert doc["metadata"]["name"] and doc["metadata"]["namespace"], f"{path.name}: name and namespace"
    for dotted in REQUIRED[key]:
        assert lookup(doc, dotted) not in (None, "", [], {}), f"{path.name}: {dotted}"


def test_every_file_holds_manifests_and_nothing_else_is_expected():
    names = sorted({path.name for path, _ in istio_manifests()})
    assert names == ["destination-rules.yaml", "envoyfilter-paths.yaml", "envoyfilter-sql.yaml", "gateway.yaml",
                     "services.yaml", "virtual-service.yaml", "wasmplugin-sidecar.yaml", "wasmplugin.yaml"]


def test_the_gateway_normalises_paths_and_refuses_escaped_slashes():
    """The HCM patch the offline Envoy applies too (istio_in_envoy.bootstrap), so Envoy checks its fields."""
    patch = the_manifest("envoyfilter-paths.yaml", "EnvoyFilter")["spec"]["configPatches"][0]
    assert (patch["applyTo"], patch["patch"]["operation"]) == ("NETWORK_FILTER", "MERGE")
    assert patch["match"]["listener"]["filterChain"]["filter"]["name"] == "envoy.filters.network.http_connection_manager"
    hcm = patch["patch"]["value"]["typed_config"]
    assert (hcm["normalize_path"], hcm["merge_slashes"], hcm["path_with_escaped_slashes_action"]) == (
        True, True, "REJECT_REQUEST")


# --- the filter's configuration ---

@pytest.mark.parametrize("file_name", WASM_PLUGIN_FILES + ["envoyfilter-sql.yaml"])
def test_the_filter_config_passes_trino_router_validate(file_name, cli):
    result = trino_router_validate(ISTIO_DIR / file_name)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "valid: 3 clusters" in result.stdout


def test_trino_router_validate_finds_a_bad_plugin_config(cli, tmp_path):
    plugin = the_manifest("wasmplugin.yaml", "WasmPlugin")
    plugin["spec"]["pluginConfig"]["default_group"] = "nowhere"
    bad = tmp_path / "wasmplugin.yaml"
    bad.write_text(yaml.safe_dump(plugin))
    result = trino_router_validate(bad)
    assert result.returncode == 1 and "WasmPlugin pluginConfig" in result.stdout and "default_group" in result.stdout


def plugin_config(file_name: str) -> dict:
    return the_manifest(file_name, "WasmPlugin")["spec"]["pluginConfig"]


def envoy_filter_config() -> dict:
    return filter_json(the_wasm_filter(the_manifest("envoyfilter-sql.yaml", "EnvoyFilter")))


@pytest.mark.parametrize("file_name", WASM_PLUGIN_FILES)
def test_wasm_plugins_pull_the_image_and_never_fail_open(file_name):
    spec = the_manifest(file_name, "WasmPlugin")["spec"]
    assert spec["url"].startswith("oci://")
    assert spec["type"] == "HTTP"
    # Right before the router: the filter sets the header the route is chosen by.
    assert spec["phase"] == "UNSPECIFIED_PHASE"
    # FAIL_OPEN would let requests skip the filter.
    assert spec["failStrategy"] in ("FAIL_CLOSE", "FAIL_RELOAD")
    assert spec["pluginName"] == the_wasm_filter(yaml.safe_load(SHIPPED_ENVOY_YAML.read_text()))["config"]["root_id"]


def test_gateway_and_sidecar_plugins_carry_the_same_config():
    assert plugin_config("wasmplugin.yaml") == plugin_config("wasmplugin-sidecar.yaml")


def conditions(node) -> set:
    """Every condition key used anywhere in a `when` tree."""
    if isinstance(node, dict):
        return set(node) | {k for v in node.values() for k in conditions(v)}
    if isinstance(node, list):
        return {k for v in node for k in conditions(v)}
    return set()


@pytest.mark.parametrize("file_name", WASM_PLUGIN_FILES)
def test_a_wasm_plugin_config_never_needs_the_request_body(file_name):
    """A WasmPlugin cannot set allow_on_headers_stop_iteration; a filter that pauses a new
    query to read its body would then hang it. So: no SQL condition, kill_query routing off.
    (test_istio_in_envoy.py shows it in Envoy: such a query would time out there.)"""
    config = plugin_config(file_name)
    used = set().union(*(conditions(rule.get("when", {})) for rule in config.get("rules", [])))
    assert not used & SQL_CONDITIONS, f"SQL conditions {used & SQL_CONDITIONS}: use envoyfilter-sql.yaml"
    assert config["sql_inspection"]["route_kill_query"] is False


def test_the_envoy_filter_variant_is_the_plugin_config_plus_sql_rules():
    plugin, full = plugin_config("wasmplugin.yaml"), envoy_filter_config()
    for key in ("clusters", "groups", "default_group", "routing_group_header", "stickiness", "cluster_header"):
        assert full[key] == plugin[key], key
    assert full["rules"][:len(plugin["rules"])] == plugin["rules"]
    extra = set().union(*(conditions(r["when"]) for r in full["rules"][len(plugin["rules"]):]))
    assert extra & SQL_CONDITIONS, "the EnvoyFilter variant exists for SQL rules; it has none"


def test_the_plugin_config_is_envoy_yamls_with_istio_cluster_names():
    shipped = filter_json(the_wasm_filter(yaml.safe_load(SHIPPED_ENVOY_YAML.read_text())))
    plugin = plugin_config("wasmplugin.yaml")
    assert [(c["name"], c.get("stickiness")) for c in plugin["clusters"]] == \
        [(c["name"], c.get("stickiness")) for c in shipped["clusters"]]
    for key in ("groups", "default_group", "rules", "routing_group_header"):
        assert plugin[key] == shipped[key], key


# --- the EnvoyFilter's Envoy config ---

def patches() -> dict:
    envoy_filter = the_manifest("envoyfilter-sql.yaml", "EnvoyFilter")
    return {p["applyTo"]: p for p in envoy_filter["spec"]["configPatches"]}


def test_the_envoy_filter_embeds_the_wasm_filter_with_the_right_types():
    extension = patches()["EXTENSION_CONFIG"]["patch"]
    assert extension["operation"] == "ADD"
    typed = extension["value"]["typed_config"]
    assert typed["@type"] == WASM_TYPE
    assert typed["config"]["configuration"]["@type"] == STRING_VALUE_TYPE
    assert typed["config"]["allow_on_headers_stop_iteration"] is True
    assert typed["config"]["failure_policy"] == "FAIL_RELOAD"
    assert typed["config"]["vm_config"]["runtime"] == "envoy.wasm.runtime.v8"
    assert typed["config"]["vm_config"]["code"]["remote"]["http_uri"]["uri"].startswith("oci://")


def test_the_envoy_filter_inserts_the_filter_before_the_router_with_its_config_from_istio():
    http_filter = patches()["HTTP_FILTER"]
    assert http_filter["match"]["listener"]["filterChain"]["filter"]["subFilter"]["name"] == "envoy.filters.http.router"
    assert http_filter["patch"]["operation"] == "INSERT_BEFORE"
    value = http_filter["patch"]["value"]
    # Envoy asks its ECDS source for the resource named like the filter.
    assert value["name"] == patches()["EXTENSION_CONFIG"]["patch"]["value"]["name"]
    assert value["config_discovery"]["type_urls"] == [WASM_TYPE]
    assert value["config_discovery"]["config_source"]["ads"] == {}


def test_the_wasm_plugin_and_the_envoy_filter_fetch_the_same_module():
    plugin_url = the_manifest("wasmplugin.yaml", "WasmPlugin")["spec"]["url"]
    filter_url = patches()["EXTENSION_CONFIG"]["patch"]["value"]["typed_config"]["config"]["vm_config"]["code"][
        "remote"]["http_uri"]["uri"]
    assert plugin_url == filter_url == the_manifest("wasmplugin-sidecar.yaml", "WasmPlugin")["spec"]["url"]
    assert plugin_url.startswith("oci://")


def test_the_image_ships_the_built_module_as_plugin_wasm():
    lines = [line.split() for line in (ISTIO_DIR / "Dockerfile").read_text().splitlines()
             if line.strip() and not line.startswith("#")]
    assert lines == [["FROM", "scratch"], ["COPY", str(WASM_MODULE.relative_to(REPO_ROOT)), "./plugin.wasm"]]


# --- names that must agree across files ---

def test_every_filter_cluster_has_a_route_to_the_service_its_istio_name_stands_for():
    services = service_hosts()
    vs = the_manifest("virtual-service.yaml", "VirtualService")
    for config in (plugin_config("wasmplugin.yaml"), envoy_filter_config()):
        header = config.get("cluster_header", "x-trino-router-cluster")
        for cluster in config["clusters"]:
            port, host = parse_istio_cluster_name(cluster["envoy_cluster"])
            assert host in services, f"{cluster['name']}: no Service {host}"
            assert port in [p["port"] for p in services[host]["spec"]["ports"]], cluster["envoy_cluster"]
            routes = [r for r in vs["spec"]["http"]
                      if r.get("match", [{}])[0].get("headers", {}).get(header) == {"exact": cluster["envoy_cluster"]}]
            assert routes, f"no route matches {header}: {cluster['envoy_cluster']}"
            for route in routes:
                [destination] = [d["destination"] for d in route["route"]]
                sends_to = istio_cluster_name(destination["host"], destination["port"]["number"])
                assert sends_to == cluster["envoy_cluster"], route["name"]


def test_routes_to_rewrite_mode_clusters_strip_what_envoy_yaml_strips():
    shipped = yaml.safe_load(SHIPPED_ENVOY_YAML.read_text())
    shipped_routes = shipped["static_resources"]["listeners"][0]["filter_chains"][0]["filters"][0]["typed_config"][
        "route_config"]["virtual_hosts"][0]["routes"]
    strip_routes = [r for r in shipped_routes
                    if any(h["name"] == "x-trino-router-strip-forwarded" for h in r["match"].get("headers", []))]
    assert strip_routes and all(r["request_headers_to_remove"] == strip_routes[0]["request_headers_to_remove"]
                                for r in strip_routes), "GET and other routes of rewrite mode strip alike"
    strip_route = strip_routes[0]
    vs = the_manifest("virtual-service.yaml", "VirtualService")
    rewrite = [c for c in plugin_config("wasmplugin.yaml")["clusters"] if c.get("stickiness") == "rewrite"]
    assert rewrite, "the example is meant to show a rewrite-mode cluster"
    for cluster in rewrite:
        [route] = [r for r in vs["spec"]["http"] if r.get("match", [{}])[0].get("headers", {}).get(
            "x-trino-router-cluster") == {"exact": cluster["envoy_cluster"]}
            and "x-trino-router-strip-forwarded" in r["match"][0]["headers"]]
        assert route["headers"]["request"]["remove"] == strip_route["request_headers_to_remove"]
        # First: a route without the mark would also match these requests.
        assert vs["spec"]["http"].index(route) == 0


def test_the_last_route_refuses_requests_the_filter_did_not_route():
    last = the_manifest("virtual-service.yaml", "VirtualService")["spec"]["http"][-1]
    assert "match" not in last and last["directResponse"]["status"] == 503


def test_route_destinations_and_destination_rules_name_services_in_the_manifests():
    services = service_hosts()
    vs = the_manifest("virtual-service.yaml", "VirtualService")
    destinations = {d["destination"]["host"] for r in vs["spec"]["http"] for d in r.get("route", [])}
    rules = {doc["spec"]["host"]: doc for _, doc in manifests_of_kind("DestinationRule")}
    assert destinations <= set(services)
    assert set(rules) == destinations, "one DestinationRule per Trino Service"
    for host, rule in rules.items():
        outliers = rule["spec"]["trafficPolicy"]["outlierDetection"]
        # One coordinator per cluster: ejecting it must be possible, and final.
        assert outliers["maxEjectionPercent"] == 100 and outliers["minHealthPercent"] == 100, host
        assert outliers["consecutiveGatewayErrors"] > 0, host
    assert set(vs["spec"]["hosts"]) & set(services), "the mesh host must be a Service clients can resolve"


def test_trino_services_speak_http_so_istio_runs_http_filters():
    for _, service in manifests_of_kind("Service"):
        for port in service["spec"]["ports"]:
            assert port["name"].startswith("http") or port.get("appProtocol") == "http", service["metadata"]["name"]


def test_the_gateway_the_routes_and_the_filter_select_the_same_workloads():
    gateway = the_manifest("gateway.yaml", "Gateway")
    vs = the_manifest("virtual-service.yaml", "VirtualService")
    plugin = the_manifest("wasmplugin.yaml", "WasmPlugin")
    envoy_filter = the_manifest("envoyfilter-sql.yaml", "EnvoyFilter")
    assert gateway["metadata"]["name"] in vs["spec"]["gateways"] and "mesh" in vs["spec"]["gateways"]
    assert set(gateway["spec"]["servers"][0]["hosts"]) <= set(vs["spec"]["hosts"])
    assert plugin["spec"]["selector"]["matchLabels"] == gateway["spec"]["selector"] == \
        envoy_filter["spec"]["workloadSelector"]["labels"]
    assert plugin["metadata"]["namespace"] == gateway["metadata"]["namespace"] == envoy_filter["metadata"]["namespace"]


def test_the_sidecar_plugin_filters_only_outbound_calls_to_trino():
    plugin = the_manifest("wasmplugin-sidecar.yaml", "WasmPlugin")
    [service] = [s for _, s in manifests_of_kind("Service") if not s["spec"].get("selector")]
    trino_ports = [{"number": p["port"]} for p in service["spec"]["ports"]]
    assert plugin["spec"]["match"] == [{"mode": "CLIENT", "ports": trino_ports}]
    # In Istio's root namespace, a selector applies to pods of every namespace.
    assert plugin["metadata"]["namespace"] == "istio-system"

