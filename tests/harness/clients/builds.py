"""What the CLI, JDBC and Node clients are built from and where: jar coordinates, build paths, the JDK.

Read by prepare.py (which builds them) and by cli.py and drivers.py (which run them).
"""

from pathlib import Path
from typing import List

from ..java import find_jdk
from ..paths import REPO_ROOT
from .interface import ClientNotPrepared

CLI_COORDS = "io.trino:trino-cli:476:jar:executable"
JDBC_COORDS = "io.trino:trino-jdbc:476"
# Both jars are Java 11 bytecode, but the aircompressor v3 classes they bundle (zstd/lz4/snappy
# for spooled `json+zstd`/`json+lz4` segments) and the CLI's FFM terminal are Java 22 bytecode.
MIN_JAVA = 22

CLIENTS_SRC = REPO_ROOT / "tests" / "clients"
BUILD_DIR = REPO_ROOT / "target" / "clients"
JDBC_CLASSES = BUILD_DIR / "jdbc" / "classes"
NODE_DIR = BUILD_DIR / "node"  # package.json + lock copied here, node_modules installed here (gitignored)


def java_home(min_major: int = MIN_JAVA) -> Path:
    """A JDK of at least `min_major` ($JAVA_HOME first, see harness.java), or a clear failure."""
    home = find_jdk(min_major)
    if home is None:
        raise ClientNotPrepared(
            f"no JDK {min_major}+ found in $JAVA_HOME or /usr/lib/jvm: the Trino 476 CLI/JDBC jars bundle "
            f"Java {min_major} classes (zstd/lz4 for spooled segments); install one or set JAVA_HOME")
    return home


def java_argv(home: Path) -> List[str]:
    # What the CLI's own launcher passes; quiets FFM warnings from the bundled compressor and jline.
    # The serial collector: a client run is short. (C1-only start-up flags made decoding 60,000
    # spooled rows several times slower, so the JIT keeps its default tiers.)
    return [str(home / "bin" / "java"), "-Xmx512m", "--enable-native-access=ALL-UNNAMED", "-XX:+UseSerialGC"]
