"""A runnable Trino server installation: the server tarball and the plugins the suites use, unpacked once.

The installation lives in the cache (see artifacts.py), keyed by version, and is built
in a temporary folder then renamed into place, so two runs never see half of one.
Versions with no server tarball on Maven Central are assembled from its jars (trino_assembly.py).
"""

import shutil
import subprocess
import tempfile
import zipfile
from pathlib import Path
from typing import Callable, List

from .artifacts import TRINO_VERSION, ArtifactError, cache_root, maven_artifact
from .trino_assembly import assemble_server

# Connector plugins of the suites: TPC-H sample data to read, an in-memory catalog to write.
PLUGINS = ("trino-tpch", "trino-memory")
# Maven Central stops publishing trino-server-core tarballs after 476: these versions are built
# from the jars it still publishes. Every other version is the tarball plus the plugin zips.
ASSEMBLED_FROM_JARS = frozenset({"483"})
# The version whose tarball lends its bin/ (the launcher) to assembled versions.
LAUNCHER_VERSION = "476"


def server_coordinates(version: str = TRINO_VERSION) -> str:
    return f"io.trino:trino-server-core:{version}:tar.gz"


def trino_installation(version: str = TRINO_VERSION) -> Path:
    """The folder of an unpacked Trino server with our plugins (bin/launcher, lib/, plugin/)."""
    home = cache_root() / f"trino-server-{version}"
    if (home / ".complete").is_file():
        return home
    if version in ASSEMBLED_FROM_JARS:
        launcher_bin = trino_installation(LAUNCHER_VERSION) / "bin"
        _build_in_place(home, version, lambda staging: assemble_server(version, staging, launcher_bin, PLUGINS))
        return home
    tarball = maven_artifact(server_coordinates(version))
    plugin_zips = [maven_artifact(f"io.trino:{p}:{version}:zip") for p in PLUGINS]
    _build_in_place(home, version, lambda staging: _unpack(tarball, plugin_zips, staging))
    return home


def _build_in_place(home: Path, version: str, fill: Callable[[Path], None]) -> None:
    """Runs `fill` on a fresh folder beside `home`, stamps it complete, then renames it to `home`."""
    staging = Path(tempfile.mkdtemp(prefix=f".trino-server-{version}-", dir=cache_root()))
    try:
        fill(staging)
        (staging / ".complete").write_text(f"trino {version}\n")
        if not (home / ".complete").is_file():
            shutil.rmtree(home, ignore_errors=True)
            staging.rename(home)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _unpack(tarball: Path, plugin_zips: List[Path], staging: Path) -> None:
    """The published server tarball, with the plugin zips unpacked into its plugin/."""
    try:
        # GNU tar keeps the launcher's executable bits; the tarball has one top-level folder.
        subprocess.run(["tar", "-xzf", str(tarball), "-C", str(staging), "--strip-components=1"], check=True,
                       capture_output=True, timeout=600)
    except subprocess.CalledProcessError as exc:
        raise ArtifactError(f"unpacking {tarball} failed: {exc.stderr!r}") from exc
    launcher = staging / "bin" / "launcher"
    if not launcher.is_file():
        raise ArtifactError(f"{tarball} has no bin/launcher: not a Trino server tarball")
    for archive in plugin_zips:
        with zipfile.ZipFile(archive) as z:
            bad = z.testzip()
            if bad is not None:
                raise ArtifactError(f"{archive}: corrupt member {bad}")
            z.extractall(staging / "plugin")
