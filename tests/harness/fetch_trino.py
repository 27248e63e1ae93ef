"""`make trino`: fetch and unpack the Trino server the real-Trino suites and `make run` use, once.

Exits non-zero with the reason when Maven, the download or the JDK 24+ Trino needs is
missing, so CI fails loudly instead of skipping the real-Trino suites.
"""

import sys
import time

from .artifacts import TRINO_VERSION, ArtifactError
from .trino_dist import trino_installation
from .trino_server import JdkMissing, trino_jdk


def main() -> int:
    began = time.monotonic()
    try:
        jdk = trino_jdk()
        home = trino_installation()
    except (ArtifactError, JdkMissing) as exc:
        print(f"make trino: {exc}", file=sys.stderr)
        return 1
    print(f"Trino {TRINO_VERSION} server at {home} (JDK {jdk}); {time.monotonic() - began:.0f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
