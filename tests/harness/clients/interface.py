"""What every client takes and returns: Statement, Session, StatementResult, InFlight, Client, FEATURES.

Shared by the client modules and re-exported by the package; it imports none of them.
"""

from dataclasses import dataclass, field
from typing import List, Mapping, Optional, Sequence, Union

FEATURES = frozenset({
    "params",           # Statement(sql, params): JDBC PreparedStatement (PREPARE + X-Trino-Prepared-Statement
                        # + EXECUTE ... USING), Python qmark parameters (EXECUTE IMMEDIATE ... USING)
    "extra_headers",    # Session.extra_headers reach the server
    "transactions",     # Session(autocommit=False) runs the script in one transaction
    "encoding",         # Session.encoding selects the spooling encoding
    "compression_off",  # Session(compression=False) asks for uncompressed responses
    "columns_always",   # column names even when there are no rows
    "types",            # StatementResult.types holds Trino type names
    "info_uri",
    "in_flight",        # start()/read_some(): rows are read only when the test asks
    "cancel",
})


class Unsupported(ValueError):
    """The test asked a client for something it cannot do; check `supports()` first."""


class ClientNotPrepared(RuntimeError):
    """A driver program is not built: run tests/clients/prepare.sh."""


@dataclass(frozen=True)
class Statement:
    sql: str
    params: Optional[Sequence[Union[None, bool, int, float, str]]] = None


@dataclass(frozen=True)
class Session:
    """What a client sends; each client maps what it supports (see `supports`)."""
    user: str = "test"
    source: Optional[str] = None           # None: the client's own default (trino-cli, trino-js-client, ...)
    client_tags: Sequence[str] = ()
    catalog: Optional[str] = None
    schema: Optional[str] = None
    session_properties: Mapping[str, str] = field(default_factory=dict)
    extra_headers: Mapping[str, str] = field(default_factory=dict)
    compression: bool = True               # False: ask for uncompressed responses
    encoding: Optional[str] = None         # None: client default; "json", "json+zstd", ...: spooling
    autocommit: bool = True                # False: one transaction around the script, then COMMIT


@dataclass
class StatementResult:
    sql: str
    query_id: Optional[str] = None
    columns: List[str] = field(default_factory=list)
    types: List[str] = field(default_factory=list)
    rows: List[list] = field(default_factory=list)
    update_count: Optional[int] = None
    error: Optional[str] = None
    info_uri: Optional[str] = None

    @property
    def ok(self) -> bool:
        return self.error is None

    def __repr__(self) -> str:
        outcome = f"error={self.error!r}" if self.error else f"{len(self.rows)} rows, update_count={self.update_count}"
        return f"StatementResult({self.query_id or 'no id'}, {self.sql[:60]!r}, {outcome})"


StatementLike = Union[str, Statement]


def as_statement(s: StatementLike) -> Statement:
    return s if isinstance(s, Statement) else Statement(s)


class InFlight:
    """One statement started by a client and not yet over."""

    query_id: Optional[str] = None

    def read_some(self, rows: int = 1, timeout: float = 60) -> list:
        """Reads up to `rows` more rows (fewer only at the end); [] once the statement is over."""
        raise NotImplementedError

    def cancel(self, timeout: float = 60) -> StatementResult:
        """Cancels as the client's users do, then returns what the client reported."""
        raise NotImplementedError

    def finish(self, timeout: float = 120) -> StatementResult:
        """Reads the rest; the result holds every row read, including those from read_some."""
        raise NotImplementedError

    def close(self) -> None:
        """Gives up on the statement (kills a driver process); safe to call twice."""

    def __enter__(self) -> "InFlight":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class Client:
    name: str = ""
    features: frozenset = frozenset()

    def supports(self, feature: str) -> bool:
        if feature not in FEATURES:
            raise ValueError(f"unknown feature {feature!r}; known: {sorted(FEATURES)}")
        return feature in self.features

    def run(self, server_url: str, statements: Sequence[StatementLike], session: Session = Session(),
            timeout: float = 120) -> List[StatementResult]:
        """Runs `statements` in order in one client session; one result per statement, plus a last
        one for the COMMIT when `session.autocommit` is False. Every statement runs even after one
        fails. A timeout kills the client and marks the statements not finished."""
        raise NotImplementedError

    def start(self, server_url: str, sql: str, session: Session = Session(), timeout: float = 60) -> InFlight:
        """Starts `sql` and returns once the server has accepted it (query id known where the client tells)."""
        raise NotImplementedError

    def _check(self, statements: Sequence[Statement], session: Session) -> None:
        wants = {
            "params": any(s.params is not None for s in statements),
            "extra_headers": bool(session.extra_headers),
            "transactions": not session.autocommit,
            "encoding": session.encoding is not None,
            "compression_off": not session.compression,
        }
        missing = [f for f, wanted in wants.items() if wanted and not self.supports(f)]
        if missing:
            raise Unsupported(f"{self.name} client does not support {', '.join(missing)}")

    def _check_start(self, sql: str, session: Session) -> None:
        self._check([Statement(sql)], session)
        if not session.autocommit:
            raise Unsupported("start() runs one statement with autocommit; use run() for transactions")

    def __repr__(self) -> str:
        return f"<{self.name} Trino client>"
