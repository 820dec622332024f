"""Opening Optuna storages from URL strings: SQLite (default), journal files, any SQLAlchemy URL.

Storage strings:

- ``sqlite:///studies/mfsearch.db`` (relative path) or ``sqlite:////abs/path.db``;
- ``journal:///studies/mfsearch.journal`` (relative) or ``journal:////abs/path.journal``: an
  Optuna journal file, which suits network file systems where SQLite locking is unreliable;
- any other SQLAlchemy URL, e.g. ``postgresql://user:password@host/db``.
"""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path

import optuna
from optuna.storages.journal import JournalFileBackend, JournalStorage

DEFAULT_STORAGE = "sqlite:///studies/mfsearch.db"
JOURNAL_PREFIX = "journal:///"
_SQLITE_PREFIX = "sqlite:///"
_CREDENTIALS = re.compile(r"(?P<scheme>[a-zA-Z][\w+.-]*://)(?P<user>[^:/@]*):(?P<pw>[^@/]*)@")


class StorageError(ValueError):
    """A storage URL is malformed or the storage cannot be opened (password hidden)."""


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


@lru_cache(maxsize=8)
def _open(url: str) -> optuna.storages.BaseStorage:
    if url.startswith(JOURNAL_PREFIX):
        path = _file_path(url, JOURNAL_PREFIX)
        path.parent.mkdir(parents=True, exist_ok=True)
        return JournalStorage(JournalFileBackend(str(path)))
    if url.startswith(_SQLITE_PREFIX):
        path = _file_path(url, _SQLITE_PREFIX)
        if str(path) != ":memory:":
            path.parent.mkdir(parents=True, exist_ok=True)
        # Jobs and sweepers share the file: wait for locks instead of failing at once.
        return optuna.storages.RDBStorage(url, engine_kwargs={"connect_args": {"timeout": 60}})
    return optuna.storages.RDBStorage(url)


def _first_line(text: str) -> str:
    return text.strip().splitlines()[0] if text.strip() else "(no message)"


def open_storage(url: str | None) -> optuna.storages.BaseStorage:
    """Opens (and caches per process) the storage named by ``url``.

    Raises:
        StorageError: The URL is malformed or the storage cannot be opened; the message names
            the URL with its password hidden.
    """
    resolved = resolve_storage_url(url)
    try:
        return _open(resolved)
    except Exception as exc:  # driver errors have many types; all mean "cannot open"
        raise StorageError(
            f"Cannot open the study storage {hide_password(resolved)!r}: "
            f"{type(exc).__name__}: {_first_line(hide_password(str(exc), resolved))}"
            " Check the URL, that the database server runs and that its driver is installed."
        ) from None
