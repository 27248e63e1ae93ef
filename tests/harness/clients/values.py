"""canonical(): one value as tests compare it, whichever client (Python, CLI, JDBC, Node) read it.

Decimals, dates and times become Trino's own text, so the four clients' rows compare equal.
"""

import datetime
import decimal
import re
import uuid
from typing import Optional


def canonical(value, type_name: Optional[str] = None):
    """A value as tests compare it: ints, floats, str for decimals/dates/times (Trino's text),
    "Infinity"/"NaN" for non-finite doubles, lowercase hex for varbinary, lists for arrays/rows."""
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, int):
        # JavaScript prints the double 17.0 as 17; the type says what it was.
        return float(value) if _base_type(type_name) in ("double", "real") else value
    if isinstance(value, float):
        if value != value:
            return "NaN"
        if value in (float("inf"), float("-inf")):
            return "Infinity" if value > 0 else "-Infinity"
        return value
    if isinstance(value, decimal.Decimal):
        return str(value)
    if isinstance(value, datetime.datetime):
        return _trino_datetime(value, _precision(type_name, 3))
    if isinstance(value, datetime.date):
        return value.isoformat()
    if isinstance(value, datetime.time):
        text = value.strftime("%H:%M:%S") + _fraction(value.microsecond, _precision(type_name, 3))
        return text + (_zone(value.tzinfo, value) if value.tzinfo else "")
    if isinstance(value, (bytes, bytearray)):
        return bytes(value).hex()
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, (list, tuple)):
        return [canonical(v) for v in value]
    if isinstance(value, dict):
        return {str(canonical(k)): canonical(v) for k, v in value.items()}
    return str(value)


def _base_type(type_name: Optional[str]) -> str:
    return (type_name or "").split("(")[0].strip().lower()


def _precision(type_name: Optional[str], default: int) -> int:
    match = re.search(r"\((\d+)\)", type_name or "")
    return int(match.group(1)) if match else default


def _fraction(micros: int, precision: int) -> str:
    # Python keeps microseconds; Trino prints exactly `precision` digits.
    return "." + f"{micros:06d}".ljust(12, "0")[:precision] if precision else ""


def _zone(tz, moment) -> str:
    name = str(tz)
    return " " + (name if not name.startswith("UTC+") and not name.startswith("UTC-") else moment.strftime("%z"))


def _trino_datetime(value: datetime.datetime, precision: int) -> str:
    text = value.strftime("%Y-%m-%d %H:%M:%S") + _fraction(value.microsecond, precision)
    return text + (_zone(value.tzinfo, value) if value.tzinfo else "")
