"""Filter configurations of the real-Trino suites: the stand-in suites' configs, on real coordinators.

The three servers are adhoc-1 and adhoc-2 (`http-server.process-forwarded=true`) and
etl-1 (stock, so the filter runs it in rewrite mode); names and Envoy clusters are those
of envoy/envoy.yaml, like the stand-in suites'.
"""

import copy

from e2e import configs as standin_configs

ENVOY_CLUSTER = standin_configs.ENVOY_CLUSTER
CLUSTER_NAMES = standin_configs.STANDIN_NAMES
STOCK = {"etl-1"}  # started without process-forwarded: any X-Forwarded-* header gets 406


def on_real_trino(config: dict) -> dict:
    """`config` with the stock server in rewrite mode, as it must be against real Trino."""
    config = copy.deepcopy(config)
    for cluster in config["clusters"]:
        if cluster["name"] in STOCK:
            cluster["stickiness"] = "rewrite"
    return config


def shipped() -> dict:
    return on_real_trino(standin_configs.shipped_filter())


def one_cluster_per_group() -> dict:
    """Each group one cluster (see e2e/configs.py), plus SQL rules first: anything touching the
    memory catalog goes to `second` (adhoc-2, where its tables live), reads of tpch.sf1 go to
    `etl` (etl-1), and CALL kill_query to the query's owner."""
    config = on_real_trino(standin_configs.one_cluster_per_group())
    config["rules"] = [
        {"name": "memory-catalog", "when": {"catalogs": {"any": {"exact": "memory"}}}, "route_to": "second"},
        {"name": "big-tpch", "when": {"schemas": {"any": {"exact": "tpch.sf1"}}}, "route_to": "etl"},
        *config["rules"],
    ]
    config["sql_inspection"] = {"route_kill_query": True}
    return config


def two_cluster_group() -> dict:
    """adhoc = adhoc-1 + adhoc-2 by weight: a client's statements may land on either."""
    return on_real_trino(standin_configs.with_fallback())


def load_aware(source: str) -> dict:
    return on_real_trino(standin_configs.load_aware(source))
