"""How oml_store reaches the database.

Everything the Python API does in the database goes through one small
*backend* object, so the same API code can run in a client (through
psycopg2, :class:`Psycopg2Backend`) and, later, inside the server (through
SPI).  A backend offers:

``query(sql, params=())``
    Run one statement and return its rows as a list of tuples (an empty list
    for a statement without a result).  ``sql`` uses ``%s`` placeholders for
    the positional ``params``; bytes-like parameters (``bytes``,
    ``bytearray``, ``memoryview``) are sent as ``bytea``.  ``bytea`` results
    may come back as ``memoryview`` or ``bytes``: callers treat them as any
    buffer (``bytes(value)`` when they need ``bytes``).  Errors raised by the
    server become :class:`~oml_store.OMLError`; server WARNINGs become Python
    ``UserWarning`` s (in the server they reach the SQL client directly).

``transaction(snapshot=False)``
    A context manager: the statements inside it commit together when the
    block ends normally and are rolled back when it raises.  Transactions
    nest: an inner one joins the outer one.  ``snapshot=True`` asks that all
    statements of the (outermost) transaction see one snapshot of the
    database, so that reading several rows in several statements is
    consistent.

``query_as_caller(sql, params=())``
    As ``query``, for statements that must run with the caller's own
    session settings (pyq* calls, whose input queries are the caller's).
    In the server ``query`` pins ``search_path`` to ``pg_catalog, pg_temp``
    for the package's own statements; in a client both are the same.

``load_objects(name, owner, names)`` (in the server only)
    The bytes of a datastore's objects, read by the extension's C code,
    which decides the trust rule (only objects written by trusted roles).

The API modules import nothing from the driver: they call
:func:`get_backend` and use the methods above.
"""

import contextlib

from ._errors import OMLError, warn
from ._versions import check_extension_version

__all__ = ["Backend", "Psycopg2Backend", "get_backend", "set_backend"]

_SAVEPOINT = "oml_store_call"


class Backend:
    """The interface every backend implements (see the module docstring)."""

    def query(self, sql, params=()):
        """Run one statement; return its rows as a list of tuples."""
        raise NotImplementedError

    def query_as_caller(self, sql, params=()):
        """Run one statement with the caller's own settings."""
        return self.query(sql, params)

    def transaction(self, snapshot=False):
        """Context manager: one transaction (or a nested part of one)."""
        raise NotImplementedError

    def is_alive(self):
        """Whether the database can still be reached."""
        raise NotImplementedError

    def close(self):
        """Release the connection, if the backend owns it."""


_current = None


def get_backend():
    """The backend of the current connection; OMLError when there is none."""
    if _current is None:
        raise OMLError("not connected to a database",
                       sqlstate="08003",
                       hint="Call oml.connect(...) first.")
    return _current


def set_backend(backend):
    """Make backend (or None) the one the API uses; return the previous one."""
    global _current
    previous, _current = _current, backend
    return previous


def _translate(exc):
    """An OMLError for a psycopg2 error, keeping the server's message."""
    diag = getattr(exc, "diag", None)
    message = getattr(diag, "message_primary", None)
    if not message:
        # Connection-level errors have no diagnostics: use libpq's text.
        message = str(exc).strip() or type(exc).__name__
        if message.startswith("ERROR:"):
            message = message[len("ERROR:"):].strip()
    return OMLError(message,
                    sqlstate=getattr(exc, "pgcode", None),
                    detail=getattr(diag, "message_detail", None),
                    hint=getattr(diag, "message_hint", None))


def _warn_notices(notices):
    """Raise the server's WARNINGs among libpq notices as UserWarnings.

    libpq gives notices as text, ``"WARNING:  message\\nDETAIL:  ...\\n"``.
    Lower severities (NOTICE, INFO, LOG, DEBUG) are ignored, as psql's
    default client_min_messages would show them but they carry no warning.
    """
    for notice in notices:
        severity, sep, text = notice.partition(":")
        if sep and severity.strip() == "WARNING":
            warn(text.strip())


class _BytesReader:
    """A read()-able view of a list of bytes-like parts, for copy_expert."""

    def __init__(self, parts):
        self._parts = [memoryview(p).cast("B") for p in parts]
        self._len = sum(len(p) for p in self._parts)

    def __len__(self):
        return self._len

    def read(self, size=-1):
        if not self._parts:
            return b""
        if size is None or size < 0:
            size = self._len
        out = []
        while self._parts and size > 0:
            part = self._parts[0]
            take = part[:size]
            out.append(take)
            size -= len(take)
            if len(take) == len(part):
                self._parts.pop(0)
            else:
                self._parts[0] = part[len(take):]
        data = b"".join(out)
        self._len -= len(data)
        return data


class Psycopg2Backend(Backend):
    """A backend on a psycopg2 connection.

    Parameters
    ----------
    conn : psycopg2.extensions.connection
        An open connection.
    owned : bool
        Whether :meth:`close` closes ``conn`` (True when oml_store opened it).

    Transactions: when the connection is idle, :meth:`transaction` starts a
    transaction and commits it at the end (on an ``autocommit`` connection
    it issues ``BEGIN`` / ``COMMIT`` itself).  When the user already has a
    transaction open on the connection, the call runs in a savepoint inside
    it and leaves the user's transaction open: it commits with theirs.
    """

    def __init__(self, conn, owned=False):
        import psycopg2
        import psycopg2.extensions

        if not isinstance(conn, psycopg2.extensions.connection):
            raise TypeError("conn must be a psycopg2 connection, not %s"
                            % type(conn).__name__)
        if conn.closed:
            raise OMLError("the connection is closed", sqlstate="08003")
        self._psycopg2 = psycopg2
        self._ext = psycopg2.extensions
        self._conn = conn
        self._owned = owned
        self._depth = 0

    @property
    def connection(self):
        """The psycopg2 connection."""
        return self._conn

    # -- statements ---------------------------------------------------------

    def _adapt(self, value):
        if isinstance(value, (bytes, bytearray, memoryview)):
            return self._psycopg2.Binary(value)
        return value

    def _execute(self, sql, params=None):
        """Run one statement, translating errors; returns its rows."""
        try:
            with self._conn.cursor() as cur:
                cur.execute(sql, params)
                return cur.fetchall() if cur.description is not None else []
        except self._psycopg2.Error as exc:
            raise _translate(exc) from None

    def query_described(self, sql, params=()):
        """Run one statement; return (column names, rows)."""
        # No parameters: no placeholder rewriting (a %s in a literal stays).
        params = tuple(self._adapt(p) for p in params) or None
        try:
            with self._conn.cursor() as cur:
                cur.execute(sql, params)
                if cur.description is None:
                    return [], []
                return [d[0] for d in cur.description], cur.fetchall()
        except self._psycopg2.Error as exc:
            raise _translate(exc) from None

    def query(self, sql, params=()):
        """Run one statement; return its rows as a list of tuples.

        Server WARNINGs it raised are issued as ``UserWarning``.
        """
        params = tuple(self._adapt(p) for p in params) or None
        conn = self._conn
        # Collect this statement's notices apart, leaving the connection's
        # own list (which psycopg2 caps at 50 entries) as it was.
        saved = conn.notices
        collected = []
        conn.notices = collected
        try:
            return self._execute(sql, params)
        finally:
            conn.notices = saved
            _warn_notices(collected)

    # -- COPY (bulk bytes without escaping) ----------------------------------

    def copy_in(self, sql, data):
        """Run ``COPY ... FROM STDIN`` feeding it the bytes-like data."""
        stream = _BytesReader(data)
        try:
            with self._conn.cursor() as cur:
                cur.copy_expert(sql, stream, size=max(len(stream), 8192))
        except self._psycopg2.Error as exc:
            raise _translate(exc) from None

    def copy_out(self, sql, write):
        """Run ``COPY ... TO STDOUT``, calling write(bytes) for each piece."""
        class _Writer:
            pass
        sink = _Writer()
        sink.write = write
        try:
            with self._conn.cursor() as cur:
                cur.copy_expert(sql, sink, size=1 << 20)
        except self._psycopg2.Error as exc:
            raise _translate(exc) from None

    # -- transactions -------------------------------------------------------

    @contextlib.contextmanager
    def transaction(self, snapshot=False):
        """One transaction; see the class docstring."""
        if self._depth:
            self._depth += 1
            try:
                yield
            finally:
                self._depth -= 1
            return

        conn = self._conn
        if conn.closed:
            raise OMLError("the connection is closed", sqlstate="08003",
                           hint="Call oml.connect(...) again.")
        status = conn.info.transaction_status
        if status == self._ext.TRANSACTION_STATUS_IDLE:
            mode = "top"
            if conn.autocommit:
                self._execute("BEGIN ISOLATION LEVEL REPEATABLE READ"
                              if snapshot else "BEGIN")
            elif snapshot and conn.isolation_level in (
                    None,
                    self._ext.ISOLATION_LEVEL_READ_UNCOMMITTED,
                    self._ext.ISOLATION_LEVEL_READ_COMMITTED):
                # psycopg2 sends BEGIN before this first statement.
                self._execute(
                    "SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        elif status == self._ext.TRANSACTION_STATUS_INTRANS:
            mode = "savepoint"
            self._execute("SAVEPOINT " + _SAVEPOINT)
        elif status == self._ext.TRANSACTION_STATUS_INERROR:
            raise OMLError("current transaction is aborted",
                           sqlstate="25P02",
                           hint="Roll back the connection's transaction"
                                " first.")
        else:
            raise OMLError("the connection is busy or broken",
                           sqlstate="08000")

        self._depth = 1
        try:
            yield
        except BaseException:
            self._depth = 0
            self._abort(mode)
            raise
        self._depth = 0
        if mode == "savepoint":
            self._execute("RELEASE SAVEPOINT " + _SAVEPOINT)
        elif conn.autocommit:
            self._execute("COMMIT")
        else:
            try:
                conn.commit()
            except self._psycopg2.Error as exc:
                raise _translate(exc) from None

    def _abort(self, mode):
        """Roll back after an error; a failure here must not hide it."""
        conn = self._conn
        if conn.closed:
            return
        try:
            if mode == "savepoint":
                self._execute("ROLLBACK TO SAVEPOINT " + _SAVEPOINT)
                self._execute("RELEASE SAVEPOINT " + _SAVEPOINT)
            elif conn.autocommit:
                self._execute("ROLLBACK")
            else:
                conn.rollback()
        except (OMLError, self._psycopg2.Error):
            pass

    # -- connection ---------------------------------------------------------

    def check_extension(self):
        """The extension's version; OMLError unless it is installed in the
        database in a version this client supports (see
        :mod:`oml_store._versions`)."""
        with self.transaction():
            [[dbname, extversion]] = self.query(
                "SELECT pg_catalog.current_database(),"
                " (SELECT extversion FROM pg_catalog.pg_extension"
                " WHERE extname OPERATOR(pg_catalog.=) 'oml_store')")
        if extversion is None:
            raise OMLError(
                "extension \"oml_store\" is not installed in database"
                " \"%s\"" % dbname,
                sqlstate="58P01",
                hint="Run CREATE EXTENSION oml_store in that database.")
        check_extension_version(extversion, dbname)
        return extversion

    def is_alive(self):
        """Whether the connection is open and answers a query."""
        if self._conn.closed:
            return False
        try:
            with self.transaction():
                self.query("SELECT 1")
        except OMLError:
            return False
        return True

    def close(self):
        """Close the connection if oml_store opened it."""
        if self._owned and not self._conn.closed:
            self._conn.close()
