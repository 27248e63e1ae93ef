"""Live configuration through ECDS: envoy/envoy-live.yaml with the filter's config in a file
that a test replaces the way an operator would (new file, then rename over the old one).

`push_filter_config` waits until Envoy says what it did with the new version (counted in
`extension_config_discovery.http_filter.trino_router.update_success` / `update_rejected`);
`cli_validate` runs `trino-router validate` on a rendered file, as an operator would first.
"""

import copy
import itertools
import json
import os
import subprocess
from pathlib import Path
from typing import Mapping, Optional

import yaml

from .envoy import Envoy
from .envoy_config import FILTER_NAME, build_config, router_http_filter, shipped_config
from .paths import REPO_ROOT, WASM_MODULE, require_file
from .waiting import wait_until

SHIPPED_LIVE_ENVOY_YAML = REPO_ROOT / "envoy" / "envoy-live.yaml"
SHIPPED_FILTER_RESOURCE = REPO_ROOT / "envoy" / "trino-router-filter.yaml"
CLI_BIN = REPO_ROOT / "target" / "release" / "trino-router"
UPDATE_STATS = f"extension_config_discovery.http_filter.{FILTER_NAME}."
ACCEPTED, REJECTED = "update_success", "update_rejected"


class FilterConfigFile:
    """The TypedExtensionConfig file Envoy watches: envoy/trino-router-filter.yaml with a test's JSON.

    It lives alone in its own directory, because Envoy reloads on any rename into the
    watched directory.
    """

    def __init__(self, directory: Path, wasm_path: Path = WASM_MODULE):
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.path = self.directory / SHIPPED_FILTER_RESOURCE.name
        self.wasm_path = Path(wasm_path).resolve()
        self._template = yaml.safe_load(SHIPPED_FILTER_RESOURCE.read_text())
        self._versions = itertools.count(1)

    def render(self, filter_json: dict) -> str:
        """The shipped resource with the absolute wasm path and `filter_json` as its configuration."""
        resource = copy.deepcopy(self._template)
        [extension] = resource["resources"]
        wasm = extension["typed_config"]["config"]
        wasm["vm_config"]["code"]["local"]["filename"] = str(self.wasm_path)
        wasm["configuration"]["value"] = json.dumps(filter_json, indent=2)
        return yaml.safe_dump(resource, sort_keys=False)

    def write(self, filter_json: dict) -> Path:
        """Replaces the watched file atomically, as the README tells operators to."""
        staged = self.directory / f".{self.path.name}.{next(self._versions)}.tmp"
        staged.write_text(self.render(filter_json))
        os.rename(staged, self.path)
        return self.path


def build_live_config(listener_port: int, admin_port: int, cluster_ports: Mapping[str, int],
                      filter_file: FilterConfigFile, health_interval: Optional[str] = "0.5s") -> dict:
    """envoy/envoy-live.yaml with test ports and the discovery source pointed at `filter_file`."""
    config = build_config(listener_port, admin_port, cluster_ports, health_interval=health_interval,
                          base=shipped_config(SHIPPED_LIVE_ENVOY_YAML))
    source = router_http_filter(config)["config_discovery"]["config_source"]["path_config_source"]
    source["path"] = str(filter_file.path)
    source["watched_directory"] = {"path": str(filter_file.directory)}
    return config


class LiveEnvoy(Envoy):
    """An Envoy whose trino_router config is discovered from `filter_file` and can be pushed anew."""

    def __init__(self, config: dict, filter_file: FilterConfigFile, **kwargs):
        super().__init__(config, **kwargs)
        self.filter_file = filter_file

    def filter_updates(self) -> dict:
        """{update_success: n, update_rejected: n} for the trino_router filter config."""
        stats = self.stats(filter_regex=f"^{UPDATE_STATS.replace('.', '[.]')}")
        return {k: stats.get(UPDATE_STATS + k, 0) for k in (ACCEPTED, REJECTED)}

    def push_filter_config(self, filter_json: dict, timeout: float = 15.0) -> str:
        """Writes a new version and returns ACCEPTED or REJECTED once Envoy has counted it."""
        before = self.filter_updates()
        self.filter_file.write(filter_json)

        def outcome() -> Optional[str]:
            after = self.filter_updates()
            for verdict in (ACCEPTED, REJECTED):
                if after[verdict] > before[verdict]:
                    return verdict
            return None

        return wait_until(outcome, timeout, f"Envoy to accept or reject the filter config pushed to "
                          f"{self.filter_file.path} (counts before: {before})", interval=0.02)


def cli_validate(path: Path) -> subprocess.CompletedProcess:
    """`trino-router validate PATH`, as an operator checks a new version before pushing it."""
    return subprocess.run([str(require_file(CLI_BIN, "cli")), "validate", str(path)], capture_output=True,
                          text=True, timeout=60)
