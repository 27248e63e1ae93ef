"""`python -m tests.harness.clients prepare`: what tests/clients/prepare.sh runs to build the clients.

Prints one clear line instead of a traceback when something is missing.
"""

import sys

from .prepare import prepare

if sys.argv[1:] != ["prepare"]:
    sys.exit("usage: python -m harness.clients prepare")
try:
    prepare()
except Exception as exc:  # noqa: BLE001 - one clear line for CI, not a traceback
    sys.exit(f"tests/clients/prepare.sh: {exc}")
