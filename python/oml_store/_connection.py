"""oml.connect, oml.disconnect and oml.isconnected."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Optional

if TYPE_CHECKING:
    import psycopg2.extensions

from . import _backend
from ._errors import OMLError

__all__ = ["connect", "disconnect", "isconnected"]


def connect(*args: Any,
            conn: Optional[psycopg2.extensions.connection] = None,
            **kwargs: Any) -> None:
    """Establish the connection that the oml_store API uses.

    oml_store keeps one connection per Python session; every API call
    (``oml.ds.*``, ``oml.grant``, ``oml.revoke``) uses it.  Connecting again
    replaces (and, if oml_store opened it, closes) the previous connection.

    Parameters
    ----------
    *args, **kwargs
        Passed to ``psycopg2.connect``: a libpq connection string or keyword
        arguments such as ``host``, ``port``, ``user``, ``password``,
        ``dbname``.  Anything not given comes from the standard ``PG*``
        environment variables (``PGHOST``, ``PGUSER``, ...), as in psql.
    conn : psycopg2 connection, optional
        Use this already open connection instead of opening one.  It is not
        closed by :func:`disconnect`.  API calls commit their own
        transaction on it when it is idle; when the caller has a transaction
        open, a call runs in a savepoint and commits with that transaction.

    Returns
    -------
    None

    Raises
    ------
    OMLError
        The connection cannot be opened; the database has no ``oml_store``
        extension (SQLSTATE 58P01: ``CREATE EXTENSION oml_store`` first);
        or its version is not one this client supports (this client
        works with extension versions of its own ``major.minor`` series,
        see ``oml_store.__version__``): an older one (55000, hint
        ``ALTER EXTENSION oml_store UPDATE``) or a newer one (0A000, hint
        to upgrade the client).
    TypeError
        ``conn`` is not a psycopg2 connection, or is given together with
        connection arguments.
    """
    if conn is not None:
        if args or kwargs:
            raise TypeError("connect() takes either conn= or connection"
                            " arguments, not both")
        backend = _backend.Psycopg2Backend(conn, owned=False)
    else:
        import psycopg2

        try:
            new = psycopg2.connect(*args, **kwargs)
        except psycopg2.Error as exc:
            raise _backend._translate(exc) from None
        backend = _backend.Psycopg2Backend(new, owned=True)
    try:
        backend.check_extension()
    except BaseException:
        backend.close()
        raise
    previous = _backend.set_backend(backend)
    if previous is not None and previous is not backend:
        previous.close()


def disconnect() -> None:
    """Close the oml_store connection.

    A connection that was passed to :func:`connect` as ``conn=`` is only
    detached, not closed.  Disconnecting when not connected does nothing.

    Returns
    -------
    None
    """
    previous = _backend.set_backend(None)
    if previous is not None:
        previous.close()


def isconnected(check_status: bool = False) -> bool:
    """Whether oml_store has a connection.

    Parameters
    ----------
    check_status : bool, default False
        If True, also check that the database still answers (one round
        trip); otherwise only whether a connection is set and not closed.

    Returns
    -------
    bool
    """
    if not isinstance(check_status, bool):
        raise TypeError("check_status must be a bool")
    try:
        backend = _backend.get_backend()
    except OMLError:
        return False
    if check_status:
        return backend.is_alive()
    conn = getattr(backend, "connection", None)
    return conn is None or not conn.closed
