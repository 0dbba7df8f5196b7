"""A local PostgreSQL cluster started from the machine's binaries: the default a new user meets.

The same class backs the test suite's throwaway clusters. When run as root, initdb,
pg_ctl and psql run as the `postgres` user, since PostgreSQL refuses to run as root.
"""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
from dataclasses import dataclass
from pathlib import Path

from sidecar.errors import SidecarError

PREFERRED_PORT = 54329
_BIN_CANDIDATES = ("/usr/lib/postgresql/15/bin", "/usr/lib/postgresql/16/bin", "/usr/local/pgsql/bin")


class EmbeddedError(SidecarError, RuntimeError):
    """The local cluster could not be found, initialised or started."""


def find_bin_dir() -> Path:
    """Directory holding initdb/pg_ctl: pg_config's bindir, known Debian paths, then PATH."""
    pg_config = shutil.which("pg_config")
    if pg_config:
        out = subprocess.run([pg_config, "--bindir"], capture_output=True, text=True, check=False)
        candidate = Path(out.stdout.strip())
        if (candidate / "initdb").exists():
            return candidate
    for candidate in map(Path, _BIN_CANDIDATES):
        if (candidate / "initdb").exists():
            return candidate
    initdb = shutil.which("initdb")
    if initdb:
        return Path(initdb).resolve().parent
    raise EmbeddedError("no PostgreSQL server binaries found (install postgresql-15 or set DATABASE_URL)")


def free_port(preferred: int | None = None) -> int:
    """The preferred port when nothing listens on it, else any free loopback port."""
    for port in ([preferred] if preferred else []) + [0]:
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return int(sock.getsockname()[1])
    raise EmbeddedError("no free TCP port on 127.0.0.1")


def _pkglibdir(bin_dir: Path) -> Path | None:
    pg_config = bin_dir / "pg_config"
    if not pg_config.exists():
        return None
    out = subprocess.run([str(pg_config), "--pkglibdir"], capture_output=True, text=True, check=False)
    return Path(out.stdout.strip()) if out.returncode == 0 else None


def pg_cron_installed(bin_dir: Path) -> bool:
    libdir = _pkglibdir(bin_dir)
    return bool(libdir and (libdir / "pg_cron.so").exists())


@dataclass
class LocalCluster:
    """One PostgreSQL cluster in `data_dir`, listening on 127.0.0.1:`port`."""

    root: Path
    port: int | None = None
    bin_dir: Path | None = None
    user: str = "postgres"

    def __post_init__(self) -> None:
        self.root = self.root.resolve()
        self.bin_dir = self.bin_dir or find_bin_dir()
        if self.port is None:
            self.port = self._remembered_port() or free_port(PREFERRED_PORT)

    @property
    def data_dir(self) -> Path:
        return self.root / "pgdata"

    @property
    def log_file(self) -> Path:
        return self.root / "postgres.log"

    def dsn(self, dbname: str = "postgres") -> str:
        return f"postgresql://{self.user}@127.0.0.1:{self.port}/{dbname}"

    # -- lifecycle ---------------------------------------------------------

    def ensure_started(self) -> None:
        """Initialise on first use, then start unless already running."""
        if not (self.data_dir / "PG_VERSION").exists():
            self.initdb()
        if not self.is_running():
            self.start()

    def initdb(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        self._hand_to_server_user(self.root, reach=True)
        self._run("initdb", "-D", str(self.data_dir), "-U", self.user, "--auth=trust", "-E", "UTF8",
                  "--locale=C.UTF-8", "--no-sync")
        (self.data_dir / "postgresql.auto.conf").write_text(self._settings())
        self._hand_to_server_user(self.data_dir / "postgresql.auto.conf")
        (self.root / "port").write_text(f"{self.port}\n")

    def start(self) -> None:
        self._run("pg_ctl", "-D", str(self.data_dir), "-l", str(self.log_file), "-w", "-t", "60",
                  "-o", f"-p {self.port}", "start")

    def stop(self, mode: str = "fast") -> None:
        if self.is_running():
            self._run("pg_ctl", "-D", str(self.data_dir), "-m", mode, "-w", "-t", "60", "stop")

    def restart(self, mode: str = "fast") -> None:
        self._run("pg_ctl", "-D", str(self.data_dir), "-l", str(self.log_file), "-m", mode, "-w",
                  "-t", "60", "-o", f"-p {self.port}", "restart")

    def is_running(self) -> bool:
        if not (self.data_dir / "PG_VERSION").exists():
            return False
        done = subprocess.run(self._cmd("pg_ctl", "-D", str(self.data_dir), "status"),
                              capture_output=True, check=False)
        return done.returncode == 0

    def destroy(self) -> None:
        self.stop("immediate")
        shutil.rmtree(self.root, ignore_errors=True)

    # -- internals ---------------------------------------------------------

    def _settings(self) -> str:
        lines = [
            "listen_addresses = '127.0.0.1'",
            f"unix_socket_directories = '{self.root}'",
            "max_connections = 200",
            "shared_buffers = '256MB'",
            "fsync = on",
            "synchronous_commit = off",
            "log_min_messages = warning",
            "timezone = 'UTC'",
        ]
        assert self.bin_dir is not None
        if pg_cron_installed(self.bin_dir):
            lines += ["shared_preload_libraries = 'pg_cron'", "cron.database_name = 'postgres'"]
        return "\n".join(lines) + "\n"

    def _remembered_port(self) -> int | None:
        try:
            return int((self.root / "port").read_text().strip())
        except (OSError, ValueError):
            return None

    def _cmd(self, tool: str, *args: str) -> list[str]:
        assert self.bin_dir is not None
        cmd = [str(self.bin_dir / tool), *args]
        if os.geteuid() == 0:
            return ["runuser", "-u", self.user, "--", *cmd]
        return cmd

    def _run(self, tool: str, *args: str) -> None:
        done = subprocess.run(self._cmd(tool, *args), capture_output=True, text=True, check=False)
        if done.returncode != 0:
            detail = (done.stderr or done.stdout).strip().splitlines()[-3:]
            raise EmbeddedError(f"{tool} failed: {' '.join(detail)} (log: {self.log_file})")

    def _hand_to_server_user(self, path: Path, reach: bool = False) -> None:
        """As root the server runs as `postgres`, which must own its files and reach them."""
        if os.geteuid() != 0:
            return
        entry = pwd.getpwnam(self.user)
        os.chown(path, entry.pw_uid, entry.pw_gid)
        for parent in path.parents if reach else ():
            if parent.stat().st_mode & 0o001 == 0:
                parent.chmod(parent.stat().st_mode | 0o001)
