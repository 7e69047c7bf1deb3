"""oml_store: Python objects stored in PostgreSQL, shared through roles.

The client API of the ``oml_store`` PostgreSQL extension, after Oracle
Machine Learning for Python (OML4Py)::

    import oml_store as oml

    oml.connect(host="db", user="alice", dbname="work")   # psycopg2 arguments
    oml.ds.save({"model": model, "train": df}, "ds1", description="first try",
                grantable=True)
    oml.grant("ds1", user="bob")
    oml.ds.dir()                      # pandas DataFrame of own datastores
    oml.ds.describe("ds1")
    oml.ds.load("ds1")                # binds model and train in globals()
    oml.ds.delete("ds1")
    oml.disconnect()

``oml.ds.save`` and ``oml.ds.load`` show a progress bar in interactive use
(or with ``progress=True``); ``graphics=True`` runs return
:class:`GraphicsResult` objects that Jupyter displays as pictures.
:func:`connect` refuses a database whose extension version this client
does not support (``__version__`` is the extension version it belongs to).

Objects are pickled and unpickled here; the server stores bytes.  Every
rule (names, privileges, overwrite/append, grants) is the server's.  Errors
the server reports are :class:`OMLError` (with ``.sqlstate``); errors found
before reaching it are ``TypeError`` / ``ValueError``.
"""

#: The client's version; equal to the extension's default_version (the one
#: source of it: python/pyproject.toml reads it from here).
__version__ = "0.3.0"

from . import ds
from . import script
from ._connection import connect, disconnect, isconnected
from ._errors import OMLError
from ._eval import do_eval, table_apply, row_apply, group_apply, index_apply
from ._graphics import GraphicsResult, Image
from ._jobs import Job
from ._grant import grant, revoke
from ._sql import sql

OMLError.__module__ = __name__          # shown as oml_store.OMLError

__all__ = ["connect", "disconnect", "isconnected", "ds", "grant", "revoke",
           "OMLError", "script", "do_eval", "table_apply", "row_apply",
           "group_apply", "index_apply", "sql", "GraphicsResult", "Image", "Job",
           "__version__"]
