"""`make run`: three stand-in coordinators and Envoy with envoy/envoy.yaml as shipped.

Shows a newcomer the router working end to end on their machine: it runs a query as
a normal user and one as `etl`, says which cluster served each, and stays up so they
can try their own client until Ctrl-C. It builds nothing; make does that first.
"""

import signal
import sys
import tempfile
import threading
from pathlib import Path

import trino
import trino.exceptions

from .envoy import Envoy
from .envoy_config import filter_config
from .paths import SHIPPED_ENVOY_YAML
from .ports import port_is_free
from .standin import Standin

# The addresses envoy/envoy.yaml expects; the shipped file is used unchanged.
STANDINS = [("adhoc-1", 18081), ("adhoc-2", 18082), ("etl-1", 18083)]
LISTENER_PORT, ADMIN_PORT = 8080, 9901


def check_ports_free() -> None:
    taken = [p for p in [LISTENER_PORT, ADMIN_PORT] + [p for _, p in STANDINS] if not port_is_free(p)]
    if taken:
        sys.exit(f"make run: port(s) {', '.join(map(str, taken))} on 127.0.0.1 already in use "
                 f"(another `make run`, Envoy or Trino?). Stop whatever listens there and retry.")


def stickiness_modes() -> dict:
    """{cluster name: stickiness mode} from the shipped filter config."""
    return {c["name"]: c.get("stickiness", "forwarded_prefix") for c in filter_config()["clusters"]}


def served_by(query_id: str, standins: list) -> str:
    """A Trino query id ends with the coordinator id of the cluster that ran it."""
    for s in standins:
        if query_id.endswith("_" + s.state()["coordinatorId"]):
            return s.name
    return "an unknown cluster (!)"


def sample_query(user: str, standins: list) -> None:
    conn = trino.dbapi.connect(host="127.0.0.1", port=LISTENER_PORT, user=user, http_scheme="http")
    try:
        cur = conn.cursor()
        cur.execute("SELECT n, s FROM demo /* rows=100 */")
        rows = cur.fetchall()
        print(f"  user {user!r}: query {cur.query_id} returned {len(rows)} rows, served by "
              f"{served_by(cur.query_id, standins)}")
    finally:
        conn.close()


def wait_for_stop(processes: list) -> None:
    """Blocks until SIGINT/SIGTERM, or until one of our servers dies (then says which)."""
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    while not stop.wait(1.0):
        for name, proc in processes:
            if not proc.is_running():
                print(f"{name} exited unexpectedly; log: {proc.process.log_path}", file=sys.stderr)
                return


def main() -> int:
    check_ports_free()
    log_dir = Path(tempfile.mkdtemp(prefix="trino-router-run-"))
    standins, envoy = [], None
    try:
        modes = stickiness_modes()
        for name, port in STANDINS:
            # Like the real thing: process-forwarded Trino for forwarded_prefix, stock Trino
            # (406 on any X-Forwarded-* header) for clusters the filter runs in rewrite mode.
            forwarded = "reject" if modes.get(name) == "rewrite" else "accept"
            standins.append(Standin(name, port=port, forwarded=forwarded, log_dir=log_dir).start())
            print(f"stand-in coordinator {name} on {standins[-1].url} ({modes.get(name, '?')} mode)")
        # Generous: with the shipped health-check settings a slow first check can delay health.
        envoy = Envoy(config_path=SHIPPED_ENVOY_YAML, log_dir=log_dir).start(timeout=90)
        print("Sample queries through the router:")
        sample_query("demo", standins)
        sample_query("etl", standins)
        print(f"\nEnvoy listens on {envoy.url} (admin {envoy.admin_url})")
        print(f"Logs in {log_dir}")
        print("Try it:")
        print(f"  trino --server {envoy.url} --user demo --execute 'SELECT 1'")
        print(f"  .venv/bin/python -c \"import trino; c = trino.dbapi.connect(host='127.0.0.1', "
              f"port={LISTENER_PORT}, user='etl').cursor(); c.execute('SELECT 1'); print(c.fetchall())\"")
        print("Ctrl-C stops everything.", flush=True)
        wait_for_stop([("Envoy", envoy)] + [(f"stand-in {s.name}", s) for s in standins])
    except (AssertionError, RuntimeError, trino.exceptions.TrinoException) as exc:
        # Startup problems are the user's to fix (a missing build, a busy port): no traceback.
        print(f"make run: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        pass
    finally:
        print("stopping...", flush=True)
        if envoy:
            envoy.stop()
        for s in standins:
            s.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
