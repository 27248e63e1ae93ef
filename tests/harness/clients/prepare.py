"""Builds what the CLI, JDBC and Node clients need: the jars, the compiled JDBC driver, npm ci (idempotent).

Run by tests/clients/prepare.sh as `python -m tests.harness.clients prepare` (see __main__.py).
"""

import shutil
import subprocess
from pathlib import Path

from ..artifacts import maven_artifact
from ..java import jdk_major
from .builds import BUILD_DIR, CLI_COORDS, CLIENTS_SRC, JDBC_CLASSES, JDBC_COORDS, NODE_DIR, java_home
from .interface import ClientNotPrepared


def prepare(log=print) -> None:
    """Fetches the jars, compiles the JDBC driver program and installs the Node package (idempotent)."""
    home = java_home()
    log(f"java: {home} (Java {jdk_major(home)})")
    cli_jar, jdbc_jar = maven_artifact(CLI_COORDS), maven_artifact(JDBC_COORDS)
    log(f"jars: {cli_jar}, {jdbc_jar}")
    _compile_jdbc(home, jdbc_jar)
    log(f"jdbc: compiled into {JDBC_CLASSES}")
    _install_node()
    log(f"node: trino-client installed in {NODE_DIR / 'node_modules'}")


def _compile_jdbc(home: Path, jdbc_jar: Path) -> None:
    sources = sorted((CLIENTS_SRC / "jdbc").glob("*.java"))
    out = JDBC_CLASSES.with_name("classes.new")
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    argv = [str(home / "bin" / "javac"), "--release", "11", "-encoding", "UTF-8", "-Xlint:all,-classfile", "-Werror",
            "-cp", str(jdbc_jar), "-d", str(out)] + [str(s) for s in sources]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=300)
    if done.returncode != 0:
        raise ClientNotPrepared(f"javac failed:\n{done.stdout}{done.stderr}")
    shutil.rmtree(JDBC_CLASSES, ignore_errors=True)
    out.rename(JDBC_CLASSES)


def _install_node() -> None:
    npm = shutil.which("npm")
    if npm is None or shutil.which("node") is None:
        raise ClientNotPrepared("`node`/`npm` not on PATH: install Node.js 18+ with npm")
    NODE_DIR.mkdir(parents=True, exist_ok=True)
    lock = (CLIENTS_SRC / "node" / "package-lock.json").read_bytes()
    stamp = NODE_DIR / "node_modules" / ".installed-lock.json"
    if stamp.is_file() and stamp.read_bytes() == lock:
        return  # npm ci would wipe and reinstall the same tree
    for name in ("package.json", "package-lock.json"):
        shutil.copyfile(CLIENTS_SRC / "node" / name, NODE_DIR / name)
    done = subprocess.run([npm, "ci", "--no-audit", "--no-fund", "--cache", str(BUILD_DIR / "npm-cache")],
                          cwd=NODE_DIR, capture_output=True, text=True, timeout=600)
    if done.returncode != 0:
        raise ClientNotPrepared(f"npm ci failed (network? registry?):\n{done.stdout[-2000:]}{done.stderr[-3000:]}")
    stamp.write_bytes(lock)
