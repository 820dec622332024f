"""Opening Optuna storages from URL strings: SQLite (default), journal files, any SQLAlchemy URL.

Storage strings:

- ``sqlite:///studies/mfsearch.db`` (relative path) or ``sqlite:////abs/path.db``;
- ``journal:///studies/mfsearch.journal`` (relative) or ``journal:////abs/path.journal``: an
  Optuna journal file, which suits network file systems where SQLite locking is unreliable;
- any other SQLAlchemy URL, e.g. ``postgresql://user:password@host/db``.

Parallel workers on one SQLite file: the file is switched to write-ahead logging (WAL: readers
never block the writer) and every connection waits up to :data:`SQLITE_BUSY_TIMEOUT` seconds
for a lock instead of failing with "database is locked". Heartbeats (stale-trial recovery) need
an RDB storage (SQLite or a server): Optuna's journal storage has none.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import optuna
from optuna.storages.journal import JournalFileBackend, JournalStorage

DEFAULT_STORAGE = "sqlite:///studies/mfsearch.db"
JOURNAL_PREFIX = "journal:///"
_SQLITE_PREFIX = "sqlite:///"
_CREDENTIALS = re.compile(r"(?P<scheme>[a-zA-Z][\w+.-]*://)(?P<user>[^:/@]*):(?P<pw>[^@/]*)@")


#: Seconds a SQLite connection waits for another process's lock before giving up.
SQLITE_BUSY_TIMEOUT = 60


class StorageError(ValueError):
    """A storage URL is malformed or the storage cannot be opened (password hidden)."""


@dataclass(frozen=True)
class Heartbeat:
    """Heartbeat settings of a storage (see :mod:`mfsearch.search._stale`).

    Attributes:
        interval: Seconds between a running trial's heartbeats.
        grace_period: Seconds without a heartbeat after which a trial is stale (None: twice
            the interval, Optuna's default).
        max_retry: How many times a stale or interrupted trial is re-run.
    """

    interval: int
    grace_period: int | None = None
    max_retry: int = 0

    def __post_init__(self) -> None:
        if self.interval < 1:
            raise ValueError(f"hydra.sweeper.stale.heartbeat_interval must be at least 1 s, "
                             f"but got {self.interval=}")
        if self.grace_period is not None and self.grace_period <= self.interval:
            raise ValueError(f"hydra.sweeper.stale.grace_period must exceed heartbeat_interval "
                             f"({self.interval} s), but got {self.grace_period=}")
        if self.max_retry < 0:
            raise ValueError(f"hydra.sweeper.stale.max_retry must be >= 0, but got "
                             f"{self.max_retry=}")


def hide_password(text: str, url: str | None = None) -> str:
    """Replaces the password of every ``scheme://user:password@`` in ``text`` by ``***``.

    Args:
        text: The text to clean, e.g. a URL or an error message.
        url: A URL whose password is also removed wherever it appears verbatim in ``text``.
    """
    if url is not None:
        for match in _CREDENTIALS.finditer(url):
            if match["pw"]:
                text = text.replace(match["pw"], "***")
    return _CREDENTIALS.sub(lambda m: f"{m['scheme']}{m['user']}:***@", text)


def _file_path(url: str, prefix: str) -> Path:
    rest = url[len(prefix):]
    if not rest or rest == "/":
        raise StorageError(f"Storage {hide_password(url)!r} names no file: write "
                           f"{prefix}relative/path or {prefix}/absolute/path.")
    return Path(rest)


def storage_file(url: str) -> Path | None:
    """The file of a SQLite or journal storage URL; None for servers and in-memory SQLite."""
    for prefix in (_SQLITE_PREFIX, JOURNAL_PREFIX):
        if url.startswith(prefix):
            path = _file_path(url, prefix)
            return None if str(path) == ":memory:" else path
    return None


def resolve_storage_url(url: str | None) -> str:
    """Makes file-backed storage URLs absolute, so jobs in other directories find the same file.

    ``None`` and the empty string mean :data:`DEFAULT_STORAGE`.
    """
    url = (url or DEFAULT_STORAGE).strip()
    for prefix in (_SQLITE_PREFIX, JOURNAL_PREFIX):
        if url.startswith(prefix):
            path = _file_path(url, prefix)
            if str(path) == ":memory:":
                return url
            return f"{prefix}{path.resolve()}"
    if url.startswith("journal:"):
        raise StorageError(f"Storage {hide_password(url)!r} is not a journal URL of the form "
                           f"{JOURNAL_PREFIX}path/to/file.journal.")
    if "://" not in url:
        raise StorageError(f"Storage {hide_password(url)!r} is not a URL: use e.g. "
                           f"{DEFAULT_STORAGE}, {JOURNAL_PREFIX}studies/mfsearch.journal or "
                           f"postgresql://user:password@host/db.")
    return url


def _writable_dir(path: Path, url: str) -> None:
    """Creates ``path``'s folder; raises StorageError when it cannot be created or written."""
    folder = path.parent
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise StorageError(f"Cannot create the folder {str(folder)!r} of the storage "
                           f"{hide_password(url)!r}: {exc.strerror}. Make it writable or choose "
                           "another hydra.sweeper.storage (make sweep STORAGE=...).") from None
    if not os.access(folder, os.W_OK | os.X_OK) or (path.exists()
                                                     and not os.access(path, os.W_OK)):
        raise StorageError(f"The storage {hide_password(url)!r} is not writable: the folder "
                           f"{str(folder)!r} and the file must be writable by this user (SQLite "
                           "and journal storages write lock files next to it). Fix the "
                           "permissions or choose another hydra.sweeper.storage "
                           "(make sweep STORAGE=...).")


@lru_cache(maxsize=16)
def _open(url: str, heartbeat: Heartbeat | None) -> optuna.storages.BaseStorage:
    from mfsearch.search._stale import quiet_heartbeat_warnings

    with quiet_heartbeat_warnings():
        return _open_quietly(url, heartbeat)


def _open_quietly(url: str, heartbeat: Heartbeat | None) -> optuna.storages.BaseStorage:
    if url.startswith(JOURNAL_PREFIX):
        path = _file_path(url, JOURNAL_PREFIX)
        _writable_dir(path, url)
        return JournalStorage(JournalFileBackend(str(path)))
    kwargs: dict[str, Any] = {}
    if heartbeat is not None:
        from mfsearch.search._stale import RetryStaleTrial

        kwargs = {"heartbeat_interval": heartbeat.interval,
                  "grace_period": heartbeat.grace_period,
                  "heartbeat_stale_trial_callback": RetryStaleTrial(heartbeat.max_retry)}
    if not url.startswith(_SQLITE_PREFIX):
        return optuna.storages.RDBStorage(url, **kwargs)
    path = _file_path(url, _SQLITE_PREFIX)
    if str(path) == ":memory:":
        return optuna.storages.RDBStorage(url, **kwargs)
    _writable_dir(path, url)
    # Many processes share the file: wait for locks instead of failing at once, and use WAL
    # (a property of the file, kept once set) so that readers never block the writer.
    storage = optuna.storages.RDBStorage(
        url, engine_kwargs={"connect_args": {"timeout": SQLITE_BUSY_TIMEOUT}}, **kwargs)
    with storage.engine.connect() as connection:
        connection.exec_driver_sql("PRAGMA journal_mode=WAL")
    return storage


def _first_line(text: str) -> str:
    return text.strip().splitlines()[0] if text.strip() else "(no message)"


def describe_location(url: str) -> str:
    """``host H, database D`` of a server URL, ``file F`` of a file storage (no password)."""
    for prefix in (_SQLITE_PREFIX, JOURNAL_PREFIX):
        if url.startswith(prefix):
            return f"file {url[len(prefix):]}"
    try:
        from sqlalchemy.engine import make_url

        parsed = make_url(url)
    except Exception:
        return hide_password(url)
    port = f":{parsed.port}" if parsed.port else ""
    return f"host {parsed.host or 'localhost'}{port}, database {parsed.database}"


def open_storage(url: str | None, heartbeat: Heartbeat | None = None
                 ) -> optuna.storages.BaseStorage:
    """Opens (and caches per process) the storage named by ``url``.

    Args:
        url: The storage URL (None: :data:`DEFAULT_STORAGE`).
        heartbeat: Heartbeat settings; applied to RDB storages (SQLite, servers) only.

    Raises:
        StorageError: The URL is malformed, the storage cannot be opened, or its folder is not
            writable; the message names the host and database, password hidden.
    """
    resolved = resolve_storage_url(url)
    try:
        return _open(resolved, heartbeat)
    except StorageError:
        raise
    except Exception as exc:  # driver errors have many types; all mean "cannot open"
        raise StorageError(
            f"Cannot open the study storage {hide_password(resolved)!r} "
            f"({describe_location(resolved)}): "
            f"{type(exc).__name__}: {_first_line(hide_password(str(exc), resolved))}"
            " Check the URL, the credentials, that the database server runs and that its driver "
            "is installed."
        ) from None
