"""The Python half of oml_store's embedded runtime (used by its C code).

The extension imports this module once per backend, then calls:

* :func:`setup` -- make ``import oml`` give the API over SPI;
* :func:`check_script` / :func:`get_function` -- check and compile scripts;
* :func:`parse_par_lst` -- split ``par_lst`` into controls and arguments;
* :func:`build_input` -- turn gathered columns into the script's input;
* :func:`invoke` -- call the script, capturing matplotlib figures;
* :func:`format_output` / :func:`to_rows` -- shape results for SQL;
* :func:`format_exception` -- describe an exception for an SQL error.

Nothing here is part of the public API.
"""

import ast
import builtins
import copy
import io
import json
import linecache
import math
import os
import re
import sys
import traceback
import warnings
from xml.sax.saxutils import escape, quoteattr

__all__ = []

_INPUT_TYPES = ("default", "pandas.DataFrame", "numpy.recarray")
_CONTROLS = ("oml_input_type", "oml_na_omit", "oml_graphics_flag",
             "oml_async_flag", "oml_parallel_flag", "oml_parallel_degree",
             "oml_service_level")
_SERVICE_LEVELS = ("LOW", "MEDIUM", "HIGH")
_PARALLEL_DEGREE_MAX = 64       # as OML_PARALLEL_DEGREE_MAX in parallel.h

# (input_type, na_omit, graphics, mutable, service_level, parallel):
# mutable says kwargs hold lists or dicts (copied per call); service_level
# is None or the level asked for (the C caller reports that it has no
# effect); parallel is None (serial), 0 (parallel, the default degree) or
# the degree asked for (see parallel.c).
_DEFAULT_CONTROLS = ("default", False, False, False, None, None)
_MUTABLE_CONTROLS = ("default", False, False, True, None, None)
_MUTABLE = (list, dict)

# Compiled scripts of this backend: (script id, calling role's oid) ->
# (name, source, function).  Each role that runs a script gets its own
# function and so its own globals; an entry is used only for exactly the
# source it was compiled from.  At most _FUNCTIONS_MAX entries, oldest out.
_functions = {}
_FUNCTIONS_MAX = 256


class UserError(Exception):
    """An error in what the SQL caller passed, with its SQLSTATE."""

    def __init__(self, sqlstate, message, hint=None):
        super().__init__(message)
        self.sqlstate = sqlstate
        self.message = message
        self.detail = None
        self.hint = hint


def setup():
    """Called once per backend: signals, matplotlib, output capture, the
    guards on process state, and the ``oml`` module."""
    import signal

    # The C code takes SIGINT back at the OS level and trips Python's
    # handler itself when a statement is cancelled.
    signal.signal(signal.SIGINT, _interrupt)
    os.environ.setdefault("MPLBACKEND", "Agg")
    if not hasattr(sys, "argv"):
        sys.argv = ["postgres"]

    import oml_store
    from . import _backend, _spi

    _backend.set_backend(_spi.SpiBackend())
    sys.modules.setdefault("oml", oml_store)
    _capture_output()
    _guard_process_state()


# -- process state -----------------------------------------------------------
#
# The C code (pystate.c) puts back what a call changed.  What it cannot see
# cheaply is flagged here, by wrappers that raise the audit events
# "oml.signal", "oml.locale" and "oml.umask"; SIGALRM timers, which
# PostgreSQL needs for statement_timeout, are refused.

_signal_orig = {}       # name -> the unwrapped function of _signal
_signals0 = {}          # signal number -> Python-level handler at start
_environ0 = {}


class _Output(io.TextIOBase):
    """sys.stdout and sys.stderr inside the server: text goes to the C
    code, which reports it as a NOTICE after the call (capped)."""

    encoding = "utf-8"
    errors = "strict"

    def __init__(self, name):
        super().__init__()
        self._name = name

    @property
    def name(self):
        return self._name

    def writable(self):
        return True

    def isatty(self):
        return False

    def write(self, text):
        import _oml
        if not isinstance(text, str):
            raise TypeError("write() argument must be str, not %s"
                            % type(text).__name__)
        return _oml.write(text)

    def flush(self):
        pass

    @property
    def buffer(self):
        return _OutputBytes(self)


class _OutputBytes(io.RawIOBase):
    """The ``buffer`` of _Output: bytes decoded as UTF-8."""

    def __init__(self, text):
        super().__init__()
        self._text = text

    def writable(self):
        return True

    def write(self, data):
        data = bytes(data)
        self._text.write(data.decode("utf-8", "replace"))
        return len(data)


def _capture_output():
    sys.stdout = sys.__stdout__ = _Output("<stdout>")
    sys.stderr = sys.__stderr__ = _Output("<stderr>")


def _noting(event, fn, after=None):
    def wrapper(*args, **kwargs):
        sys.audit(event)
        try:
            return fn(*args, **kwargs)
        finally:
            if after is not None:
                after()
    wrapper.__name__ = getattr(fn, "__name__", "wrapper")
    wrapper.__doc__ = getattr(fn, "__doc__", None)
    wrapper.__wrapped__ = fn
    return wrapper


def _reclaim_signals():
    import _oml
    _oml.reclaim_signals()


def _refusing_timer(name, fn):
    import signal

    def wrapper(*args, **kwargs):
        if name == "alarm" or (args and args[0] == signal.ITIMER_REAL) \
                or kwargs.get("which") == signal.ITIMER_REAL:
            raise PermissionError(
                "oml_store scripts cannot use SIGALRM timers (signal.%s):"
                " PostgreSQL uses them for statement_timeout" % name)
        # ITIMER_PROF / ITIMER_VIRTUAL: stopped after the call (pystate.c).
        sys.audit("oml.signal")
        return fn(*args, **kwargs)
    wrapper.__name__ = name
    wrapper.__doc__ = getattr(fn, "__doc__", None)
    return wrapper


def _guard_process_state():
    import _locale
    import _signal
    import locale
    import posix
    import signal

    for name in ("signal", "siginterrupt", "pthread_sigmask", "set_wakeup_fd",
                 "alarm", "setitimer"):
        fn = getattr(_signal, name, None)
        if fn is None:
            continue
        _signal_orig[name] = fn
        if name in ("alarm", "setitimer"):
            wrapped = _refusing_timer(name, fn)
        else:
            # SIGINT, SIGTERM and SIGALRM stay PostgreSQL's at the OS level
            # even during the call: Python's SIGINT handler (the script's
            # now) still runs on a cancel.
            wrapped = _noting("oml.signal", fn, _reclaim_signals)
        setattr(_signal, name, wrapped)
        # signal.py copied some of them; the rest call _signal.<name>.
        if getattr(signal, name, None) is fn:
            setattr(signal, name, wrapped)
    for sig in signal.valid_signals():
        try:
            _signals0[sig] = signal.getsignal(sig)
        except (OSError, ValueError):
            pass

    def setlocale_noting(fn):
        def wrapper(category, locale=None):
            if locale is not None:
                sys.audit("oml.locale")
            return fn(category, locale)
        wrapper.__name__ = "setlocale"
        wrapper.__doc__ = fn.__doc__
        return wrapper

    _locale.setlocale = setlocale_noting(_locale.setlocale)
    locale._setlocale = setlocale_noting(locale._setlocale)
    os.umask = posix.umask = _noting("oml.umask", posix.umask)
    _environ0.update(os.environ)


def restore_signals():
    """Put Python's handlers back as they were at start (the C code then
    puts the OS-level ones back)."""
    import signal

    set_signal = _signal_orig.get("signal", signal.signal)
    for sig, handler in _signals0.items():
        try:
            if signal.getsignal(sig) is not handler:
                if handler is None:
                    handler = signal.SIG_DFL
                if isinstance(handler, int):
                    handler = int(handler)      # _signal takes no enums
                set_signal(int(sig), handler)
        except (OSError, ValueError, TypeError):
            pass
    wakeup = _signal_orig.get("set_wakeup_fd")
    if wakeup is not None:
        try:
            wakeup(-1)
        except (OSError, ValueError):
            pass


def forget_broken_imports():
    """After a cancel: drop what an interrupted import left in sys.modules
    (modules still initialising, and submodules of packages whose import
    failed), so that the next import of them starts afresh instead of
    failing for the rest of the session."""
    mods = sys.modules
    for name in sorted(mods, key=lambda n: n.count(".")):
        module = mods.get(name)
        if module is None:
            continue
        spec = getattr(module, "__spec__", None)
        parent = name.rpartition(".")[0]
        if getattr(spec, "_initializing", False) or (parent and parent not in mods):
            del mods[name]


def restore_environ():
    """Put os.environ back as it was at start (keys a script set or
    removed); re-read TZ if it changed."""
    env = os.environ
    tz = env.get("TZ")
    for key in [k for k in env if k not in _environ0]:
        del env[key]
    for key, value in _environ0.items():
        if env.get(key) != value:
            env[key] = value
    if env.get("TZ") != tz:
        import time
        time.tzset()


def _interrupt(signum, frame):
    """SIGINT inside Python: the statement was cancelled.  Keep
    interrupting while the cancel is pending, so catching it is no escape."""
    import _oml
    _oml.rearm_interrupt()
    if frame is not None and frame.f_code.co_filename.startswith(
            "<frozen importlib"):
        # Inside importlib: let it finish or clean up a failed import (or
        # later imports of the module fail); the trace function set by
        # rearm_interrupt raises at the next line outside it.
        return
    raise KeyboardInterrupt


# -- scripts -----------------------------------------------------------------

def _filename(name):
    return "<oml script %s>" % name


# The global of a script's namespace that holds its source lines (readers'
# compiles only).
_LINES = "__oml_script_lines__"


def _extract_frames(tb):
    """traceback.extract_tb(tb), but the line of each frame of a script's
    code is the one of the source that code was compiled from, read from
    its own globals, not linecache's entry for its file name: that is the
    last script of that name compiled in this backend, perhaps another
    owner's, which the caller may not read.  A frame with no such source
    (an execute-only compile) shows no line."""
    frames = traceback.extract_tb(tb)
    walked = list(traceback.walk_tb(tb))
    if len(walked) != len(frames):
        return frames
    for summary, (frame, lineno) in zip(frames, walked):
        if not summary.filename.startswith("<oml script "):
            continue
        lines = frame.f_globals.get(_LINES)
        if not isinstance(lines, list) or not 0 < (lineno or 0) <= len(lines):
            lines, lineno = [""], 1
        text = lines[lineno - 1]
        try:
            summary._line = text if isinstance(text, str) else ""
        except AttributeError:      # not CPython 3.11's FrameSummary
            pass
    return frames


def _shorten(text, limit=200):
    """A source line for an error message: stripped, at most limit
    characters."""
    text = text.strip()
    return text if len(text) <= limit else text[:limit] + "..."


def check_script(name, source):
    """None when source is one function definition; else (message, line,
    text of the line)."""
    lines = source.splitlines()

    def line(n):
        return _shorten(lines[n - 1]) if 0 < n <= len(lines) else None

    try:
        # Compiling finds what parses but cannot run (nesting too deep for
        # the compiler), so the script is refused now, not at every call.
        # Its warnings come again when the script is compiled to run.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            tree = ast.parse(source, _filename(name))
            compile(tree, _filename(name), "exec", dont_inherit=True)
    except SyntaxError as exc:
        n = exc.lineno or 1
        return (exc.msg, n, _shorten(exc.text or "") or line(n))
    except (RecursionError, MemoryError):
        # Python's parser and compiler give these for deep nesting
        # (expressions nested some thousand levels): no line to show.
        return ("the script is nested too deeply or is too complex to"
                " compile", 0, None)
    funcs = []
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            funcs.append(node)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            continue
        elif (isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant)
              and isinstance(node.value.value, str)):
            continue            # a docstring or comment string
        else:
            return ("only imports may stand beside the function",
                    node.lineno, line(node.lineno))
    if not funcs:
        return ("the script defines no function", 1, line(1))
    if len(funcs) > 1:
        return ("the script defines more than one function",
                funcs[1].lineno, line(funcs[1].lineno))
    if isinstance(funcs[0], ast.AsyncFunctionDef):
        return ("the function must not be async", funcs[0].lineno,
                line(funcs[0].lineno))
    return None


def get_function(script_id, caller, name, source, readable=True):
    """The compiled function of a script for the calling role.

    ``readable`` False: the caller may run the script but not read it (an
    execute-only grant), so tracebacks must not show its lines: it is
    compiled under a file name of its own that linecache never holds.

    Cached per (script id, role): roles never share a function's globals
    (what ``oml.ds.load(..., to_globals=True)`` binds, or anything else a
    script keeps there), and a role's later calls of the same source see
    its earlier ones'.  The cache is keyed on the exact source, not on a
    row version, so it can never run other code than the lookup found: an
    overwrite (also one in the same transaction, or one rolled back) gives
    a different source and a fresh compile.
    """
    key = (script_id, caller) if readable else (script_id, caller, "execute")
    cached = _functions.get(key)
    if cached is not None and cached[1] == source and cached[0] == name:
        return cached[2]
    filename = _filename(name)
    if not readable:
        filename = "<oml script %s, execute only>" % name
        linecache.cache.pop(filename, None)
    tree = ast.parse(source, filename)
    fname = next(n.name for n in tree.body
                 if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef)))
    # Let tracebacks show the script's lines (to those who may read them).
    if readable:
        linecache.cache[filename] = (len(source), None,
                                     source.splitlines(True), filename)
    namespace = {"__name__": "oml_script_" + name, "__builtins__": builtins}
    if readable:
        # linecache holds one source per file name, and scripts of several
        # owners share a name: tracebacks take each frame's line from here
        # (see _extract_frames).
        namespace[_LINES] = linecache.cache[filename][2]
    exec(compile(tree, filename, "exec"), namespace)
    func = namespace[fname]
    _functions.pop(key, None)
    while len(_functions) >= _FUNCTIONS_MAX:
        del _functions[next(iter(_functions))]
    _functions[key] = (name, source, func)
    return func


# -- arguments ---------------------------------------------------------------

# json.loads' own C scanner, called directly: the Python layers of
# json.loads cost more than parsing a short par_lst.
_scan_json = json.JSONDecoder().scan_once
_JSON_SPACE = " \t\n\r"        # json.decoder.WHITESPACE


def _loads(text):
    """json.loads(text): the same value, or (by calling json.loads when the
    scanner stops short) the same error."""
    try:
        value, end = _scan_json(text, len(text) - len(text.lstrip(_JSON_SPACE)))
    except Exception:       # not JSON, too deep, ...: json.loads says which
        return json.loads(text)
    # The value ends in a non-space character: only spaces may follow.
    if len(text.rstrip(_JSON_SPACE)) != end:
        return json.loads(text)
    return value


def parse_par_lst(text):
    """(kwargs, (input_type, na_omit, graphics, mutable, service_level,
    parallel)) from a par_lst JSON object; mutable says kwargs hold lists
    or dicts, copied per call."""
    if text is None or not text.strip():
        params = {}
    else:
        # The C caller bounds par_lst's size and nesting first (see
        # check_par_lst in pyqeval.c); these catch what gets past it.
        try:
            params = _loads(text)
        except RecursionError:
            raise UserError("54001", "par_lst is nested too deeply") from None
        except MemoryError:
            raise UserError("54000", "par_lst is too large") from None
        except ValueError as exc:
            raise UserError("22P02", "par_lst is not valid JSON: %s" % exc,
                            hint='Pass a JSON object, e.g. \'{"n": 3}\'.') from None
        if not isinstance(params, dict):
            raise UserError("22023", "par_lst must be a JSON object, not %s"
                            % type(params).__name__,
                            hint='Pass a JSON object, e.g. \'{"n": 3}\'.')
    mutable = False
    for key, value in params.items():
        if key.startswith("oml_"):
            break
        if type(value) in _MUTABLE:
            mutable = True
    else:
        # The common case: no controls.
        return params, _MUTABLE_CONTROLS if mutable else _DEFAULT_CONTROLS
    kwargs = {}
    input_type, na_omit, graphics, level = "default", False, False, None
    parallel_flag, degree = None, None
    for key, value in params.items():
        if not key.startswith("oml_"):
            kwargs[key] = value
            continue
        if key not in _CONTROLS:
            raise UserError("22023", "unknown control \"%s\" in par_lst" % key,
                            hint="Controls are %s; other keys must not start"
                                 " with oml_." % ", ".join(_CONTROLS))
        if key == "oml_input_type":
            if value not in _INPUT_TYPES:
                raise UserError("22023", "unknown oml_input_type %s"
                                % json.dumps(value),
                                hint="Use one of %s." % ", ".join(_INPUT_TYPES))
            input_type = value
        elif key == "oml_async_flag":
            _flag(key, value)   # a true one was submitted as a job in C
        elif key == "oml_parallel_flag":
            parallel_flag = _flag(key, value)
        elif key == "oml_parallel_degree":
            degree = _degree(value)
        elif key == "oml_na_omit":
            na_omit = _flag(key, value)
        elif key == "oml_service_level":
            if not isinstance(value, str) or value.upper() not in _SERVICE_LEVELS:
                raise UserError("22023", "unknown oml_service_level %s"
                                % json.dumps(value),
                                hint="Use one of %s." % ", ".join(_SERVICE_LEVELS))
            level = value.upper()
        else:
            graphics = _flag(key, value)
    mutable = any(isinstance(v, (list, dict)) for v in kwargs.values())
    if degree is not None and parallel_flag is False and degree > 1:
        raise UserError("22023", "oml_parallel_degree %d conflicts with"
                        " oml_parallel_flag false" % degree,
                        hint="Leave out oml_parallel_flag, or set it true.")
    if degree is not None:
        parallel = degree
    else:
        parallel = 0 if parallel_flag else None
    return kwargs, (input_type, na_omit, graphics, mutable, level, parallel)


def _degree(value):
    """oml_parallel_degree: an integer from 1 (serial) to the maximum."""
    if type(value) is not int:
        raise UserError("22023", "oml_parallel_degree must be an integer,"
                        " not %s" % json.dumps(value),
                        hint="Give the number of processes, e.g. 2.")
    if not 1 <= value <= _PARALLEL_DEGREE_MAX:
        raise UserError("22023", "oml_parallel_degree must be between 1"
                        " and %d, not %d" % (_PARALLEL_DEGREE_MAX, value),
                        hint="The degree counts the calling backend and its"
                             " parallel workers.")
    return value


def _flag(key, value):
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    raise UserError("22023", "%s must be true or false, not %s"
                    % (key, json.dumps(value)))


# -- input -------------------------------------------------------------------

# pandas' datetime64[ns] range, in microseconds since 2000-01-01.
_NS_MIN_US = -9223372036854775 - 946684800000000
_NS_MAX_US = 9223372036854775 - 946684800000000


def _column(kind, data, mask, name=""):
    """One numpy array (or list) from a column gathered in C."""
    import numpy as np

    if kind == "object":
        # fromiter is about twice as fast as np.array on a list of str.
        return np.fromiter(data, dtype=object, count=len(data))
    nulls = np.frombuffer(mask, dtype=np.bool_) if mask is not None else None
    if kind == "float":
        arr = np.frombuffer(data, dtype=np.float64)   # a writable bytearray
        if nulls is not None:
            arr[nulls] = np.nan
        return arr
    if kind == "int":
        arr = np.frombuffer(data, dtype=np.int64)
        if nulls is not None:
            arr = arr.astype(np.float64)
            arr[nulls] = np.nan
        return arr
    if kind == "bool":
        arr = np.frombuffer(data, dtype=np.bool_)
        if nulls is not None:
            arr = arr.astype(object)
            arr[nulls] = None
        return arr
    raw = np.frombuffer(data, dtype=np.int64)
    unit = 86400 * 10**6 if kind == "date" else 1         # microseconds
    valid = raw if nulls is None else raw[~nulls]
    if valid.size and (valid.min() * unit < _NS_MIN_US or valid.max() * unit > _NS_MAX_US):
        # Outside pandas' nanosecond range (e.g. 9999-12-31): Python objects.
        return _datetime_objects(raw, nulls, kind, name)
    if kind == "date":
        arr = raw.astype("timedelta64[D]") + np.datetime64("2000-01-01", "D")
    else:
        arr = raw.astype("timedelta64[us]") + np.datetime64("2000-01-01T00:00:00", "us")
    if nulls is not None:
        arr = arr.copy()
        arr[nulls] = np.datetime64("NaT")
    return arr


def _datetime_objects(raw, nulls, kind, name):
    """Dates or timestamps as Python objects (None for NULL)."""
    import datetime
    import numpy as np

    epoch = datetime.datetime(2000, 1, 1)
    out = np.empty(len(raw), dtype=object)
    for i, v in enumerate(raw.tolist()):
        if nulls is not None and nulls[i]:
            out[i] = None
            continue
        try:
            if kind == "date":
                out[i] = epoch.date() + datetime.timedelta(days=v)
            else:
                ts = epoch + datetime.timedelta(microseconds=v)
                out[i] = ts.replace(tzinfo=datetime.timezone.utc) if kind == "timestamptz" else ts
        except OverflowError:
            raise UserError("22008", "column \"%s\" holds a value outside the"
                            " range of Python's datetime (years 1 to 9999)" % name) from None
    return out


def columns_to_frame(cols):
    """A DataFrame from columns gathered in C: no Python object per number.
    Every column is kept, also when names repeat (``SELECT a + 1, b + 1``
    names both ``?column?``), as in the client's DataFrames."""
    import pandas as pd

    data = {}
    names = []
    for i, (name, kind, values, mask) in enumerate(cols):
        col = _column(kind, values, mask, name)
        if kind == "timestamptz" and col.dtype != object:
            col = pd.DatetimeIndex(col).tz_localize("UTC")
        data[i] = col           # by position: names may repeat
        names.append(name)
    df = pd.DataFrame(data, copy=False)
    df.columns = names
    return df


def build_input(cols, controls):
    """The script's input: a DataFrame, a recarray, or for ``default`` a
    2-D float ndarray when every column is numeric."""
    import numpy as np

    input_type, na_omit = controls[0], controls[1]
    df = columns_to_frame(cols)
    if na_omit:
        df = df.dropna().reset_index(drop=True)
    if input_type == "pandas.DataFrame":
        return df
    if input_type == "numpy.recarray":
        if df.columns.has_duplicates:
            raise UserError("42701", "input column name \"%s\" appears more"
                            " than once" % df.columns[df.columns.duplicated()][0],
                            hint="Give the input's columns distinct names"
                                 " (AS ...) for numpy.recarray input.")
        return df.to_records(index=False)
    kinds = {kind for _, kind, _, _ in cols}
    if kinds and kinds <= {"float", "int"}:
        return df.to_numpy(dtype=np.float64)
    return df


# -- calling -----------------------------------------------------------------

def invoke(func, args, kwargs, controls, out_fmt):
    """Call the script; return (result, figures), each figure as
    (number, title, PNG bytes).  Only figures the call creates are its
    own: a graphics call nested in another script's call (through
    oml.sql) leaves that script's figures (and its current figure) alone.
    With out_fmt XML and no oml_graphics_flag, figures are captured only
    when the script uses matplotlib.pyplot (it is not imported for it)."""
    import _oml
    graphics = controls[2] or out_fmt == "PNG"
    if not graphics:
        if out_fmt != "XML":
            return func(*args, **kwargs), []
        plt = sys.modules.get("matplotlib.pyplot")
        before = set(plt.get_fignums()) if plt is not None else set()
        current = plt is not None and plt.get_fignums() and plt.gcf().number
        try:
            result = func(*args, **kwargs)
            plt = sys.modules.get("matplotlib.pyplot")
            figures = _new_figures(plt, before) if plt is not None else []
        finally:
            plt = sys.modules.get("matplotlib.pyplot")
            if plt is not None:
                _close_new_figures(plt, before, current)
        return result, figures
    import matplotlib
    top = _oml.nesting() <= 1
    if top:
        matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    if top:
        plt.close("all")        # leftovers of calls without graphics
    before = set(plt.get_fignums())
    current = plt.get_fignums() and plt.gcf().number
    try:
        result = func(*args, **kwargs)
        figures = _new_figures(plt, before)
    finally:
        _close_new_figures(plt, before, current)
    return result, figures


def _new_figures(plt, before):
    """(number, title, PNG bytes) of each open figure not in before."""
    figures = []
    for num in plt.get_fignums():
        if num in before:
            continue
        fig = plt.figure(num)
        buf = io.BytesIO()
        fig.savefig(buf, format="png")
        figures.append((num, _figure_title(fig), buf.getvalue()))
    return figures


def _close_new_figures(plt, before, current):
    """Close the figures a call opened; make current current again."""
    for num in plt.get_fignums():
        if num not in before:
            plt.close(num)
    if current and current in plt.get_fignums():
        plt.figure(current)


def run(func, args, kwargs, controls, out_fmt, names):
    """Call the script and return its result as rows for SQL: (id, value,
    title, image) for out_fmt JSON, XML, PNG or PICKLE; else rows of the
    declared columns, whose names (None: unnamed) are the tuple names."""
    if controls[3]:
        kwargs = copy.deepcopy(kwargs)     # lists or dicts: fresh each call
    if out_fmt == "JSON" and not controls[2]:
        result = func(*args, **kwargs)
        if type(result) in _JSON_PLAIN:
            try:
                return [(None, _dumps(result), None, None)]
            except (TypeError, ValueError, RecursionError):
                pass            # numpy values, NaN or deep nesting inside
        return [(None, to_json(result), None, None)]
    if out_fmt == "JOB":
        # An async job: the result and any figures drawn, formatted when
        # fetched (replay).  Figures as for XML: when pyplot is used.
        invoked = invoke(func, args, kwargs, controls, "XML")
        try:
            return format_output(invoked, "PICKLE")
        except UserError:
            raise
        except Exception as exc:
            # A lambda, a generator, a class defined in the script: the
            # synchronous JSON call gives their str(), a job cannot keep
            # them.  Not the script's error: say what it is.
            raise UserError(
                "0A000", "the script's result cannot be kept for"
                " pyqJobResult: it does not pickle (%s: %s)"
                % (type(exc).__name__, exc),
                hint="An async job stores its result pickled: return"
                " picklable values (numbers, strings, lists, dicts, numpy"
                " and pandas objects), or run the call synchronously."
            ) from None
    invoked = invoke(func, args, kwargs, controls, out_fmt)
    if out_fmt is None:
        return to_rows(invoked, names)
    if out_fmt == "TEXT":
        return to_text_rows(invoked)
    return format_output(invoked, out_fmt, controls[2])


def replay(data, out_fmt, names, graphics):
    """Rows of an async job's stored result (the pickled (result,
    figures) of one call, written by the job worker as the extension
    owner) for out_fmt, as run would give them for a fresh result."""
    if out_fmt == "PICKLE":
        return [(None, None, None, data)]
    import pickle
    invoked = pickle.loads(data)
    if out_fmt is None:
        return to_rows(invoked, names)
    if out_fmt == "TEXT":
        return to_text_rows(invoked)
    return format_output(invoked, out_fmt, graphics)


def _figure_title(fig):
    suptitle = getattr(fig, "_suptitle", None)
    if suptitle is not None and suptitle.get_text():
        return suptitle.get_text()
    for ax in fig.axes:
        if ax.get_title():
            return ax.get_title()
    return None


# -- output ------------------------------------------------------------------

def _plain(value):
    """A JSON-serialisable form of numpy, pandas and datetime values."""
    import numpy as np
    import pandas as pd

    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, (pd.Timestamp,)):
        return value.isoformat()
    if isinstance(value, (pd.Series, pd.Index)):
        return value.tolist()
    if isinstance(value, (set, frozenset)):
        return list(value)
    if hasattr(value, "isoformat"):
        return value.isoformat()
    if isinstance(value, (bytes, bytearray)):
        return value.hex()
    return str(value)


_JSON_PLAIN = (int, str, bool, type(None), list, dict, tuple)

# json.dumps(value, allow_nan=False) builds an encoder on every call; this
# one is built once.  An int or a str is written the way that encoder
# writes it (int.__repr__, the ASCII string escape), without its layers.
_encode = json.JSONEncoder(allow_nan=False).encode
_encode_str = json.encoder.encode_basestring_ascii


def _dumps(value):
    """json.dumps(value, allow_nan=False)."""
    if type(value) is int:
        return int.__repr__(value)
    if type(value) is str:
        return _encode_str(value)
    return _encode(value)


_JSON_NONFINITE = {"nan": "NaN", "inf": "Infinity", "-inf": "-Infinity"}


def _finite(value):
    """value for json.dumps(allow_nan=False): NaN and infinities (which
    JSON lacks) as None, numpy values as plain ones, dict keys as JSON
    keys.  Recursive: deep nesting raises RecursionError."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        out = {}
        for k, v in value.items():
            if hasattr(k, "item") and not isinstance(k, (str, int, float)):
                k = k.item()            # a numpy scalar key
            if isinstance(k, float) and not math.isfinite(k):
                k = _JSON_NONFINITE[repr(k)]
            out[k] = _finite(v)
        return out
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    return value


def _plain_finite(value):
    """_plain, with what it gives made fit for JSON (see _finite)."""
    return _finite(_plain(value))


def json_text(value):
    """JSON text of a Python value (a dict or list for a json column):
    NaN and infinities become null, numpy values plain ones."""
    try:
        return json.dumps(value, allow_nan=False)
    except (TypeError, ValueError):
        pass
    except RecursionError:
        raise UserError("54001", "a result value is nested too deeply to"
                        " convert to JSON") from None
    try:
        return json.dumps(_finite(value), default=_plain_finite,
                          allow_nan=False)
    except RecursionError:
        raise UserError("54001", "a result value is nested too deeply to"
                        " convert to JSON") from None


def to_json(result):
    """The JSON text of a script's result (a DataFrame as records).  The
    text is always valid JSON: NaN and infinities become null."""
    if type(result) in _JSON_PLAIN:
        return json_text(result)
    import pandas as pd

    if isinstance(result, pd.DataFrame):
        return result.to_json(orient="records", date_format="iso")
    if isinstance(result, pd.Series):
        return result.to_json(orient="records", date_format="iso")
    return json_text(result)


# Characters XML 1.0 does not allow (C0 controls but tab, LF and CR; lone
# surrogates; U+FFFE and U+FFFF): written as the text \\uXXXX instead.
_XML_BAD = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
# XML 1.0 (fifth edition) names, without ':' (namespaces).
_XML_NAME_START = ("A-Z_a-z\xc0-\xd6\xd8-\xf6\xf8-\u02ff\u0370-\u037d"
                   "\u037f-\u1fff\u200c-\u200d\u2070-\u218f\u2c00-\u2fef"
                   "\u3001-\ud7ff\uf900-\ufdcf\ufdf0-\ufffd\U00010000-\U000effff")
_XML_NAME = re.compile("[%s][%s\\-.0-9\xb7\u0300-\u036f\u203f-\u2040]*"
                       % (_XML_NAME_START, _XML_NAME_START))


def _xml_clean(text):
    """text with each character XML 1.0 does not allow as \\uXXXX."""
    if _XML_BAD.search(text) is None:
        return text
    return _XML_BAD.sub(lambda m: "\\u%04X" % ord(m.group()), text)


def _xml_text(text):
    """Character data for any Python str: escaped, and well-formed (see
    _xml_clean); a carriage return as &#13; so that it survives parsing."""
    return escape(_xml_clean(text), {"\r": "&#13;"})


def _xml_attr(text):
    """A quoted attribute value for any Python str."""
    return quoteattr(_xml_clean(text))


def _xml_tag(key):
    """Can the dict key be an element name?  Python identifiers that are XML
    names and do not start with xml (reserved); other keys are written as
    <item name="key">."""
    return (key.isidentifier() and not key.lower().startswith("xml")
            and _XML_NAME.fullmatch(key) is not None)


def _xml_value(tag, value, out):
    import pandas as pd

    if isinstance(value, pd.DataFrame):
        out.append("<%s>" % tag)
        for rec in value.to_dict(orient="records"):
            _xml_value("row", rec, out)
        out.append("</%s>" % tag)
        return
    if isinstance(value, dict):
        out.append("<%s>" % tag)
        for k, v in value.items():
            key = str(k)
            if _xml_tag(key):
                _xml_value(key, v, out)
            else:
                inner = []
                _xml_value("item", v, inner)
                out.append(inner[0].replace("<item", "<item name=%s" % _xml_attr(key), 1)
                           if inner else "")
                out.extend(inner[1:])
        out.append("</%s>" % tag)
        return
    if hasattr(value, "tolist") and not isinstance(value, (str, bytes)):
        value = value.tolist()
    if isinstance(value, (list, tuple, set)):
        out.append("<%s>" % tag)
        for v in value:
            _xml_value("item", v, out)
        out.append("</%s>" % tag)
        return
    if value is None or (isinstance(value, float) and math.isnan(value)):
        out.append("<%s/>" % tag)
        return
    text = _plain(value) if not isinstance(value, (str, int, float, bool)) else value
    out.append("<%s>%s</%s>" % (tag, _xml_text(str(text)), tag))


def to_xml(result, figures=None):
    """The XML text of a script's result, under a <root> element.  With
    figures (a list, also an empty one: oml_graphics_flag was set) the
    result goes in <Py-data> and the figures follow as
    <images><image id="N" title="..."><img src="data:image/pngbase64">
    <![CDATA[base64 PNG]]></img></image>...</images>."""
    out = []
    if figures is None:
        _xml_value("root", result, out)
        return "".join(out)
    import base64

    out.append("<root>")
    _xml_value("Py-data", result, out)
    if not figures:
        out.append("<images/>")
    else:
        out.append("<images>")
        for num, title, png in figures:
            out.append("<image id=\"%d\"%s><img src=\"data:image/pngbase64\">"
                       "<![CDATA[%s]]></img></image>"
                       % (num, "" if title is None else " title=" + _xml_attr(title),
                          base64.b64encode(png).decode("ascii")))
        out.append("</images>")
    out.append("</root>")
    return "".join(out)


def format_output(invoked, fmt, graphics=False):
    """Rows (id, value, title, image) for out_fmt JSON, XML, PNG or PICKLE
    (for the Python client: the pickled (result, figures) in image);
    graphics: oml_graphics_flag was set (XML then always has <images>)."""
    result, figures = invoked
    if fmt == "PICKLE":
        import pickle
        try:
            data = pickle.dumps((result, figures), protocol=pickle.HIGHEST_PROTOCOL)
        except RecursionError:
            raise UserError("54001", "the script's result is nested too deeply"
                            " to pickle") from None
        return [(None, None, None, data)]
    if fmt == "XML":
        try:
            return [(None, to_xml(result, figures if figures or graphics
                                  else None), None, None)]
        except RecursionError:
            raise UserError("54001", "the script's result is nested too deeply"
                            " to convert to XML") from None
    value = to_json(result)
    if fmt == "PNG" and figures:
        return [(num, value, title, png) for num, title, png in figures]
    return [(None, value, None, None)]


def to_text_rows(invoked):
    """Rows (id, value, title, image) with each value of a one-column
    result in value, for the text out_fmt overloads called with a NULL
    out_fmt (NULL::text): the C side converts each value to text."""
    rows = to_rows(invoked, (None,))
    if isinstance(rows, tuple):             # a DataFrame's one column
        _, cols = rows
        kind, data = cols[0]
        values = data if kind == "obj" else data.tolist()
        return [(None, v, None, None) for v in values]
    return [(None, row[0], None, None) for row in rows]


def _frame_columns(df, positions=None):
    """A DataFrame's columns for the C side to read without a Python object
    per number: (nrows, [(kind, values)]) where kind is 'f8' (a float64
    ndarray, NaN meaning NULL), 'i8' (int64 ndarray), 'b1' (bool ndarray) or
    'obj' (a list, None meaning NULL).  positions: the frame's columns to
    take, in order (None: all of them)."""
    import numpy as np
    import pandas as pd

    cols = []
    for i in range(df.shape[1]) if positions is None else positions:
        s = df.iloc[:, i]
        # pandas extension dtypes (Int64, boolean, string...) may hold NA:
        # they take the general path.
        kind = s.dtype.kind if isinstance(s.dtype, np.dtype) else "O"
        if kind == "f":
            cols.append(("f8", np.ascontiguousarray(s.to_numpy(dtype=np.float64))))
        elif kind in "iu" and not (kind == "u" and s.dtype.itemsize == 8):
            cols.append(("i8", np.ascontiguousarray(s.to_numpy(dtype=np.int64))))
        elif kind == "b":
            cols.append(("b1", np.ascontiguousarray(s.to_numpy(dtype=np.bool_))))
        else:
            vals = s.to_numpy(dtype=object)
            mask = pd.isna(vals)
            if mask.any():
                vals = vals.copy()
                vals[mask] = None
            cols.append(("obj", [v.item() if isinstance(v, np.generic) else v
                                 for v in vals]))
    return (len(df), cols)


# Column mappings worked out so far: (frame's column labels, declared
# names) -> positions (None: by position).  Most statements see one frame
# column list, so the mapping is worked out once; at most _MAPS_MAX kept,
# each for at most _MAPS_LABELS_MAX labels of _MAPS_CHARS_MAX characters in
# all (a script's long labels must not stay in the backend's memory).
_column_maps = {}
_MAPS_MAX = 256
_MAPS_LABELS_MAX = 1024
_MAPS_CHARS_MAX = 65536


def _quoted(names):
    return ", ".join('"%s"' % n for n in names)


def _match_columns(labels, names):
    """Where each declared column is among a frame's column labels: a tuple
    of positions, or None to map by position.  A declared name matches a
    label exactly, else case-insensitively when only one label does; when no
    declared name matches, columns go by position (the counts must agree).
    Some but not all names matching is an error (42703), and so is a name
    that matches two labels (42702)."""
    ncols = len(names)
    named = None not in names and any(isinstance(c, str) for c in labels)
    if not named:
        positions = None            # no names on one side or the other
    else:
        exact, folded = {}, {}
        for i, c in enumerate(labels):
            if isinstance(c, str):
                exact.setdefault(c, []).append(i)
                folded.setdefault(c.lower(), []).append(i)
        positions, missing = [], []
        for n in names:
            hits = exact.get(n) or folded.get(n.lower())
            if not hits:
                missing.append(n)
            elif len(hits) > 1:
                raise UserError(
                    "42702", "output column \"%s\" matches more than one"
                    " column of the script's result: %s"
                    % (n, _quoted(labels[i] for i in hits)),
                    hint="Declare the column with the exact name, or give the"
                         " result's columns distinct names.")
            else:
                positions.append(hits[0])
        if len(missing) == ncols:
            positions = None        # no declared name matches: by position
        elif missing:
            err = UserError(
                "42703", "the script's result has no column %s"
                % _quoted(missing),
                hint="Declare columns named as the result's columns (any"
                     " subset, in any order), or rename them in the script.")
            err.detail = "Its columns are %s." % _quoted(str(c) for c in labels)
            raise err
        elif positions == list(range(len(labels))):
            positions = None
        else:
            positions = tuple(positions)
    if positions is None and len(labels) != ncols:
        raise UserError("42804", "the script returned %d columns, but the"
                        " output declares %d" % (len(labels), ncols),
                        hint="Declare one output column per column the"
                             " script returns" + (", or columns named as the"
                             " result's columns." if named else "."))
    return positions


def _frame_positions(df, names):
    """_match_columns for a DataFrame, cached per column list when its
    labels are plain str (the cache is the backend's: other roles' calls
    must never compare with, or hash, objects of a script's classes) and
    not too many or too long."""
    labels = tuple(df.columns)
    if (len(labels) > _MAPS_LABELS_MAX
            or not all(type(c) is str for c in labels)
            or sum(map(len, labels)) + sum(map(len, filter(None, names)))
            > _MAPS_CHARS_MAX):
        return _match_columns(labels, names)
    key = (labels, names)
    positions = _column_maps.get(key, _column_maps)
    if positions is not _column_maps:
        return positions
    positions = _match_columns(labels, names)
    while len(_column_maps) >= _MAPS_MAX:
        del _column_maps[next(iter(_column_maps))]
    _column_maps[key] = positions
    return positions


def to_rows(invoked, names):
    """The script's result as rows for SQL: a list of tuples, one value per
    declared column (names: their names, None for unnamed), or for a
    DataFrame its columns (see _frame_columns).  Results with column names
    (DataFrames, dicts, Series, structured arrays) map onto the declared
    columns by name (see _match_columns); others by position."""
    import numpy as np
    import pandas as pd

    ncols = len(names)
    result = invoked[0]
    if result is None:
        return []
    if isinstance(result, dict):
        if all(np.ndim(v) == 0 for v in result.values()):
            result = pd.DataFrame([result])         # a dict of scalars: a row
        else:
            result = pd.DataFrame(result)
    if isinstance(result, pd.Series):
        result = result.to_frame() if ncols == 1 else result.to_frame().T
    if isinstance(result, np.ndarray):
        if result.dtype.names:
            result = pd.DataFrame.from_records(result)
        else:
            result = pd.DataFrame(result.reshape(-1, 1) if result.ndim == 1 and ncols == 1
                                  else np.atleast_2d(result))
    if isinstance(result, pd.DataFrame):
        if result.shape == (0, 0):
            return []                   # pd.DataFrame(): nothing, no columns
        return _frame_columns(result, _frame_positions(result, names))
    if isinstance(result, (list, tuple)):
        rows = []
        for item in result:
            if isinstance(item, (list, tuple)):
                row = tuple(item)
            else:
                row = (item,)
            if len(row) != ncols:
                if ncols > 1 and len(result) == ncols and not isinstance(item, (list, tuple)):
                    return [tuple(_scalar(v) for v in result)]
                raise UserError("42804", "the script returned a row of %d"
                                " values, but the output declares %d columns"
                                % (len(row), ncols))
            rows.append(tuple(_scalar(v) for v in row))
        return rows
    if ncols != 1:
        raise UserError("42804", "the script returned one value, but the"
                        " output declares %d columns" % ncols)
    return [(_scalar(result),)]


def _scalar(value):
    """A plain Python value for SQL; NaN, NaT and NA become None."""
    import numpy as np

    if value is None or isinstance(value, (str, bytes, bool, int)):
        return value
    try:
        import pandas as pd
        if pd.isna(value) is True:
            return None
    except (TypeError, ValueError):
        pass
    if isinstance(value, np.generic):
        return value.item()
    return value


# -- errors ------------------------------------------------------------------

# SQLSTATEs a script may raise: exactly five of [0-9A-Z], and an error
# class.  Classes 00 (success), 01 (warning) and 02 (no data) are not errors;
# 57 (operator intervention: cancel, shutdown) and XX (internal error) would
# tell the client the server did something it did not.
_SQLSTATE = re.compile(r"[0-9A-Z]{5}")
_NOT_RAISABLE = ("00", "01", "02", "57", "XX")


def valid_sqlstate(code):
    """Is code an SQLSTATE a script's exception may carry?"""
    return (type(code) is str and _SQLSTATE.fullmatch(code) is not None
            and code[:2] not in _NOT_RAISABLE)


# The most characters of an error's message (and hint), and of its detail
# or traceback, passed on: the rest would flood the client and the log.
_MESSAGE_MAX = 8192
_DETAIL_MAX = 32768


def _cap(text, limit):
    """text cut to limit characters, saying how many were left out."""
    if not isinstance(text, str) or len(text) <= limit:
        return text
    return "%s... (%d more characters)" % (text[:limit], len(text) - limit)


def format_exception(etype, value, tb, scr_name):
    """(message, traceback, sqlstate, detail, hint) for an SQL error.

    An exception's own .sqlstate is kept when it names an error class (see
    valid_sqlstate); any other value gives 38000 with the value in the
    detail.  MemoryError gives 53200 (out of memory).  Long texts are cut
    (_MESSAGE_MAX, _DETAIL_MAX)."""
    message, trace, sqlstate, detail, hint = _format_exception(
        etype, value, tb, scr_name)
    return (_cap(message, _MESSAGE_MAX), _cap(trace, _DETAIL_MAX), sqlstate,
            _cap(detail, _DETAIL_MAX), _cap(hint, _MESSAGE_MAX))


def _format_exception(etype, value, tb, scr_name):
    """format_exception's tuple, before cutting."""
    refused = None
    try:
        sqlstate = getattr(value, "sqlstate", None)
    except Exception:           # a property that raises
        sqlstate, refused = None, "(unreadable)"
    if sqlstate is not None and not valid_sqlstate(sqlstate):
        try:
            refused = repr(sqlstate)[:64]
        except Exception:       # a hostile __repr__
            refused = "an object of type %s" % type(sqlstate).__name__
        sqlstate = None
    frames = _extract_frames(tb) if tb is not None else []
    here = __file__.rstrip("c")
    frames = [f for f in frames if f.filename != here]
    trace = None
    if frames:
        trace = "Traceback (most recent call last):\n" + "".join(
            traceback.format_list(frames)).rstrip("\n")
    if isinstance(value, UserError):
        return (value.message, None, sqlstate, value.detail, value.hint)
    if sqlstate is not None:
        message = getattr(value, "message", None) or str(value)
        return (message, trace, sqlstate, getattr(value, "detail", None),
                getattr(value, "hint", None))
    message = "".join(traceback.format_exception_only(etype, value)).strip()
    if scr_name:
        message = "script \"%s\" failed: %s" % (scr_name, message)
    if refused is not None:
        note = ("The exception's sqlstate %s is not one a script may raise"
                " (five of 0-9 and A-Z, of an error class other than 57 or XX),"
                " so SQLSTATE 38000 was used." % refused)
        return (message, note if trace is None else note + "\n" + trace,
                None, None, None)
    if isinstance(value, MemoryError):
        return (message, trace, "53200", None, None)
    return (message, trace, None, None, None)
