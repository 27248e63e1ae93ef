"""Finding a JDK of at least a given version: `$JAVA_HOME` first, then every JDK under /usr/lib/jvm.

Trino 476 runs only on Java 24 or newer, while the machine's default `java` may be older;
the harness asks for what it needs instead of trusting whatever `java` is on PATH.
"""

import os
import re
from pathlib import Path
from typing import Iterable, Optional

_JVM_DIRS = (Path("/usr/lib/jvm"),)
_RELEASE_VERSION = re.compile(r'^JAVA_VERSION="?(\d+)', re.MULTILINE)


def jdk_major(home: Path) -> Optional[int]:
    """The feature version of the JDK at `home` from its `release` file, or None if it is not one."""
    try:
        match = _RELEASE_VERSION.search((home / "release").read_text(errors="replace"))
    except OSError:
        return None
    if not match or not (home / "bin" / "java").is_file():
        return None
    return int(match.group(1))


def _candidates() -> Iterable[Path]:
    if os.environ.get("JAVA_HOME"):
        yield Path(os.environ["JAVA_HOME"])
    for root in _JVM_DIRS:
        if root.is_dir():
            # Real directories only: Debian's symlinks name the same JDKs again.
            yield from sorted((p for p in root.iterdir() if p.is_dir() and not p.is_symlink()), reverse=True)


def find_jdk(min_major: int) -> Optional[Path]:
    """The home of a JDK of version >= `min_major` (JAVA_HOME if it qualifies, else the newest found)."""
    best: Optional[Path] = None
    best_major = 0
    for home in _candidates():
        major = jdk_major(home)
        if major is None or major < min_major:
            continue
        if os.environ.get("JAVA_HOME") and home == Path(os.environ["JAVA_HOME"]):
            return home
        if major > best_major:
            best, best_major = home, major
    return best
