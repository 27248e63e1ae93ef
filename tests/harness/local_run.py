"""`make run`: three Trino clusters and Envoy with envoy/envoy.yaml as shipped, until Ctrl-C.

Shows a newcomer the router working end to end on their machine. With a JDK 24+ the
clusters are real Trino 476 servers (fetched from Maven Central on the first run) that
answer TPC-H queries; without one, the stand-in coordinators take their places. It runs a
query as a normal user and one as `etl`, says which cluster served each, and stays up so
they can try their own client. It builds nothing; make does that first.
"""

import signal
import sys
import tempfile
import threading
from pathlib import Path

import trino

from .artifacts import ArtifactError, cache_root
from .envoy import Envoy
from .envoy_config import filter_config
from .paths import SHIPPED_ENVOY_YAML
from .ports import port_is_free
from .standin import Standin
from .trino_server import JdkMissing, TrinoServer, start_all, trino_jdk

# The addresses envoy/envoy.yaml expects; the shipped file is used unchanged.
CLUSTERS = [("adhoc-1", 18081), ("adhoc-2", 18082), ("etl-1", 18083)]
LISTENER_PORT, ADMIN_PORT = 8080, 9901
REAL_SAMPLE = ("SELECT count(*) FROM tpch.tiny.lineitem", "60175 rows in tpch.tiny.lineitem")
STANDIN_SAMPLE = ("SELECT n, s FROM demo /* rows=100 */", "100 rows")


def check_ports_free() -> None:
    taken = [p for p in [LISTENER_PORT, ADMIN_PORT] + [p for _, p in CLUSTERS] if not port_is_free(p)]
    if taken:
        sys.exit(f"make run: port(s) {', '.join(map(str, taken))} on 127.0.0.1 already in use "
                 f"(another `make run`, Envoy or Trino?). Stop whatever listens there and retry.")


def stickiness_modes() -> dict:
    """{cluster name: stickiness mode} from the shipped filter config."""
    return {c["name"]: c.get("stickiness", "forwarded_prefix") for c in filter_config()["clusters"]}


def start_real_trino(log_dir: Path, modes: dict) -> list:
    """Real Trino on the shipped ports: process-forwarded for forwarded_prefix, stock for rewrite mode."""
    print("starting three Trino 476 servers (the first run downloads about 250 MB from Maven Central; "
          "startup takes about a minute)...", flush=True)
    servers = [TrinoServer(name, port=port, process_forwarded=modes.get(name) != "rewrite", log_dir=log_dir)
               for name, port in CLUSTERS]
    start_all(servers)
    for s in servers:
        print(f"Trino {s.name} on {s.url} ({modes.get(s.name, '?')} mode), coordinator id {s.coordinator_id}")
    return servers


def start_standins(log_dir: Path, modes: dict) -> list:
    standins = []
    for name, port in CLUSTERS:
        # Like the real thing: stock Trino (406 on any X-Forwarded-* header) for rewrite mode.
        forwarded = "reject" if modes.get(name) == "rewrite" else "accept"
        standins.append(Standin(name, port=port, forwarded=forwarded, log_dir=log_dir).start())
        print(f"stand-in coordinator {name} on {standins[-1].url} ({modes.get(name, '?')} mode)")
    return standins


def coordinator_ids(clusters: list) -> dict:
    """{coordinator id: cluster name}; a Trino query id ends with its coordinator's id."""
    ids = {}
    for c in clusters:
        cid = c.coordinator_id if isinstance(c, TrinoServer) else c.state()["coordinatorId"]
        ids[cid] = c.name
    return ids


def sample_query(user: str, sql: str, ids: dict) -> None:
    # max_attempts: the client retries a 503 with Retry-After, as it would against Trino.
    conn = trino.dbapi.connect(host="127.0.0.1", port=LISTENER_PORT, user=user, http_scheme="http", max_attempts=10)
    try:
        cur = conn.cursor()
        cur.execute(sql)
        rows = cur.fetchall()
        served = ids.get(cur.query_id.rsplit("_", 1)[-1], "an unknown cluster (!)")
        answer = rows[0][0] if len(rows) == 1 and len(rows[0]) == 1 else f"{len(rows)} rows"
        print(f"  user {user!r}: {sql}\n    -> {answer} (query {cur.query_id}, served by {served})")
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
    clusters, envoy = [], None
    try:
        modes = stickiness_modes()
        try:
            trino_jdk()
            real = True
        except JdkMissing as exc:
            print(f"make run: {exc}; using the stand-in coordinators instead of real Trino.")
            real = False
        clusters = start_real_trino(log_dir, modes) if real else start_standins(log_dir, modes)
        # Generous: with the shipped health-check settings a slow first check can delay health.
        envoy = Envoy(config_path=SHIPPED_ENVOY_YAML, log_dir=log_dir).start(timeout=90)
        # Ready means the filter has heard from every coordinator, not only that Envoy listens.
        envoy.wait_filter_ready([name for name, _ in CLUSTERS], timeout=60)
        print("Sample queries through the router:")
        sql = REAL_SAMPLE[0] if real else STANDIN_SAMPLE[0]
        ids = coordinator_ids(clusters)
        sample_query("demo", sql, ids)
        sample_query("etl", sql, ids)
        print(f"\nEnvoy listens on {envoy.url} (admin {envoy.admin_url})")
        print(f"Logs in {log_dir}")
        print("Try it:")
        print(f"  .venv/bin/python -c \"import trino; c = trino.dbapi.connect(host='127.0.0.1', "
              f"port={LISTENER_PORT}, user='etl').cursor(); c.execute('SELECT * FROM tpch.tiny.nation'); "
              f"print(c.fetchall())\"")
        cli = cache_root() / "maven" / "trino-cli-476-executable.jar"
        cli_hint = str(cli) if cli.is_file() else "trino-cli-476-executable.jar (`make clients` fetches it)"
        print(f"  {trino_jdk()}/bin/java -jar {cli_hint} --server {envoy.url} --user demo "
              f"--execute 'SELECT count(*) FROM tpch.tiny.orders'" if real else
              f"  java -jar {cli_hint} --server {envoy.url} --user demo --execute 'SELECT 1'")
        print("Ctrl-C stops everything.", flush=True)
        wait_for_stop([("Envoy", envoy)] + [(f"{c.name}", c) for c in clusters])
    except KeyboardInterrupt:
        pass
    except Exception as exc:  # noqa: BLE001 - `make run` says what went wrong in one line, never a traceback
        # Startup problems are the user's to fix (a missing build, a busy port, a slow machine).
        hint = f" (logs in {log_dir})" if not isinstance(exc, ArtifactError) else ""
        print(f"make run: {type(exc).__name__}: {exc}{hint}", file=sys.stderr)
        return 1
    finally:
        print("stopping...", flush=True)
        if envoy:
            envoy.stop()
        for c in clusters:
            c.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
