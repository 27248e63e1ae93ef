"""Test variants of the shipped envoy/envoy.yaml, changed in the parsed dict.

Tests run the config users copy, with only what a test must change: ports, the
absolute wasm path, health-check speed and (optionally) the filter's own JSON.
"""

import copy
import json
from pathlib import Path
from typing import Mapping, Optional

import yaml

from .paths import SHIPPED_ENVOY_YAML, WASM_MODULE

FILTER_NAME = "trino_router"


def shipped_config(path: Path = SHIPPED_ENVOY_YAML) -> dict:
    with open(path) as f:
        return yaml.safe_load(f)


def _http_connection_manager(config: dict) -> dict:
    listener = config["static_resources"]["listeners"][0]
    return listener["filter_chains"][0]["filters"][0]["typed_config"]


def http_filter(config: dict, name: str) -> dict:
    """The entry called `name` of the listener's http_filters."""
    for f in _http_connection_manager(config)["http_filters"]:
        if f["name"] == name:
            return f
    raise KeyError(f"no http filter named {name} in the Envoy config")


def router_http_filter(config: dict) -> dict:
    """The `trino_router` entry of the listener's http_filters (inline or discovered config)."""
    return http_filter(config, FILTER_NAME)


def discovers_filter_config(config: dict) -> bool:
    """True for envoy-live.yaml: the filter's config comes through ECDS, not inline."""
    return "config_discovery" in router_http_filter(config)


def _wasm_filter(config: dict) -> dict:
    return router_http_filter(config)["typed_config"]["config"]


def filter_config(config: Optional[dict] = None) -> dict:
    """The filter's JSON configuration (from the shipped file unless `config` is given)."""
    config = config if config is not None else shipped_config()
    return json.loads(_wasm_filter(config)["configuration"]["value"])


def build_config(
    listener_port: int,
    admin_port: int,
    cluster_ports: Mapping[str, int],
    filter_json: Optional[dict] = None,
    wasm_path: Path = WASM_MODULE,
    health_interval: Optional[str] = "0.5s",
    base: Optional[dict] = None,
) -> dict:
    """A copy of the shipped config with test ports and, optionally, another filter config.

    `cluster_ports` maps Envoy cluster names (trino_adhoc_1, ...) to stand-in ports;
    every Trino cluster in the config must be given one, so no test talks to a
    fixed port by accident. `health_interval=None` keeps the shipped intervals.
    """
    config = copy.deepcopy(base if base is not None else shipped_config())
    config["admin"]["address"]["socket_address"] = {"address": "127.0.0.1", "port_value": admin_port}
    listener = config["static_resources"]["listeners"][0]
    listener["address"]["socket_address"] = {"address": "127.0.0.1", "port_value": listener_port}

    if discovers_filter_config(config):
        # The discovered resource names the wasm and holds the JSON: see live_config.py.
        if filter_json is not None:
            raise ValueError("an ECDS config gets its filter JSON from the watched file, not build_config")
    else:
        wasm = _wasm_filter(config)
        # Every instance of the module (the identify stage of envoy/examples/rate-limits*.yaml too).
        for f in _http_connection_manager(config)["http_filters"]:
            code = f.get("typed_config", {}).get("config", {}).get("vm_config", {}).get("code", {})
            if "local" in code:
                code["local"]["filename"] = str(Path(wasm_path).resolve())
        if filter_json is not None:
            wasm["configuration"]["value"] = json.dumps(filter_json)

    missing = [c["name"] for c in config["static_resources"]["clusters"] if c["name"] not in cluster_ports]
    if missing:
        raise ValueError(f"no port given for Envoy clusters {missing}")
    for cluster in config["static_resources"]["clusters"]:
        _set_endpoint_port(cluster, cluster_ports[cluster["name"]])
        if health_interval:
            for check in cluster.get("health_checks", []):
                check["interval"] = health_interval
                # Envoy's default for clusters that never had traffic is 60 s: one startup
                # check that times out (the main thread is busy compiling the wasm module)
                # would otherwise keep every cluster unhealthy for a minute.
                check["no_traffic_interval"] = health_interval
                check["timeout"] = "1s"
            if "outlier_detection" in cluster:
                cluster["outlier_detection"]["interval"] = health_interval
    return config


def _set_endpoint_port(cluster: dict, port: int) -> None:
    for group in cluster["load_assignment"].get("endpoints", []):  # none: a cluster never sent to
        for ep in group["lb_endpoints"]:
            ep["endpoint"]["address"]["socket_address"]["port_value"] = port


def trino_cluster_names(config: dict) -> list:
    """Envoy clusters that front Trino coordinators (all static clusters in our configs)."""
    return [c["name"] for c in config["static_resources"]["clusters"]]
