"""A plain Envoy bootstrap equivalent to what Istio makes of the manifests in envoy/istio/,
so the filter config, the VirtualService routes and the EnvoyFilter patches run in a real
Envoy without Kubernetes.

The translation follows Istio's documented mapping for the few fields we use, no more:
a Service port becomes the cluster outbound|<port>||<fqdn>; a VirtualService http route
becomes a route (exact header matches, headers.request.remove, timeout, retries,
directResponse); a WasmPlugin becomes a Wasm filter whose configuration is its
pluginConfig as a JSON string, without allow_on_headers_stop_iteration (a WasmPlugin has no
such field); an EnvoyFilter's EXTENSION_CONFIG is served through ECDS to its HTTP_FILTER,
with the module's remote URL replaced by the local build, as the istio-agent does. It is
not Istio: what only a cluster shows (xDS push order, the agent's OCI pull, mTLS, the
sidecar on the coordinator) stays untested here.
"""

import copy
import json
from pathlib import Path
from typing import Dict, List, Optional

import yaml

from .repo_files import (
    EXTENSION_CONFIG_TYPE,
    STRING_VALUE_TYPE,
    WASM_TYPE,
    istio_cluster_name,
    parse_istio_cluster_name,
    the_manifest,
)

HCM_TYPE = "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager"
ROUTER_TYPE = "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router"
# Istio's WasmPlugin failStrategy -> Envoy's Wasm failure_policy.
FAILURE_POLICY = {"FAIL_CLOSE": "FAIL_CLOSED", "FAIL_OPEN": "FAIL_OPEN", "FAIL_RELOAD": "FAIL_RELOAD"}


def routes(virtual_service: dict) -> List[dict]:
    """The Envoy routes of a VirtualService's http section, in order."""
    out = []
    for http in virtual_service["spec"]["http"]:
        matches = http.get("match", [{}])
        assert len(matches) == 1, f"route {http.get('name')}: one match block is all this translation supports"
        headers = []
        for name, string_match in matches[0].get("headers", {}).items():
            assert list(string_match) == ["exact"], f"route {http.get('name')}: only exact header matches here"
            headers.append({"name": name, "string_match": {"exact": string_match["exact"]}})
        match: dict = {"prefix": "/", **({"headers": headers} if headers else {})}
        route: dict = {"name": http.get("name", ""), "match": match}
        if "directResponse" in http:
            response = http["directResponse"]
            route["direct_response"] = {"status": response["status"],
                                        "body": {"inline_string": response["body"]["string"]}}
        else:
            [destination] = [d["destination"] for d in http["route"]]
            action = {"cluster": istio_cluster_name(destination["host"], destination["port"]["number"]),
                      "timeout": http.get("timeout", "0s")}
            if "retries" in http:
                action["retry_policy"] = {"retry_on": http["retries"]["retryOn"],
                                          "num_retries": http["retries"]["attempts"]}
            route["route"] = action
        removed = http.get("headers", {}).get("request", {}).get("remove")
        if removed:
            route["request_headers_to_remove"] = list(removed)
        out.append(route)
    return out


def wasm_plugin_filter(plugin: dict, wasm_path: Path) -> dict:
    """The HTTP filter Istio builds for a WasmPlugin, with the module at `wasm_path`."""
    spec = plugin["spec"]
    return {
        "name": plugin["metadata"]["name"],
        "typed_config": {
            "@type": WASM_TYPE,
            "config": {
                "name": plugin["metadata"]["name"],
                "root_id": spec.get("pluginName", ""),
                "failure_policy": FAILURE_POLICY[spec.get("failStrategy", "FAIL_CLOSE")],
                "vm_config": {"runtime": "envoy.wasm.runtime.v8", "code": {"local": {"filename": str(wasm_path)}}},
                "configuration": {"@type": STRING_VALUE_TYPE, "value": json.dumps(spec["pluginConfig"])},
            },
        },
    }


def envoy_filter_patches(envoy_filter: dict, wasm_path: Path, ecds_dir: Path) -> dict:
    """The HTTP filter an EnvoyFilter inserts, its config served from a file in `ecds_dir`
    (in place of Istio's ADS) with the remote module replaced by `wasm_path`."""
    patches = {p["applyTo"]: p["patch"] for p in envoy_filter["spec"]["configPatches"]}
    extension = copy.deepcopy(patches["EXTENSION_CONFIG"]["value"])
    vm_config = extension["typed_config"]["config"]["vm_config"]
    assert "remote" in vm_config["code"], "the EnvoyFilter should fetch the module like a WasmPlugin (remote code)"
    vm_config["code"] = {"local": {"filename": str(wasm_path)}}
    ecds_file = ecds_dir / "trino-router-extension.yaml"
    ecds_file.write_text(yaml.safe_dump({"resources": [{"@type": EXTENSION_CONFIG_TYPE, **extension}]}))

    http_filter = copy.deepcopy(patches["HTTP_FILTER"]["value"])
    source = http_filter["config_discovery"]["config_source"]
    assert source.pop("ads") == {}, "the EnvoyFilter's HTTP filter should discover its config from Istio (ads)"
    source["path_config_source"] = {"path": str(ecds_file), "watched_directory": {"path": str(ecds_dir)}}
    return http_filter


def bootstrap(virtual_service: dict, wasm_filter: Optional[dict], coordinators: Dict[str, int],
              listener_port: int, admin_port: int) -> dict:
    """An Envoy listening on 127.0.0.1:listener_port with the VirtualService's routes, the
    filter (None: a proxy the plugin does not select), and one cluster per route destination,
    each pointing at the loopback port `coordinators` gives for its Istio cluster name."""
    route_list = routes(virtual_service)
    cluster_names = sorted({r["route"]["cluster"] for r in route_list if "route" in r})
    missing = set(cluster_names) - set(coordinators)
    assert not missing, f"no coordinator for {missing}"
    http_filters = ([wasm_filter] if wasm_filter else []) + [
        {"name": "envoy.filters.http.router", "typed_config": {"@type": ROUTER_TYPE}}]
    return {
        # ECDS needs both.
        "node": {"id": "istio-offline", "cluster": "istio-offline"},
        "admin": {"address": {"socket_address": {"address": "127.0.0.1", "port_value": admin_port}}},
        "static_resources": {
            "listeners": [{
                "name": "trino",
                "address": {"socket_address": {"address": "127.0.0.1", "port_value": listener_port}},
                "filter_chains": [{"filters": [{
                    "name": "envoy.filters.network.http_connection_manager",
                    "typed_config": {
                        **gateway_hcm_patch(),
                        "@type": HCM_TYPE,
                        "stat_prefix": "trino",
                        "route_config": {"name": "trino", "virtual_hosts": [
                            {"name": "trino", "domains": ["*"], "routes": route_list}]},
                        "http_filters": http_filters,
                    },
                }]}],
            }],
            "clusters": [_cluster(name, coordinators[name]) for name in cluster_names],
        },
    }


def gateway_hcm_patch() -> dict:
    """The connection-manager fields envoyfilter-paths.yaml merges into the gateway's HCM."""
    patch = the_manifest("envoyfilter-paths.yaml", "EnvoyFilter")["spec"]["configPatches"][0]
    return {k: v for k, v in patch["patch"]["value"]["typed_config"].items() if k != "@type"}


def _cluster(name: str, port: int) -> dict:
    parse_istio_cluster_name(name)  # only names Istio would make
    return {
        "name": name,
        "type": "STATIC",
        "connect_timeout": "1s",
        "load_assignment": {"cluster_name": name, "endpoints": [{"lb_endpoints": [
            {"endpoint": {"address": {"socket_address": {"address": "127.0.0.1", "port_value": port}}}}]}]},
    }
