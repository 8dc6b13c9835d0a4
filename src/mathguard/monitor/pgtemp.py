"""A throwaway PostgreSQL cluster (initdb + pg_ctl in a temp dir) for the tests and the benchmark.

initdb refuses to run as root, so under root the cluster belongs to ``nobody`` (via
runuser); it listens on loopback only, trusts local connections and is removed on stop.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import uuid
from pathlib import Path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class PostgresCluster:
    """A running cluster; ``new_database()`` gives the URL of a fresh database in it."""

    def __init__(self, bin_dir: str | os.PathLike[str] = "/usr/lib/postgresql/15/bin") -> None:
        self.bin = Path(bin_dir)
        self.dir = Path(tempfile.mkdtemp(prefix="mg-pg-"))
        self.port = free_port()
        self.prefix: list[str] = []
        if os.geteuid() == 0:
            shutil.chown(self.dir, "nobody")
            self.prefix = ["runuser", "-u", "nobody", "--"]
        self._run("initdb", "-D", str(self.dir / "data"), "-U", "mg", "--auth=trust", "-E", "UTF8")
        self._run("pg_ctl", "-D", str(self.dir / "data"), "-l", str(self.dir / "log"), "-w", "-o",
                  f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1", "start")

    def _run(self, tool: str, *args: str) -> None:
        subprocess.run([*self.prefix, str(self.bin / tool), *args], check=True, capture_output=True, cwd=self.dir)

    def new_database(self) -> str:
        import psycopg

        name = "mg_" + uuid.uuid4().hex[:10]
        with psycopg.connect(f"host=127.0.0.1 port={self.port} user=mg dbname=postgres", autocommit=True) as conn:
            conn.execute(f"CREATE DATABASE {name}")
        return f"postgresql://mg@127.0.0.1:{self.port}/{name}"

    def stop(self) -> None:
        self._run("pg_ctl", "-D", str(self.dir / "data"), "-m", "immediate", "stop")
        shutil.rmtree(self.dir, ignore_errors=True)
