"""Two Envoy replicas with no shared state: each follow-up of a query may hit either one.

The routing token alone must bring every request back to the coordinator that owns
the query; a stand-in receiving a follow-up for another coordinator's query would
answer 404 and show up in its request log.
"""

from harness.trino_http import QUERY_ID, coordinator_of, run_query

from .configs import shipped_filter

QUERIES = 20
ROWS = 200


def test_twenty_queries_alternating_between_two_envoys_each_stay_on_their_coordinator(stack, start_envoy):
    replica_b = start_envoy(shipped_filter())
    replicas = [stack.url, replica_b.url]

    runs = []
    for i in range(QUERIES):
        # Query i starts on replica i % 2 and every later request goes to the other one in turn.
        order = replicas[i % 2:] + replicas[:i % 2]
        # Every fourth query as etl: the shipped config runs etl-1 in rewrite mode (stock Trino).
        user = "etl" if i % 4 == 3 else "demo"
        run = run_query(order, f"SELECT n, s FROM q{i} /* rows={ROWS} */", user=user)
        assert run.error is None, f"query {i} ({run.query_id}) failed: {run.error}"
        assert len(run.rows) == ROWS, f"query {i} ({run.query_id}) returned {len(run.rows)} rows"
        hosts = {url.split("/")[2] for _, url, _ in run.requested}
        assert len(hosts) == 2, f"query {i} did not alternate between the replicas: {run.requested}"
        runs.append(run)

    owners = {stack.owner(r.query_id) for r in runs}
    assert owners == {"adhoc-1", "adhoc-2", "etl-1"}, f"queries ran only on {owners}"

    for name, standin in stack.standins.items():
        mine = standin.state()["coordinatorId"]
        misrouted = [f"{r['method']} {r['path']} -> {r['status']}" for r in standin.trino_requests()
                     for m in [QUERY_ID.search(r["path"])] if m and coordinator_of(m.group(0)) != mine]
        assert not misrouted, f"{name} (coordinator {mine}) got follow-ups of other coordinators: {misrouted[:5]}"
        failed = [f"{r['method']} {r['path']} -> {r['status']}" for r in standin.trino_requests() if r["status"] != 200]
        assert not failed, f"{name} answered errors: {failed[:5]}"

    for envoy in (stack.envoy, replica_b):
        served = envoy.stats("downstream_rq_2xx").get("http.trino.downstream_rq_2xx", 0)
        assert served >= QUERIES * 3, f"replica {envoy.url} served only {served} requests"
