"""The four real Trino clients (Python `trino`, the CLI, JDBC, npm `trino-client`) behind one interface.

Tests run the same statements through each, in one client session, and compare what an application sees.
"""

# Shape: `client(name).run(url, statements, session)` -> one StatementResult per statement;
# `client(name).start(url, sql, session)` -> an InFlight to read slowly, cancel as that client's
# users do, or finish. Client errors are results; only Unsupported (the test asked for what the
# client cannot do) and ClientNotPrepared (run tests/clients/prepare.sh) are raised. The JDBC and
# Node drivers are programs in tests/clients/ answering one JSON object per stdin/stdout line.
#
# Modules: interface (the types above), values (canonical), python_client, cli, drivers (JDBC
# and Node), builds (jar coordinates, build paths, JDK), prepare (builds them; see __main__).

from typing import Dict

from .builds import BUILD_DIR, CLI_COORDS, CLIENTS_SRC, JDBC_CLASSES, JDBC_COORDS, MIN_JAVA, NODE_DIR, java_home
from .cli import CliClient
from .drivers import JdbcClient, NodeClient
from .interface import (FEATURES, Client, ClientNotPrepared, InFlight, Session, Statement, StatementLike,
                        StatementResult, Unsupported)
from .prepare import prepare
from .python_client import PythonClient
from .values import canonical

__all__ = [
    "CLIENTS", "client", "Client", "InFlight", "Session", "Statement", "StatementLike", "StatementResult",
    "FEATURES", "Unsupported", "ClientNotPrepared", "canonical", "java_home", "prepare",
    "MIN_JAVA", "CLI_COORDS", "JDBC_COORDS", "CLIENTS_SRC", "BUILD_DIR", "JDBC_CLASSES", "NODE_DIR",
    "PythonClient", "CliClient", "JdbcClient", "NodeClient",
]

CLIENTS: Dict[str, Client] = {c.name: c for c in (PythonClient(), CliClient(), JdbcClient(), NodeClient())}


def client(name: str) -> Client:
    try:
        return CLIENTS[name]
    except KeyError:
        raise ValueError(f"unknown client {name!r}; known: {sorted(CLIENTS)}") from None
