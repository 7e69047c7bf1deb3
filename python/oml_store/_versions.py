"""Which versions of the oml_store extension this client works with.

The client and the extension are released together and share a version
number (the client's :data:`oml_store.__version__` equals the extension's
``default_version``).  Before 1.0 a new minor version may change the SQL
interface, so a client works with the extension versions of its own
``major.minor`` series (client 0.2.x: extension 0.2.x).  :func:`connect`
checks the version installed in the database and refuses others:

* an older extension (e.g. 0.1.0 left in a database after the package was
  upgraded): SQLSTATE 55000, hint ``ALTER EXTENSION oml_store UPDATE``;
* a newer one: SQLSTATE 0A000, hint to upgrade the client.
"""

from __future__ import annotations

import re

from ._errors import OMLError

__all__ = ["supported_series", "check_extension_version"]

_VERSION_RE = re.compile(r"(\d+)\.(\d+)(?:\.\d+)?\Z")


def _series(version: str) -> tuple[int, int] | None:
    """(major, minor) of a version such as ``'0.2.0'``; None if unparsable."""
    match = _VERSION_RE.match(version)
    if match is None:
        return None
    return int(match.group(1)), int(match.group(2))


def supported_series() -> tuple[int, int]:
    """The ``(major, minor)`` extension series this client works with."""
    from . import __version__

    series = _series(__version__)
    assert series is not None, __version__
    return series


def check_extension_version(extversion: str, dbname: str) -> None:
    """Raise OMLError unless this client works with ``extversion``.

    Parameters
    ----------
    extversion : str
        ``pg_extension.extversion`` of oml_store in the database.
    dbname : str
        The database's name, for the message.
    """
    from . import __version__

    want = supported_series()
    got = _series(extversion)
    if got == want:
        return
    supported = "%d.%d.x" % want
    detail = ("This client (oml_store %s) works with extension versions %s."
              % (__version__, supported))
    if got is not None and got < want:
        raise OMLError(
            "oml_store extension version %s in database \"%s\" is older than"
            " this client supports" % (extversion, dbname),
            sqlstate="55000", detail=detail,
            hint="Have a superuser run ALTER EXTENSION oml_store UPDATE in"
                 " that database, or use the client of version %s."
                 % extversion)
    if got is not None:
        raise OMLError(
            "oml_store extension version %s in database \"%s\" is newer than"
            " this client supports" % (extversion, dbname),
            sqlstate="0A000", detail=detail,
            hint="Upgrade the client to version %d.%d (pip install the"
                 " python/ folder of that release, or the Debian package"
                 " python3-oml-store of the same version as the server's"
                 " postgresql-15-oml-store)." % got)
    raise OMLError(
        "oml_store extension version \"%s\" in database \"%s\" is not one"
        " this client knows" % (extversion, dbname),
        sqlstate="0A000", detail=detail,
        hint="Use the client released with that extension version.")
