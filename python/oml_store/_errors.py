"""Exceptions and warnings of oml_store.

Errors detected by the server (the extension's SQL functions, which hold the
rules) are raised as :class:`OMLError`, carrying the server's message and its
SQLSTATE.  Errors detected in Python before anything reaches the server are
the usual built-in exceptions:

* ``TypeError``  -- an argument of the wrong type (e.g. ``objs`` not a dict,
  a name that is not a ``str``, a flag that is not a ``bool``);
* ``ValueError`` -- an argument of the right type with an unusable value
  (e.g. an empty ``objs`` dict);
* ``KeyError``   -- not raised for datastore or object names: whether they
  exist is the server's business, so an unknown datastore or object is an
  :class:`OMLError` with SQLSTATE ``42704``.

Pickling and unpickling errors (``pickle.PicklingError``, ``TypeError``,
``AttributeError``, ...) propagate unchanged; the transaction they happened
in is rolled back first.
"""

import sys
import warnings

__all__ = ["OMLError"]

_PACKAGE = __name__.rpartition(".")[0]


class OMLError(Exception):
    """An error reported by the database (or by the connection to it).

    Attributes
    ----------
    message : str
        The server's primary message, e.g. ``datastore "x" already exists``.
    sqlstate : str or None
        The five-character SQLSTATE, e.g. ``'42710'``; ``None`` when the
        error has none (e.g. a connection that could not be opened).
    detail, hint : str or None
        The server's DETAIL and HINT fields, when it sent them.

    ``str(error)`` is the message followed by ``DETAIL:`` and ``HINT:``
    lines, as psql shows them.
    """

    def __init__(self, message, sqlstate=None, detail=None, hint=None):
        self.message = message
        self.sqlstate = sqlstate
        self.detail = detail
        self.hint = hint
        super().__init__(message)

    def __str__(self):
        text = self.message
        if self.detail:
            text += "\nDETAIL:  " + self.detail
        if self.hint:
            text += "\nHINT:  " + self.hint
        return text

    def __repr__(self):
        return "OMLError(%r, sqlstate=%r)" % (self.message, self.sqlstate)


def _internal(module):
    return (module == _PACKAGE or module.startswith(_PACKAGE + ".")
            or module == "contextlib")


def warn(message):
    """Issue a UserWarning attributed to the first caller outside oml_store."""
    level = 2                   # 1 would be this function itself
    frame = sys._getframe(1)
    while frame is not None and _internal(frame.f_globals.get("__name__", "")):
        frame = frame.f_back
        level += 1
    warnings.warn(message, UserWarning, stacklevel=level)
