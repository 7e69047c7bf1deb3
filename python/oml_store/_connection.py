"""oml.connect, oml.disconnect and oml.isconnected."""

from . import _backend
from ._errors import OMLError

__all__ = ["connect", "disconnect", "isconnected"]


def connect(*args, conn=None, **kwargs):
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
        The connection cannot be opened, or the database has no
        ``oml_store`` extension (``CREATE EXTENSION oml_store`` first).
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


def disconnect():
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


def isconnected(check_status=False):
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
