"""oml.script: the script repository.

A script is the source of one Python function, stored in the database under
a name.  Private scripts belong to the role that created them and can be
shared with :func:`oml.grant` (``typ='pyqscript'``); global scripts share
one namespace and everyone may read and run them.  Scripts are run next to
the data by :func:`oml.do_eval`, :func:`oml.table_apply` and the other
``*_apply`` functions, or from SQL by ``oml.pyqEval`` and its family.

Only members of the role ``oml_developer`` and superusers create scripts
(the server refuses others with SQLSTATE 42501).  The rules (names,
overwrite, privileges, checking the source) are the server's: these
functions check argument types and leave everything else to the extension's
SQL functions.  The module works the same in a client and, imported as
``oml``, inside a script running in the server.
"""

from __future__ import annotations

import ast
import builtins
import dis
import inspect
import io
import linecache
import textwrap
import types
from typing import IO, TYPE_CHECKING, Any, Callable, Optional, Union

from ._backend import get_backend
from ._errors import OMLError, warn
from ._checks import check_bool, check_str

if TYPE_CHECKING:
    import pandas

__all__ = ["create", "load", "dir", "drop", "ScriptFunction", "Func",
           "versions", "set_alias", "drop_alias", "drop_version"]

#: What a ``func`` argument may be: a script name or source (str), a
#: function (or a script loaded with :func:`load`), or a text file-like
#: object holding source.
Func = Union[str, Callable[..., Any], IO[str]]

_DIR_ALL_COLUMNS = ("owner", "name", "script", "description", "date",
                    "grantee")
_DIR_COLUMNS = {
    "user": ("name", "script", "description", "date"),
    "global": ("name", "script", "description", "date"),
    "all": ("owner", "name", "script", "description", "date"),
    "grant": ("name", "grantee"),
}


# -- the source of a function ---------------------------------------------------

def _global_names(code):
    """Names a code object (and the code nested in it) reads as globals."""
    names = set()
    for ins in dis.get_instructions(code):
        if ins.opname == "LOAD_GLOBAL":
            names.add(ins.argval)
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            names |= _global_names(const)
    return names


def _function_source(func):
    """The dedented source of a function object, for storing as a script."""
    name = getattr(func, "__name__", "?")
    if name == "<lambda>":
        raise ValueError("func is a lambda: a script must be a function"
                         " defined with def (or its source as a str)")
    try:
        source = inspect.getsource(func)
    except (OSError, TypeError) as exc:
        raise ValueError("the source of function %r is not available (%s);"
                         " pass its source as a str instead" % (name, exc)) \
            from None
    source = textwrap.dedent(source)
    if not source.endswith("\n"):
        source += "\n"
    try:
        tree = ast.parse(source)
    except SyntaxError as exc:
        raise ValueError("the source of function %r cannot be compiled on its"
                         " own (%s); pass its source as a str instead"
                         % (name, exc.msg)) from None
    defs = [n for n in tree.body
            if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))]
    if len(tree.body) != 1 or len(defs) != 1 or defs[0].name != name:
        raise ValueError("the source of function %r is not one function"
                         " definition; pass its source as a str instead"
                         % name)
    if defs[0].decorator_list:
        raise ValueError("function %r is decorated: the stored script would"
                         " run its decorators in the server; pass the source"
                         " of an undecorated function instead" % name)
    code = func.__code__
    if code.co_freevars:
        raise ValueError("function %r uses variables of an enclosing function"
                         " (%s), which a stored script cannot see; pass them"
                         " as keyword arguments instead"
                         % (name, ", ".join(code.co_freevars)))
    missing = sorted(n for n in _global_names(code)
                     if n != name and not hasattr(builtins, n))
    if missing:
        warn("function %r uses the global name%s %s of its module, which the"
             " script will not have in the server; import or define %s inside"
             " the function" % (name, "s" if len(missing) > 1 else "",
                                ", ".join(missing),
                                "them" if len(missing) > 1 else "it"))
    return source


def _source_of(func):
    """The source to store for func: a function object, a source str, a
    file-like object holding the source (read from where it stands, as
    ``get_source()`` of a loaded script gives), or a loaded script."""
    if isinstance(func, ScriptFunction):
        func = func._source
    elif not isinstance(func, (str, types.FunctionType)) and \
            callable(getattr(func, "read", None)):
        text = func.read()
        if not isinstance(text, str):
            raise TypeError("a file-like func must be opened in text mode:"
                            " its read() returned %s, not str"
                            % type(text).__name__)
        func = text
    if isinstance(func, str):
        if not func.strip():
            raise ValueError("func must not be an empty source string")
        return func
    if isinstance(func, types.FunctionType):
        return _function_source(func)
    raise TypeError("func must be a function, its source as a str or a"
                    " text file-like object, or a loaded script, not %s"
                    % type(func).__name__)


# -- create, drop ---------------------------------------------------------------

def create(name: str, func: Func, is_global: bool = False,
           overwrite: bool = False, *, sandbox: bool = False) -> None:
    """Create a script in the script repository.

    Parameters
    ----------
    name : str
        Name of the script (1 to 128 characters, no control characters, no
        leading or trailing space).
    func : function, str, file-like object or ScriptFunction
        The function to store (its source is sent, dedented; it must be a
        function defined with ``def``, not a lambda, not decorated, without
        variables of an enclosing function), or the source of one function
        as a str (imports may stand beside it), or a text file-like object
        holding such source (read from its current position, e.g. what
        ``oml.script.load(name).get_source()`` returns), or a script loaded
        with :func:`load` (its stored source).
    is_global : bool, default False
        Create a global script, which every role can read and run, instead
        of a private one.
    overwrite : bool, default False
        Replace a script of that name (a global one only by its creator or a
        superuser).
    sandbox : bool, default False
        Create a sandboxed script, which always runs in the sandbox, an
        isolated process (members of ``oml_sandbox_user`` may create only
        these; see the README, Sandbox).

    Returns
    -------
    None

    Raises
    ------
    TypeError
        ``name`` is not a str, ``func`` none of the above (or a file-like
        object whose ``read()`` does not return a str), or a flag not a
        bool.
    ValueError
        ``func`` is a lambda, a decorated or nested function, or a function
        whose source is not available; or an empty str.
    OMLError
        From the server: the script exists and ``overwrite`` is not set
        (SQLSTATE 42710); the source is not one function, with its line in
        the message (42P13); the current role may not create scripts (it
        must be a member of ``oml_developer``: 42501).

    A function that uses global names of its module (modules imported at
    the top of a notebook, for instance) gets a ``UserWarning``: the script
    runs in the server without them.
    """
    check_str(name, "name")
    source = _source_of(func)
    check_bool(is_global, "is_global")
    check_bool(overwrite, "overwrite")
    check_bool(sandbox, "sandbox")
    backend = get_backend()
    with backend.transaction():
        if sandbox:
            backend.query("SELECT oml.pyqScriptCreate(%s, %s, %s, %s,"
                          " v_sandbox => true)",
                          (name, source, is_global, overwrite))
        else:
            backend.query("SELECT oml.pyqScriptCreate(%s, %s, %s, %s)",
                          (name, source, is_global, overwrite))


def drop(name: str, is_global: bool = False, silent: bool = False) -> None:
    """Drop a script from the script repository.

    Parameters
    ----------
    name : str
        Name of the script.
    is_global : bool, default False
        Drop the global script of that name instead of the current role's
        private one.  A global script can be dropped only by its creator or
        a superuser.
    silent : bool, default False
        Do nothing when the script does not exist, instead of raising.

    Returns
    -------
    None

    Raises
    ------
    TypeError
        An argument has the wrong type.
    OMLError
        From the server: the script does not exist and ``silent`` is not set
        (SQLSTATE 42704), or the global script is another role's (42501).
    """
    check_str(name, "name")
    check_bool(is_global, "is_global")
    check_bool(silent, "silent")
    backend = get_backend()
    with backend.transaction():
        backend.query("SELECT oml.pyqScriptDrop(%s, %s, %s)",
                      (name, is_global, silent))


# -- registry: versions and aliases (not in OML4Py) ------------------------------

def _check_int(value, what, optional=False):
    if (value is None and optional) or (isinstance(value, int)
                                        and not isinstance(value, bool)):
        return
    raise TypeError("%s must be an int%s, not %s"
                    % (what, " or None" if optional else "",
                       type(value).__name__))


def versions(name: Optional[str] = None) -> pandas.DataFrame:
    """List the kept versions of the scripts the current role may read.

    Every overwrite of a script keeps the previous source as a version
    (1, 2, 3, ...); run or load one as ``'name@3'``, or through an alias
    as ``'name@prod'``.  Not in OML4Py.

    Parameters
    ----------
    name : str, optional
        Only the versions of scripts of this name.

    Returns
    -------
    pandas.DataFrame
        Columns ``name, owner, version, created, creator, description,
        source_hash, is_current, aliases``, by owner, name and version.
    """
    import pandas as pd

    check_str(name, "name", optional=True)
    backend = get_backend()
    with backend.transaction():
        rows = backend.query(
            "SELECT name, owner, version, created, creator, description,"
            " source_hash, is_current, aliases FROM oml.script_versions"
            " WHERE %s::pg_catalog.text IS NULL"
            " OR name OPERATOR(pg_catalog.=) %s::pg_catalog.text"
            " ORDER BY owner COLLATE \"C\", name COLLATE \"C\", version",
            (name, name))
    return pd.DataFrame.from_records(
        [tuple(r) for r in rows],
        columns=["name", "owner", "version", "created", "creator",
                 "description", "source_hash", "is_current", "aliases"])


def set_alias(name: str, alias: str, version: Optional[int] = None,
              is_global: bool = False) -> int:
    """Point an alias of one of the current role's scripts at a version.

    Sets the alias, or moves it when it exists, in one transaction.  Not
    in OML4Py.

    Parameters
    ----------
    name : str
        Name of the script (the current role's private one, or with
        ``is_global`` a global one it created).
    alias : str
        The alias: an ASCII letter or ``_`` first, then letters, digits,
        ``_``, ``-`` and ``.``.
    version : int, optional
        The version; the current one by default.
    is_global : bool, default False

    Returns
    -------
    int
        The version the alias now names.

    Raises
    ------
    OMLError
        From the server: the script is not the current role's (42704 /
        42501), the version does not exist (42704), the alias is invalid
        (42602).
    """
    check_str(name, "name")
    check_str(alias, "alias")
    _check_int(version, "version", optional=True)
    check_bool(is_global, "is_global")
    backend = get_backend()
    with backend.transaction():
        [[got]] = backend.query(
            "SELECT oml.script_alias_set(%s, %s, %s, %s)",
            (name, alias, version, is_global))
    return got


def drop_alias(name: str, alias: str, is_global: bool = False,
               silent: bool = False) -> None:
    """Drop an alias of one of the current role's scripts.  Not in OML4Py.

    Raises
    ------
    OMLError
        From the server: no such alias (42704) unless ``silent``.
    """
    check_str(name, "name")
    check_str(alias, "alias")
    check_bool(is_global, "is_global")
    check_bool(silent, "silent")
    backend = get_backend()
    with backend.transaction():
        backend.query("SELECT oml.script_alias_drop(%s, %s, %s, %s)",
                      (name, alias, is_global, silent))


def drop_version(name: str, version: int, is_global: bool = False) -> None:
    """Drop one kept version of one of the current role's scripts.

    Not in OML4Py.

    Raises
    ------
    OMLError
        From the server: the version is current (55006), an alias names
        it (2BP01), or it does not exist (42704).
    """
    check_str(name, "name")
    _check_int(version, "version")
    check_bool(is_global, "is_global")
    backend = get_backend()
    with backend.transaction():
        backend.query("SELECT oml.script_version_drop(%s, %s, %s)",
                      (name, version, is_global))


# -- load -----------------------------------------------------------------------

class ScriptFunction:
    """A script loaded with :func:`oml.script.load`: call it like the function.

    Attributes
    ----------
    name : str
        The script's name.
    owner : str or None
        The owner given to :func:`load` (None: the current role's own
        script, or else the global one).
    __wrapped__ : function
        The compiled function, so that ``inspect.signature`` works.
    """

    def __init__(self, name: str, owner: Optional[str], source: str,
                 func: Callable[..., Any]) -> None:
        self.name = name
        self.owner = owner
        self._source = source
        self.__wrapped__ = func
        self.__name__ = func.__name__
        self.__qualname__ = func.__qualname__
        self.__doc__ = func.__doc__

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        """Run the function here, in this Python."""
        return self.__wrapped__(*args, **kwargs)

    def get_source(self) -> io.StringIO:
        """The script's source, as stored, as a new :class:`io.StringIO`
        (as OML4Py: ``get_source().read()`` gives the text)."""
        return io.StringIO(self._source)

    def __repr__(self):
        return "<oml script %r%s: function %s>" % (
            self.name, "" if self.owner is None else " of %r" % self.owner,
            self.__name__)


def _compile(name, source):
    """The function defined by a script's source, compiled here."""
    filename = "<oml script %s>" % name
    tree = ast.parse(source, filename)
    defs = [n for n in tree.body
            if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))]
    if len(defs) != 1:
        raise OMLError("script \"%s\" does not define exactly one function"
                       % name, sqlstate="42P13")
    # Tracebacks and inspect.getsource show the script's lines.
    linecache.cache[filename] = (len(source), None,
                                 source.splitlines(True), filename)
    namespace = {"__name__": "oml_script_" + name, "__builtins__": builtins}
    exec(compile(tree, filename, "exec"), namespace)
    return namespace[defs[0].name]


def load(name: str, owner: Optional[str] = None) -> ScriptFunction:
    """Load a script from the script repository as a callable.

    Parameters
    ----------
    name : str
        Name of the script.  Without ``owner``: the current role's private
        script of that name, else the global one.  ``'name@3'`` loads
        version 3, ``'name@prod'`` the version alias ``prod`` names (see
        :func:`versions`).
    owner : str, optional
        Role that owns the script; its script must be readable (granted to
        the current role, directly, through a group role or to PUBLIC).
        ``'PYQSYS'`` (any case) means the global script of that name, as
        ``oml.script.dir(sctype='all')`` lists it, even if a role of that
        name exists.

    Returns
    -------
    ScriptFunction
        A callable that runs the function here, in this Python; its
        ``get_source()`` returns the source as a file-like object
        (:class:`io.StringIO`, a new one each call), as in OML4Py.  The source is compiled and its
        top level (the ``def``, and any imports beside it) is run here.

    Raises
    ------
    TypeError
        An argument has the wrong type.
    OMLError
        From the server: the script does not exist (SQLSTATE 42883), it is
        not readable (42501), or the owner is not a role (42704).
    """
    check_str(name, "name")
    check_str(owner, "owner", optional=True)
    backend = get_backend()
    with backend.transaction():
        [[source]] = backend.query("SELECT oml.script_load(%s, %s)",
                                   (name, owner))
    return ScriptFunction(name, owner, source, _compile(name, source))


# -- dir ------------------------------------------------------------------------

def dir(name: Optional[str] = None, regex_match: bool = False,
        sctype: str = "user") -> pandas.DataFrame:
    """List scripts.

    Parameters
    ----------
    name : str, optional
        Name of a script to list, or with ``regex_match=True`` a regular
        expression (PostgreSQL syntax) found anywhere in the names listed.
        All scripts by default.
    regex_match : bool, default False
        Whether ``name`` is a regular expression.
    sctype : str, default 'user'
        Which scripts:

        - ``'user'``: the current role's private scripts;
        - ``'global'``: the global scripts;
        - ``'all'``: every script the current role can read (own, granted
          and global; global ones show owner ``PYQSYS``, which
          :func:`load` and ``func_owner`` accept as the owner);
        - ``'grant'``: own private scripts granted to others, one row per
          grantee (``PUBLIC`` for everyone).

    Returns
    -------
    pandas.DataFrame
        Columns ``name, script, description, date`` (``'all'`` adds
        ``owner`` first; ``'grant'`` has ``name, grantee``), sorted by name
        in byte order (by owner, then name, for ``'all'``).  ``date`` is
        when the script was created or last replaced (UTC).

    Raises
    ------
    TypeError
        An argument has the wrong type.
    OMLError
        From the server: an unknown ``sctype`` (SQLSTATE 22023), an invalid
        name or regular expression.
    """
    import pandas as pd

    check_str(name, "name", optional=True)
    check_bool(regex_match, "regex_match")
    check_str(sctype, "sctype")
    backend = get_backend()
    with backend.transaction():
        rows = backend.query(
            "SELECT owner, name, script, description, date, grantee"
            " FROM oml.script_dir(%s, %s, %s)", (name, regex_match, sctype))
    df = pd.DataFrame.from_records([tuple(r) for r in rows],
                                   columns=_DIR_ALL_COLUMNS)
    df["date"] = pd.to_datetime(df["date"], utc=True)
    return df[list(_DIR_COLUMNS.get(sctype.lower(), _DIR_ALL_COLUMNS))]
