"""The Envoy config users copy (envoy/envoy.yaml) is valid as shipped."""

from harness import Envoy
from harness.paths import SHIPPED_ENVOY_YAML


def test_the_shipped_envoy_config_passes_envoys_own_validation():
    result = Envoy(config_path=SHIPPED_ENVOY_YAML).validate()
    assert result.returncode == 0, f"envoy --mode validate failed:\n{result.stdout[-2000:]}\n{result.stderr[-2000:]}"
