"""A local S3-compatible server (moto, from PyPI) for Trino's spooled results, on a free loopback port.

Trino 476 spools result segments only to object storage; moto keeps them in memory,
which is all a test needs. `spooling_config` gives a Trino server the files to use it.
"""

import base64
import os
import sys
import tempfile
from pathlib import Path
from typing import Dict, Optional, Tuple

import requests

from .ports import free_port
from .procs import ManagedProcess
from .waiting import wait_until

BUCKET = "spooling"
_TIMEOUT = 5.0


class S3Server:
    """moto's standalone server; `bucket` exists once `start` returns."""

    def __init__(self, log_dir: Optional[Path] = None):
        self.port = free_port()
        self.log_dir = Path(log_dir or tempfile.mkdtemp(prefix="s3-"))
        self.process: Optional[ManagedProcess] = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 60.0) -> "S3Server":
        binary = Path(sys.executable).parent / "moto_server"
        if not binary.is_file():
            raise RuntimeError(f"{binary} missing: `make venv` installs moto[server] (tests/requirements.txt)")
        self.process = ManagedProcess([binary, "-H", "127.0.0.1", "-p", str(self.port)],
                                      self.log_dir / "moto.log").start()

        def answers() -> bool:
            if not self.process.is_running():
                raise RuntimeError(f"moto exited with {self.process.returncode()}: {self.process.log_tail()}")
            return requests.get(self.url, timeout=_TIMEOUT).status_code == 200

        wait_until(answers, timeout, f"moto S3 server on {self.url}", interval=0.2)
        requests.put(f"{self.url}/{BUCKET}", timeout=_TIMEOUT).raise_for_status()
        return self

    def objects(self) -> list:
        """Keys of the segments now stored (an acknowledged segment is deleted by Trino)."""
        text = requests.get(f"{self.url}/{BUCKET}?list-type=2", timeout=_TIMEOUT).text
        return [part.split("</Key>")[0] for part in text.split("<Key>")[1:]]

    def stop(self) -> None:
        if self.process:
            self.process.stop()


def new_shared_secret() -> str:
    """The AES-256 key Trino encrypts spooled segment handles with (base64 of 32 bytes)."""
    return base64.b64encode(os.urandom(32)).decode()


def spooling_config(s3: S3Server, retrieval_mode: str, secret: str) -> Tuple[Dict[str, str], Dict[str, str]]:
    """(config.properties entries, extra etc/ files) for a Trino server spooling to `s3`.

    `retrieval_mode`: `coordinator_proxy` (clients download through the coordinator) or
    `storage` (clients download pre-signed URIs straight from the object store).
    """
    config = {
        "protocol.spooling.enabled": "true",
        "protocol.spooling.shared-secret-key": secret,
        "protocol.spooling.retrieval-mode": retrieval_mode,
    }
    manager = "\n".join([
        "spooling-manager.name=filesystem",
        "fs.s3.enabled=true",
        f"fs.location=s3://{BUCKET}/",
        f"s3.endpoint={s3.url}",
        "s3.region=us-east-1",
        "s3.path-style-access=true",
        "s3.aws-access-key=test",
        "s3.aws-secret-key=test",
    ]) + "\n"
    return config, {"spooling-manager.properties": manager}
