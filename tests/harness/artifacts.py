"""Trino's published artifacts (server, plugins, CLI, JDBC driver) from Maven Central, cached outside git.

Maven fetches and checks each artifact against the checksums Maven Central publishes;
we copy it into one cache folder, verify the copy against Maven's recorded SHA-1, and
never fetch again once it is there. A failed download fails loudly with Maven's own
words: the real-Trino suite must never skip for want of a jar.
"""

import hashlib
import os
import shutil
import subprocess
from pathlib import Path

# The Trino server the suites and `make run` use: 476, the newest Maven Central publishes as a server
# tarball; `TRINO_ROUTER_TRINO_VERSION=483` assembles 483 from its jars instead (see trino_dist.py).
DEFAULT_TRINO_VERSION = "476"
TRINO_VERSION = os.environ.get("TRINO_ROUTER_TRINO_VERSION", DEFAULT_TRINO_VERSION)


def cache_root() -> Path:
    """`$TRINO_ROUTER_CACHE`, else ~/.cache/trino-router: survives `git clean`, shared by clones."""
    configured = os.environ.get("TRINO_ROUTER_CACHE")
    root = Path(configured) if configured else Path.home() / ".cache" / "trino-router"
    root.mkdir(parents=True, exist_ok=True)
    return root


class ArtifactError(RuntimeError):
    """An artifact could not be fetched or did not check out."""


def _file_name(coords: str) -> str:
    """`group:artifact:version[:type[:classifier]]` -> the file name Maven gives it."""
    parts = coords.split(":")
    if len(parts) < 3 or len(parts) > 5:
        raise ValueError(f"not Maven coordinates: {coords!r}")
    _, artifact, version = parts[:3]
    kind = parts[3] if len(parts) > 3 else "jar"
    classifier = f"-{parts[4]}" if len(parts) > 4 else ""
    return f"{artifact}-{version}{classifier}.{kind}"


def _local_repo_file(coords: str) -> Path:
    """Where `mvn` keeps the artifact (and its `.sha1`) in the local repository."""
    group, artifact, version = coords.split(":")[:3]
    repo = Path(os.environ.get("MAVEN_REPO_LOCAL", Path.home() / ".m2" / "repository"))
    return repo.joinpath(*group.split("."), artifact, version, _file_name(coords))


def _sha1(path: Path) -> str:
    digest = hashlib.sha1()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _expected_sha1(coords: str) -> str:
    """Maven Central's SHA-1 of the artifact, as Maven stored it beside the download."""
    checksum = _local_repo_file(coords).with_name(_local_repo_file(coords).name + ".sha1")
    if not checksum.is_file():
        raise ArtifactError(f"{coords}: Maven left no checksum at {checksum}")
    words = checksum.read_text().split()
    if not words:
        raise ArtifactError(f"{coords}: empty checksum file {checksum}")
    return words[0].lower()


def maven_artifact(coords: str) -> Path:
    """The cached file of `coords` (e.g. `io.trino:trino-cli:476:jar:executable`), fetched once."""
    target_dir = cache_root() / "maven"
    target = target_dir / _file_name(coords)
    verified = target.with_name(target.name + ".verified")
    if target.is_file() and verified.is_file():
        return target
    if shutil.which("mvn") is None:
        raise ArtifactError("`mvn` is not installed: `apt-get install maven` (needed to fetch Trino's artifacts)")
    target_dir.mkdir(parents=True, exist_ok=True)
    argv = ["mvn", "--batch-mode", "--quiet", "dependency:copy", f"-Dartifact={coords}",
            f"-DoutputDirectory={target_dir}", "-Dmdep.overWriteReleases=true", "-Dmaven.artifact.threads=4"]
    if os.environ.get("MAVEN_REPO_LOCAL"):
        argv.append(f"-Dmaven.repo.local={os.environ['MAVEN_REPO_LOCAL']}")
    done = subprocess.run(argv, capture_output=True, text=True, timeout=1800, cwd=target_dir)
    if done.returncode != 0 or not target.is_file():
        raise ArtifactError(f"fetching {coords} with Maven failed (exit {done.returncode}):\n"
                            f"{(done.stdout + done.stderr)[-3000:]}")
    want, got = _expected_sha1(coords), _sha1(target)
    if want != got:
        target.unlink()
        raise ArtifactError(f"{coords}: SHA-1 {got} does not match Maven Central's {want}; removed, fetch again")
    verified.write_text(got + "\n")
    return target
