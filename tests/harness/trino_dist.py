"""A runnable Trino server installation: the server tarball and the plugins the suites use, unpacked once.

The installation lives in the cache (see artifacts.py), keyed by version, and is built
in a temporary folder then renamed into place, so two runs never see half of one.
"""

import shutil
import subprocess
import tempfile
import zipfile
from pathlib import Path

from .artifacts import TRINO_VERSION, ArtifactError, cache_root, maven_artifact

# Connector plugins of the suites: TPC-H sample data to read, an in-memory catalog to write.
PLUGINS = ("trino-tpch", "trino-memory")


def server_coordinates(version: str = TRINO_VERSION) -> str:
    return f"io.trino:trino-server-core:{version}:tar.gz"


def trino_installation(version: str = TRINO_VERSION) -> Path:
    """The folder of an unpacked Trino server with our plugins (bin/launcher, lib/, plugin/)."""
    home = cache_root() / f"trino-server-{version}"
    if (home / ".complete").is_file():
        return home
    tarball = maven_artifact(server_coordinates(version))
    plugin_zips = [maven_artifact(f"io.trino:{p}:{version}:zip") for p in PLUGINS]
    staging = Path(tempfile.mkdtemp(prefix=f".trino-server-{version}-", dir=cache_root()))
    try:
        # GNU tar keeps the launcher's executable bits; the tarball has one top-level folder.
        subprocess.run(["tar", "-xzf", str(tarball), "-C", str(staging), "--strip-components=1"], check=True,
                       capture_output=True, timeout=600)
        launcher = staging / "bin" / "launcher"
        if not launcher.is_file():
            raise ArtifactError(f"{tarball} has no bin/launcher: not a Trino server tarball")
        for archive in plugin_zips:
            with zipfile.ZipFile(archive) as z:
                bad = z.testzip()
                if bad is not None:
                    raise ArtifactError(f"{archive}: corrupt member {bad}")
                z.extractall(staging / "plugin")
        (staging / ".complete").write_text(f"trino {version}\n")
        if not (home / ".complete").is_file():
            shutil.rmtree(home, ignore_errors=True)
            staging.rename(home)
    except subprocess.CalledProcessError as exc:
        raise ArtifactError(f"unpacking {tarball} failed: {exc.stderr!r}") from exc
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return home
