"""A real, throwaway PostgreSQL server from Debian's packages, for the tests of the shared-state path.

`TempPostgres` runs `initdb` into a temporary folder and starts `postgres` on a free loopback port (trust
login, for the `postgres` user only on 127.0.0.1), then `stop()` shuts it down and removes the folder.
Postgres refuses to run as root: as root the cluster is owned by, and run as, the `postgres` system user
that Debian's package creates (`runuser`). Fsync is off: a test never kills the database server, only its
clients, and a commit acknowledged to a client is then as durable as the tests can tell.
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
import uuid
from pathlib import Path

INSTALL_HINT = "Debian's PostgreSQL is missing: run `make postgres` (apt-get install postgresql)"


def postgres_bin_dir() -> Path | None:
    """The newest `/usr/lib/postgresql/<version>/bin` holding initdb (Debian keeps them off the PATH)."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(Path(p).parts[-3]))
    if found:
        return Path(found[-1]).parent
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb else None


class TempPostgres:
    """A PostgreSQL cluster in a temporary folder, listening on 127.0.0.1:`port`.

    Raises:
        RuntimeError: the binaries are missing (`INSTALL_HINT`), or the server did not start (with its log).
    """

    def __init__(self) -> None:
        bin_dir = postgres_bin_dir()
        if bin_dir is None:
            raise RuntimeError(INSTALL_HINT)
        self.bin_dir = bin_dir
        self.user = "postgres"
        self.port = _free_port()
        # Not under pytest's tmp folders: those are root's (0700) and the `postgres` user could not enter them.
        self.root = Path(tempfile.mkdtemp(prefix="sleuth-pg-"))
        self.data = self.root / "data"
        self.log = self.root / "server.log"
        self._as_other_user = os.geteuid() == 0
        if self._as_other_user:
            shutil.chown(self.root, user="postgres", group="postgres")
        self._started = False

    def start(self) -> TempPostgres:
        self._run(
            "initdb",
            "-D",
            str(self.data),
            "-U",
            self.user,
            "--auth=trust",
            "--no-locale",
            "-E",
            "UTF8",
            "--no-sync",
        )
        options = (
            f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.root} -c fsync=off -c full_page_writes=off"
        )
        try:
            self._run(
                "pg_ctl", "-D", str(self.data), "-l", str(self.log), "-o", options, "-w", "-t", "60", "start"
            )
        except RuntimeError as exc:
            raise RuntimeError(f"{exc}\n{self.log.read_text() if self.log.exists() else ''}") from None
        self._started = True
        return self

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://{self.user}@127.0.0.1:{self.port}/{database}"

    def new_database(self) -> str:
        """A fresh, empty database on this server; returns its URL."""
        import psycopg

        name = "t_" + uuid.uuid4().hex[:12]
        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(f"CREATE DATABASE {name}")
        return self.url(name)

    def stop(self) -> None:
        try:
            if self._started:
                self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop")
                self._started = False
        finally:
            shutil.rmtree(self.root, ignore_errors=True)

    def _run(self, tool: str, *args: str) -> None:
        command = [str(self.bin_dir / tool), *args]
        if self._as_other_user:
            command = ["runuser", "-u", "postgres", "--", *command]
        done = subprocess.run(command, capture_output=True, text=True, timeout=120, cwd=self.root)
        if done.returncode != 0:
            raise RuntimeError(f"{tool} failed ({done.returncode}): {done.stderr.strip() or done.stdout.strip()}")

    def __enter__(self) -> TempPostgres:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])
