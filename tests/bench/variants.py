"""The Envoys a benchmark run compares, all derived from the shipped envoy/envoy.yaml.

| variant | http filters | routes |
|---|---|---|
| plain | router only | one catch-all to one cluster |
| floor | shipped chain, the no-op module (filter/noop) in the filter's place | as plain |
| header-rules | shipped chain, the filter with the 10 header-only rules | shipped |
| forwarded-prefix | shipped chain, the filter with 30 rules | shipped |
| rewrite | as forwarded-prefix, every cluster `"stickiness": "rewrite"` | shipped |

The floor is the filter's Envoy with the module swapped: same compressor, same wasm VM
settings (checked by `check_floor`), so filter minus floor is what our module costs and
floor minus plain what any proxy-wasm filter in that chain costs. Every variant drops the
shipped access log (it costs all the same and would hide part of the filter's share).
"""

import copy
import json
from typing import Any, Dict, List, Optional

from tests.harness.envoy_config import build_config, router_http_filter
from tests.harness.paths import NOOP_MODULE

from .configs import PATH_MARKER, TRINO_CLUSTERS, bench_rules, filter_json, header_rules

PLAIN, FLOOR, HEADERS, FORWARDED, REWRITE = "plain", "floor", "header-rules", "forwarded-prefix", "rewrite"
VARIANTS = [PLAIN, FLOOR, HEADERS, FORWARDED, REWRITE]
# The variants that run our filter (the others pass nextUris through untouched).
FILTERED = (HEADERS, FORWARDED, REWRITE)
# How the upstream of each variant treats X-Forwarded-*: the filter's forwarded-prefix mode
# needs Trino's process-forwarded; rewrite mode is for stock Trino (406 on any). Plain
# Envoy and the floor add x-forwarded-proto, so their upstream must accept it too.
UPSTREAM_FORWARDED = {PLAIN: "accept", FLOOR: "accept", HEADERS: "accept", FORWARDED: "accept",
                      REWRITE: "reject"}
# The wasm settings the floor may differ in from the filter: which module, and its JSON
# (the no-op module ignores it).
MODULE_FIELDS = {("vm_config", "code"), ("configuration",)}


class FloorMismatch(AssertionError):
    """The floor would not measure what the filter's wasm costs: its settings differ."""


def marker_prefix(variant: str) -> Optional[str]:
    """How a pinned path starts through this variant; None where nothing pins."""
    return f"/{PATH_MARKER}/" if variant in FILTERED else None


def envoy_config(variant: str, listener_port: int, admin_port: int, upstream_port: int) -> dict:
    """The Envoy config of one variant; every Trino cluster points at `upstream_port`."""
    ports = {envoy: upstream_port for envoy in TRINO_CLUSTERS.values()}
    stickiness = "rewrite" if variant == REWRITE else "forwarded_prefix"
    rules = header_rules() if variant == HEADERS else bench_rules()
    config = build_config(listener_port, admin_port, ports, filter_json=filter_json(stickiness, rules),
                          health_interval="1s")
    hcm = _http_connection_manager(config)
    hcm.pop("access_log", None)
    if variant == PLAIN:
        hcm["http_filters"] = [f for f in hcm["http_filters"] if f["name"] == "envoy.filters.http.router"]
        _route_to_one_cluster(hcm)
    elif variant == FLOOR:
        wasm = router_http_filter(config)["typed_config"]["config"]
        wasm["vm_config"]["code"]["local"]["filename"] = str(NOOP_MODULE)
        _route_to_one_cluster(hcm)
    return config


def _http_connection_manager(config: dict) -> dict:
    return config["static_resources"]["listeners"][0]["filter_chains"][0]["filters"][0]["typed_config"]


def _route_to_one_cluster(hcm: dict) -> None:
    """The shipped catch-all route, sent straight to one cluster: nothing names a cluster per request."""
    vhost = hcm["route_config"]["virtual_hosts"][0]
    catch_all = copy.deepcopy(vhost["routes"][-1])
    route = catch_all["route"]
    route.pop("cluster_header", None)
    route["cluster"] = TRINO_CLUSTERS["adhoc-1"]
    catch_all.pop("request_headers_to_remove", None)
    vhost["routes"] = [catch_all]


def check_floor(floor: dict, filtered: dict) -> None:
    """Raises FloorMismatch naming each setting in which the floor's wasm filter (or its place in
    the chain) differs from the filter's, beyond the module and its JSON."""
    differences = _differences(_comparable(router_http_filter(floor)), _comparable(router_http_filter(filtered)))
    chain = [[f["name"] for f in _http_connection_manager(c)["http_filters"]] for c in (floor, filtered)]
    if chain[0] != chain[1]:
        differences.append(f"http_filters: floor {chain[0]}, filter {chain[1]}")
    if differences:
        raise FloorMismatch("the floor's wasm settings differ from the filter's, so floor and filter would not "
                            "measure the same VM: " + "; ".join(differences))


def _comparable(http_filter: dict) -> Dict[str, Any]:
    settings = json.loads(json.dumps(http_filter))  # a deep copy of plain data
    wasm = settings["typed_config"]["config"]
    for path in MODULE_FIELDS:
        parent = wasm
        for key in path[:-1]:
            parent = parent.get(key, {})
        parent.pop(path[-1], None)
    return settings


def _differences(floor: Any, filtered: Any, path: str = "") -> List[str]:
    if isinstance(floor, dict) and isinstance(filtered, dict):
        found = []
        for key in sorted(set(floor) | set(filtered), key=str):
            where = f"{path}.{key}" if path else str(key)
            if key not in floor or key not in filtered:
                found.append(f"{where}: floor {floor.get(key, '<unset>')!r}, filter {filtered.get(key, '<unset>')!r}")
            else:
                found += _differences(floor[key], filtered[key], where)
        return found
    return [] if floor == filtered else [f"{path}: floor {floor!r}, filter {filtered!r}"]
