"""oml.do_eval, oml.table_apply, oml.row_apply, oml.group_apply, oml.index_apply.

Embedded Python execution from Python: the function runs in the database
server, next to the data, through the extension's ``pyq*`` SQL functions,
and its result comes back as a Python object (pickled in the server with
out_fmt ``'PICKLE'``, unpickled here).

``func`` is one of:

- the name of a stored script (a str; with ``func_owner`` another role's
  readable script, or with ``func_owner='PYQSYS'`` the global script of
  that name), which any role that can read it may run;
- the source of one function (a str containing a newline, or starting
  with ``def``, or a text file-like object holding it, such as
  ``oml.script.load(name).get_source()``), a function object (its source
  is sent), or a script loaded with ``oml.script.load`` (its source as
  loaded is sent).  It runs as a
  temporary private script created, run and rolled back in one
  transaction, so nothing stays behind; like creating a script, this is
  allowed only to members of ``oml_developer`` and superusers.

Keyword arguments are passed to the function through ``par_lst`` (so they
must be JSON-serialisable); ``oml_*`` keywords are controls passed as they
are, e.g. ``oml_input_type='pandas.DataFrame'`` or ``oml_na_omit=True``.
"""

from __future__ import annotations

import json
import pickle
import uuid
from typing import Any, Optional, Sequence, Union

from . import _unpickler
from . import script as _script
from ._backend import get_backend
from ._errors import OMLError
from ._graphics import GraphicsResult, Image
from ._jobs import Job

from .script import Func

__all__ = ["do_eval", "table_apply", "row_apply", "group_apply",
           "index_apply", "GraphicsResult", "Image", "Job"]

_TEMP_PREFIX = "oml_tmp_"


class _Rollback(Exception):
    """Raised to roll back the transaction of a temporary script."""


# -- arguments ----------------------------------------------------------------

def _is_source(text):
    """Whether a func str is source (else a script name).  Script names
    cannot hold newlines; a one-line source starts with def."""
    return "\n" in text or text.lstrip().startswith("def ")


def _json_default(value):
    item = getattr(value, "item", None)
    if item is not None and getattr(value, "shape", None) == ():
        return item()               # a NumPy scalar
    raise TypeError("keyword argument values must be JSON-serialisable;"
                    " %s is not" % type(value).__name__)


def _par_lst(kwargs, graphics, async_mode=False, parallel=None):
    if not isinstance(graphics, bool):
        raise TypeError("graphics must be a bool, not %s"
                        % type(graphics).__name__)
    if not isinstance(async_mode, bool):
        raise TypeError("async_mode must be a bool, not %s"
                        % type(async_mode).__name__)
    if "oml_graphics_flag" in kwargs:
        raise TypeError("pass graphics=True instead of oml_graphics_flag")
    if "oml_async_flag" in kwargs:
        raise TypeError("pass async_mode=True instead of oml_async_flag")
    params = dict(kwargs)
    if graphics:
        params["oml_graphics_flag"] = True
    if async_mode:
        params["oml_async_flag"] = True
    params.update(_parallel(parallel))
    try:
        return json.dumps(params, default=_json_default)
    except ValueError as exc:       # circular references
        raise TypeError("keyword arguments cannot be sent as JSON: %s"
                        % exc) from None


def _parallel(parallel):
    """The controls for OML4Py's ``parallel`` argument: None, False or 0
    for serial, True for the server's default degree, an int >= 1 for
    that degree (the calling backend and its parallel workers)."""
    if parallel is None or parallel is False:
        return {}
    if parallel is True:
        return {"oml_parallel_flag": True}
    if not isinstance(parallel, int):
        raise TypeError("parallel must be a bool, an int or None, not %s"
                        % type(parallel).__name__)
    if parallel < 0:
        raise ValueError("parallel must not be negative, not %d" % parallel)
    if parallel == 0:
        return {}
    return {"oml_parallel_flag": True, "oml_parallel_degree": parallel}


def _columns(value, what, optional=False):
    """A column name or list of names as a grp_col / ord_col list:
    comma-separated quoted identifiers, so names match exactly."""
    if value is None and optional:
        return None
    names = [value] if isinstance(value, str) else value
    if not isinstance(names, (list, tuple)) or not names:
        raise TypeError("%s must be a column name or a non-empty list of"
                        " them, not %s" % (what, type(value).__name__))
    for n in names:
        if not isinstance(n, str):
            raise TypeError("%s must contain only str, not %s"
                            % (what, type(n).__name__))
        if not n:
            raise ValueError("%s must not contain an empty column name"
                             % what)
    return ", ".join('"%s"' % n.replace('"', '""') for n in names)


def _check_int(value, what):
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError("%s must be an int, not %s"
                        % (what, type(value).__name__))
    return value


def _check_data(data):
    if not isinstance(data, str):
        raise TypeError("data must be a table or view name or a SELECT"
                        " query (a str), not %s" % type(data).__name__)


# -- running --------------------------------------------------------------------

def _run(func, func_owner, sql, params, async_mode=False):
    """Run sql, whose last two placeholders are the script name and owner,
    with params before them; return its (name, image) rows, or with
    async_mode the submitted job's id."""
    if func_owner is not None and not isinstance(func_owner, str):
        raise TypeError("func_owner must be a str or None, not %s"
                        % type(func_owner).__name__)
    if async_mode:
        if not isinstance(func, str) or _is_source(func):
            raise ValueError("async_mode=True needs a stored script's name as"
                             " func: a job runs later, in another session,"
                             " where a temporary script does not exist")
        backend = get_backend()
        with backend.transaction():
            rows = backend.query_as_caller(
                sql.replace("SELECT name, image, title", "SELECT id, value", 1),
                params + (func, func_owner))
        return json.loads(rows[0][1])["job_id"]
    if isinstance(func, str) and not _is_source(func):
        backend = get_backend()
        with backend.transaction():
            return backend.query_as_caller(sql, params + (func, func_owner))

    source = _script._source_of(func)
    if func_owner is not None:
        raise ValueError("func_owner applies only when func names a stored"
                         " script")
    name = _TEMP_PREFIX + uuid.uuid4().hex
    backend = get_backend()
    rows = None
    try:
        with backend.transaction():
            backend.query("SELECT oml.pyqScriptCreate(%s, %s, false, false)",
                          (name, source))
            rows = backend.query_as_caller(sql, params + (name, None))
            # Dropped as well as rolled back: nothing stays even when this
            # block joined an enclosing backend.transaction(), which
            # _Rollback does not end.  Other sessions never see the script.
            backend.query("SELECT oml.pyqScriptDrop(%s, false, true)",
                          (name,))
            raise _Rollback
    except _Rollback:
        pass
    return rows


# The title the server gives a PICKLE row that a sandboxed script made: its
# bytes come from the sandbox, that is from code of a role this client need
# not trust, so they are unpickled with the restricted unpickler.
_SANDBOXED = "sandboxed"


def _unpack(image, graphics, title=None):
    if image is None:
        raise OMLError("the server returned no result for the script",
                       sqlstate="XX000")
    if title == _SANDBOXED:
        result, figures = _unpickler.loads(image)
    else:
        result, figures = pickle.loads(image)
    if graphics:
        return GraphicsResult(result, [(title, bytes(png))
                                       for _, title, png in figures])
    return result


def _row_unpack(row, graphics):
    """_unpack of a (name, image[, title]) row."""
    return _unpack(row[1], graphics, row[2] if len(row) > 2 else None)


def _single(rows, graphics):
    if len(rows) != 1:
        raise OMLError("the server returned %d results instead of one"
                       % len(rows), sqlstate="XX000")
    return _row_unpack(rows[0], graphics)


def _numbered(rows, graphics):
    return [_row_unpack(row, graphics)
            for row in sorted(rows, key=lambda r: int(r[0]))]


def _grouped(rows, graphics):
    return {row[0]: _row_unpack(row, graphics) for row in rows}


# -- the API --------------------------------------------------------------------

def do_eval(func: Func, func_owner: Optional[str] = None,
            graphics: bool = False, *, async_mode: bool = False,
            **kwargs: Any) -> Any:
    """Run a function in the database server and return its result.

    Parameters
    ----------
    func : str or function
        A stored script's name, the source of a function, or a function
        (see the module documentation).
    func_owner : str, optional
        The role owning the script ``func`` names (when it is not the
        current role's own or a global one); ``'PYQSYS'`` (any case): the
        global script of that name.  Only with a script name.
    graphics : bool, default False
        Capture the matplotlib figures the function draws: the result is
        then a :class:`GraphicsResult`, which Jupyter displays as the
        pictures and whose ``save(path)`` writes them to PNG files.
    async_mode : bool, default False
        Submit the call as an async job (OML4Py's ``oml_async_flag``) and
        return at once a :class:`Job`, whose ``result()`` gives what the
        call would have returned.  ``func`` must name a stored script.
        The job runs in a background worker as the current role once the
        current transaction commits.
    **kwargs
        Keyword arguments of the function (JSON-serialisable values), and
        ``oml_*`` controls.

    Returns
    -------
    object
        What the function returned; with ``graphics=True`` a
        :class:`GraphicsResult` holding it and the figures; with
        ``async_mode=True`` a :class:`Job`.

    Raises
    ------
    TypeError, ValueError
        An argument is unusable (see :func:`oml.script.create` for
        function objects).
    OMLError
        From the server: the script does not exist (SQLSTATE 42883) or is
        not readable (42501); a temporary script is refused to a role that
        is not a member of ``oml_developer`` (42501) or its source is
        invalid (42P13); the function raised (38000, with the traceback in
        ``detail``); the statement was cancelled (57014).
    """
    rows = _run(func, func_owner,
                "SELECT name, image, title FROM oml.pyqEval(%s::pg_catalog.text,"
                " 'PICKLE'::pg_catalog.text, %s::pg_catalog.text, %s::pg_catalog.text)",
                (_par_lst(kwargs, graphics, async_mode),), async_mode)
    if async_mode:
        return Job(rows, _single, graphics)
    return _single(rows, graphics)


def table_apply(data: str, func: Func, func_owner: Optional[str] = None,
                graphics: bool = False, *, async_mode: bool = False,
            **kwargs: Any) -> Any:
    """Run a function on a whole table or query result in the server.

    Parameters
    ----------
    data : str
        A table or view name (schema-qualified allowed) or a SELECT query;
        it is read as the current role.  The function gets it as its first
        argument: per ``oml_input_type`` a pandas DataFrame, a NumPy
        recarray or (``'default'``) a 2-D float ndarray when every column is
        numeric, else a DataFrame.
    func, func_owner, graphics, async_mode, **kwargs
        As for :func:`do_eval` (``async_mode=True``: a :class:`Job`).

    Returns
    -------
    object
        What the function returned (a :class:`GraphicsResult` with
        ``graphics=True``).

    Raises
    ------
    As :func:`do_eval`; and OMLError when ``data`` names no table (42P01)
    or is an invalid query.
    """
    _check_data(data)
    rows = _run(func, func_owner,
                "SELECT name, image, title FROM oml.pyqTableEval(%s::pg_catalog.text, %s::pg_catalog.text,"
                " 'PICKLE'::pg_catalog.text, %s::pg_catalog.text, %s::pg_catalog.text)",
                (data, _par_lst(kwargs, graphics, async_mode)), async_mode)
    if async_mode:
        return Job(rows, _single, graphics)
    return _single(rows, graphics)


def row_apply(data: str, func: Func, func_owner: Optional[str] = None,
              rows: int = 1, graphics: bool = False,
              parallel: Union[bool, int, None] = None, *,
              async_mode: bool = False, **kwargs: Any) -> list[Any]:
    """Run a function on chunks of rows of a table or query result.

    Parameters
    ----------
    data : str
        A table or view name or a SELECT query (see :func:`table_apply`).
    func, func_owner, graphics, async_mode, **kwargs
        As for :func:`do_eval` (``async_mode=True``: a :class:`Job`).
    rows : int, default 1
        The most rows per chunk (positive).
    parallel : bool or int, optional
        Run the chunks in several server processes at once: True for the
        server's default degree (``max_parallel_workers_per_gather`` + 1),
        an int for that many processes; None, False or 0 run serially.
        The results are the same, in the same order.

    Returns
    -------
    list
        One result per chunk, in the order of the input.
    """
    _check_data(data)
    _check_int(rows, "rows")
    out = _run(func, func_owner,
               "SELECT name, image, title FROM oml.pyqRowEval(%s::pg_catalog.text, %s::pg_catalog.text,"
               " 'PICKLE'::pg_catalog.text, %s::pg_catalog.int4, %s::pg_catalog.text, %s::pg_catalog.text)",
               (data, _par_lst(kwargs, graphics, async_mode, parallel), rows), async_mode)
    if async_mode:
        return Job(out, _numbered, graphics)
    return _numbered(out, graphics)


def group_apply(data: str, index: Union[str, Sequence[str]], func: Func,
                func_owner: Optional[str] = None,
                orderby: Union[str, Sequence[str], None] = None,
                graphics: bool = False,
                parallel: Union[bool, int, None] = None, *,
                async_mode: bool = False,
                **kwargs: Any) -> dict[Optional[str], Any]:
    """Run a function on each group of rows of a table or query result.

    Parameters
    ----------
    data : str
        A table or view name or a SELECT query (see :func:`table_apply`).
    index : str or list of str
        The column(s) whose values form the groups, named exactly.
    func, func_owner, graphics, async_mode, **kwargs
        As for :func:`do_eval` (``async_mode=True``: a :class:`Job`).
    orderby : str or list of str, optional
        The column(s) ordering the rows within each group.
    parallel : bool or int, optional
        Run the groups in several server processes at once (see
        :func:`row_apply`).

    Returns
    -------
    dict
        Group key to result, in the order of the groups (``index`` order,
        NULLs last).  The key is the text of the group's value (None for
        NULL); for several columns a row literal such as ``'(a,"b,c")'``
        (a NULL leaves its place empty), so distinct groups never share a
        key.
    """
    _check_data(data)
    grp_col = _columns(index, "index")
    ord_col = _columns(orderby, "orderby", optional=True)
    out = _run(func, func_owner,
               "SELECT name, image, title FROM oml.pyqGroupEval(%s::pg_catalog.text, %s::pg_catalog.text,"
               " 'PICKLE'::pg_catalog.text, %s::pg_catalog.text, %s::pg_catalog.text, %s::pg_catalog.text, %s::pg_catalog.text)",
               (data, _par_lst(kwargs, graphics, async_mode, parallel), grp_col, ord_col),
               async_mode)
    if async_mode:
        return Job(out, _grouped, graphics)
    return _grouped(out, graphics)


def index_apply(times: int, func: Func, func_owner: Optional[str] = None,
                graphics: bool = False,
                parallel: Union[bool, int, None] = None, *,
                async_mode: bool = False,
                **kwargs: Any) -> list[Any]:
    """Run a function ``times`` times, with 1, 2, ... ``times`` as its first
    argument.

    Parameters
    ----------
    times : int
        How many times (positive).
    parallel : bool or int, optional
        Run the calls in several server processes at once (see
        :func:`row_apply`).
    func, func_owner, graphics, async_mode, **kwargs
        As for :func:`do_eval` (``async_mode=True``: a :class:`Job`).

    Returns
    -------
    list
        The results, for 1 to ``times`` in order.
    """
    _check_int(times, "times")
    out = _run(func, func_owner,
               "SELECT name, image, title FROM oml.pyqIndexEval(%s::pg_catalog.text,"
               " 'PICKLE'::pg_catalog.text, %s::pg_catalog.int4, %s::pg_catalog.text, %s::pg_catalog.text)",
               (_par_lst(kwargs, graphics, async_mode, parallel), times), async_mode)
    if async_mode:
        return Job(out, _numbered, graphics)
    return _numbered(out, graphics)
