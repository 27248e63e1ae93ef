"""`CALL system.runtime.kill_query(...)` through the router reaches the coordinator that runs the
query it names (`sql_inspection.route_kill_query`), whatever the caller's rules say.
"""

import uuid

import pytest
import trino
import trino.exceptions

from .configs import one_cluster_per_group
from .held import HeldQuery


@pytest.fixture(scope="module")
def filter_json():
    return one_cluster_per_group()


def test_kill_query_goes_to_the_owner_and_ends_the_query_there(stack):
    # Not tpch.sf1 (a rule sends that to etl-1): the default group, adhoc-1.
    victim = HeldQuery(stack.envoy.port, user="demo", sql="SELECT * FROM tpch.tiny.lineitem /* {marker} */")
    assert stack.owner(victim.query_id) == "adhoc-1"
    marker = f"kill-{uuid.uuid4().hex}"
    # As `etl-user` the rules would send anything else to etl-1.
    conn = trino.dbapi.connect(host="127.0.0.1", port=stack.envoy.port, user="etl-user")
    cur = conn.cursor()
    cur.execute(f"CALL system.runtime.kill_query(query_id => '{victim.query_id}', message => 'stop {marker}') "
                f"/* {marker} */")
    cur.fetchall()
    conn.close()
    assert stack.ran_on(marker) == ["adhoc-1"]
    outcome = victim.finish()
    assert isinstance(outcome, trino.exceptions.TrinoQueryError), outcome
    assert outcome.error_name == "ADMINISTRATIVELY_KILLED" and marker in outcome.message, outcome
