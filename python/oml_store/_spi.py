"""The backend used inside the server: SQL through SPI, as the calling role.

Embedded Python (see ``_runtime``) makes this the backend of the ``oml``
module, so scripts use the same API as the client, with the same rules,
which the extension's SQL functions enforce.
"""

import contextlib
import functools
import re

import _oml  # provided by the extension's C code, only inside the server

from ._backend import Backend
from ._errors import OMLError

__all__ = ["SpiBackend"]

_PLACEHOLDER = re.compile(r"%(s|%)")

# Rewritten statements kept per backend (an LRU: scripts may run any number
# of distinct statements); longer ones are rewritten every time.
_CACHE_SIZE = 256
_CACHE_MAX_SQL = 8192


def _dollar(sql, params):
    """The statement as SPI takes it: with parameters, psycopg-style %s
    placeholders as $1, $2, ... and %% as %, as psycopg2 does; without
    parameters, unchanged (as psycopg2 leaves it), so a %s or %% in a
    literal stays as written."""
    if not params:
        return sql
    if len(sql) > _CACHE_MAX_SQL:
        return _to_dollar(sql)
    return _cached_to_dollar(sql)


def _to_dollar(sql):
    """Rewrite psycopg-style %s placeholders (and %%) as $1, $2, ..."""
    counter = [0]

    def repl(match):
        if match.group(1) == "%":
            return "%"
        counter[0] += 1
        return "$%d" % counter[0]

    return _PLACEHOLDER.sub(repl, sql)


_cached_to_dollar = functools.lru_cache(maxsize=_CACHE_SIZE)(_to_dollar)


def _array_literal(values):
    """A PostgreSQL array literal for a list of strings (or None)."""
    parts = []
    for v in values:
        if v is None:
            parts.append("NULL")
        else:
            s = str(v).replace("\\", "\\\\").replace('"', '\\"')
            parts.append('"%s"' % s)
    return "{" + ",".join(parts) + "}"


def _adapt(value):
    """A parameter as _oml.execute takes it."""
    if isinstance(value, (list, tuple)):
        return _array_literal(value)
    return value


def _translate(exc):
    """An OMLError for an SPIError, keeping its SQLSTATE."""
    return OMLError(str(exc.args[0]) if exc.args else "SQL error",
                    sqlstate=getattr(exc, "sqlstate", None),
                    detail=getattr(exc, "detail", None),
                    hint=getattr(exc, "hint", None))


class SpiBackend(Backend):
    """Runs SQL through SPI in the current transaction.

    Each statement runs in its own subtransaction, so an SQL error becomes an
    :class:`OMLError` the script can catch.  :meth:`transaction` opens a
    subtransaction around a block, so a save commits or rolls back whole.
    """

    @staticmethod
    def _execute(sql, params, pinned):
        try:
            _, rows = _oml.execute(_dollar(sql, params),
                                   [_adapt(p) for p in params], pinned)
        except _oml.SPIError as exc:
            raise _translate(exc) from None
        return rows

    def query(self, sql, params=()):
        """Run one of the package's own statements; return its rows as a
        list of tuples.  It runs with search_path pg_catalog, pg_temp, so
        nothing the calling role defines can change what it means."""
        return self._execute(sql, params, True)

    def query_as_caller(self, sql, params=()):
        """Run a statement with the calling role's own settings (a pyq*
        call, whose input query is the caller's); rows as for query."""
        return self._execute(sql, params, False)

    def load_objects(self, name, owner, names, unpickle=None, version=None, alias=None):
        """[(name, bytes, compression)] of a datastore's objects (of a kept
        version when version or alias is given): read by the extension,
        which refuses objects not written by trusted roles.  With unpickle,
        [(name, unpickle(fill, compression))], fill(buffer) reading the
        object's bytes chunk by chunk as they are needed."""
        try:
            if version is None and alias is None:
                return _oml.load_objects(name, owner, names, unpickle)
            return _oml.load_objects(name, owner, names, unpickle, version or 0, alias)
        except _oml.SPIError as exc:
            raise _translate(exc) from None

    def query_columns(self, sql, params=()):
        """Run a query; return its result as columns (see _runtime)."""
        try:
            return _oml.query_columns(_dollar(sql, params),
                                      [_adapt(p) for p in params])
        except _oml.SPIError as exc:
            raise _translate(exc) from None

    @contextlib.contextmanager
    def transaction(self, snapshot=False):
        """A subtransaction: the block's statements commit or roll back
        together (the surrounding statement's transaction decides the rest)."""
        _oml.subxact("begin")
        try:
            yield
        except BaseException:
            _oml.subxact("rollback")
            raise
        try:
            _oml.subxact("commit")
        except _oml.SPIError as exc:
            raise _translate(exc) from None

    def is_alive(self):
        """The server is always there for code running inside it."""
        return True

    def close(self):
        """Nothing to close."""
