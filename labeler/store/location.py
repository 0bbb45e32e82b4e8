"""Where a project lives: an SQLite file path (the default) or a PostgreSQL URL.

Several projects share one PostgreSQL database through schemas: ``postgresql://host/db?schema=birds``
keeps the project's tables in schema ``birds`` (created on ``init``); without ``?schema=`` the
project uses ``public``. Every other URL parameter is libpq's own (``sslmode``, ``service``,
``connect_timeout``...), and libpq's usual credential sources apply (PGPASSWORD, ~/.pgpass,
PGSERVICE), so a password never has to be written into the URL, the project or the settings.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from labeler.errors import UserInputError
from labeler.redaction import shown_location, url_secrets

if TYPE_CHECKING:  # SQLAlchemy is imported when a URL is parsed, so `labeler --help` stays fast
    from sqlalchemy.engine import URL

URL_SCHEMES = ("postgresql://", "postgres://", "postgresql+psycopg://")
DEFAULT_SCHEMA = "public"
#: Seconds libpq waits for a server before giving up (unless the URL says otherwise).
CONNECT_TIMEOUT_S = 5
_SCHEMA_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")
#: Anything shaped like ``scheme://``: a URL, never a file name, even with a mistyped scheme (taken
#: as a path, ``postgresq://user:secret@host/db`` became folders named after the password).
_ANY_URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.\-]{0,31}://")


def is_url(location: object) -> bool:
    return isinstance(location, str) and _ANY_URL.match(location.strip()) is not None


@dataclass(frozen=True)
class PgLocation:
    """A PostgreSQL project: the libpq URL (without ``schema``) and the schema holding it."""

    url: URL
    schema: str
    text: str  # as the user wrote it (may hold a password: show ``display`` instead)

    @property
    def display(self) -> str:
        return shown_location(self.text)

    @property
    def secrets(self) -> list[str]:
        """Its password and secret parameters (scrubbed from any message, see redaction.scrub)."""
        return url_secrets(self.text)


def parse_url(location: str) -> PgLocation:
    from sqlalchemy.engine import make_url

    text = location.strip()
    if not text.lower().startswith(URL_SCHEMES):
        scheme = text.split("://", 1)[0]
        hint = " (did you mean postgresql://?)" if scheme.lower().startswith("postg") else ""
        raise UserInputError(
            f"{shown_location(text)}: unknown kind of project location {scheme!r}{hint}; a project is a file path "
            "or a postgresql://[user@]host[:port]/database?schema=NAME URL"
        )
    try:
        url = make_url(text)
    except Exception:  # noqa: BLE001 - sqlalchemy raises ArgumentError and ValueError alike
        raise UserInputError(f"{shown_location(text)}: not a valid PostgreSQL URL (postgresql://[user@]host[:port]/database)") from None
    query = dict(url.query)
    schema = query.pop("schema", DEFAULT_SCHEMA)
    if isinstance(schema, tuple):
        schema = schema[-1]
    if not _SCHEMA_NAME.match(schema):
        raise UserInputError(
            f"{shown_location(text)}: schema {schema!r} must be letters, digits and _ (not starting with a digit, at most 63)"
        )
    query.setdefault("connect_timeout", str(CONNECT_TIMEOUT_S))
    url = url.set(drivername="postgresql+psycopg", query=query)
    return PgLocation(url=url, schema=schema, text=text)


def parse(location: str | os.PathLike[str]) -> Path | PgLocation:
    """A path for SQLite projects, a :class:`PgLocation` for URLs."""
    if is_url(location):
        return parse_url(str(location))
    return Path(location)


def display(location: str | os.PathLike[str]) -> str:
    return shown_location(os.fspath(location))
