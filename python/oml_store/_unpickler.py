"""A restricted unpickler for objects written by roles the client does not trust.

Unpickling runs code: a pickle names callables (any function or class of any
module) and the arguments to call them with.  oml.ds.load in a client
unpickles an object without restriction only when it was written by the
current role or by a trusted role (a superuser or a member of
``oml_developer``), or when told to trust it.  Anything else goes through
:func:`loads`, which only builds classes from an allow-list:

* plain data types of the standard library (``builtins``' containers and
  numbers, ``collections``, ``datetime``, ``decimal``, ``fractions``,
  ``uuid``, ``zoneinfo``) and ``copyreg._reconstructor``;
* classes of NumPy (not ``memmap``, which opens files), pandas' data
  structures (``pandas.core`` frames, series, indexes, arrays, blocks and
  dtypes, ``pandas._libs``), SciPy's sparse matrices, scikit-learn, pytz
  time zones and oml_store, plus the reconstruction functions these
  libraries pickle (``numpy.core.multiarray._reconstruct``, pandas'
  ``_new_Index``, ``_unpickle_block``, ...).

This is defence in depth, not a sandbox: it stops the well-known pickle
payloads (``os.system``, ``subprocess``, ``eval``, ``builtins.getattr``...),
but a class on the list could still misbehave when built from hostile
arguments.  Load objects of roles you do not trust with care.
"""

import io
import pickle

__all__ = ["loads", "RestrictedUnpickler"]

_BUILTINS = frozenset((
    "bool", "int", "float", "complex", "str", "bytes", "bytearray", "list",
    "tuple", "dict", "set", "frozenset", "slice", "range", "object",
))

# Exact names that are allowed whatever they are (functions included).
_NAMES = frozenset((
    ("copyreg", "_reconstructor"),
    ("collections", "OrderedDict"), ("collections", "defaultdict"),
    ("collections", "deque"), ("collections", "Counter"),
    ("datetime", "date"), ("datetime", "time"), ("datetime", "datetime"),
    ("datetime", "timedelta"), ("datetime", "timezone"),
    ("decimal", "Decimal"), ("fractions", "Fraction"), ("uuid", "UUID"),
    ("zoneinfo", "ZoneInfo"), ("zoneinfo._zoneinfo", "ZoneInfo"),
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy.core.multiarray", "scalar"),
    ("numpy.core.numeric", "_frombuffer"),
    ("numpy.ma.core", "_mareconstruct"),
    ("numpy.random._pickle", "__randomstate_ctor"),
    ("numpy.random._pickle", "__generator_ctor"),
    ("numpy.random._pickle", "__bit_generator_ctor"),
    ("pytz", "_p"), ("pytz", "_UTC"),
))

# Modules whose classes (only classes) may be built.
_CLASS_MODULES = (
    "numpy", "numpy.core.", "numpy.ma.", "numpy.random.",
    "pandas.core.frame", "pandas.core.series", "pandas.core.indexes.",
    "pandas.core.arrays.", "pandas.core.internals.", "pandas.core.dtypes.",
    "pandas._libs.", "scipy.sparse.", "sklearn.", "pytz", "pytz.",
    "oml_store", "oml_store.",
)

# Modules whose reconstruction functions (by name prefix) may be called.
_FUNCTION_MODULES = ("pandas.core.", "pandas._libs.", "scipy.sparse.")
_FUNCTION_PREFIXES = ("_new_", "_unpickle", "__pyx_unpickle")

# Classes refused even in allowed modules: building them touches files.
_DENIED = frozenset((("numpy", "memmap"), ("numpy.core.memmap", "memmap")))


def _allowed_module(module, entries):
    """Whether module is one of entries (exact, or a prefix ending in .)."""
    return any(module.startswith(e) if e.endswith(".") else module == e
               for e in entries)


class RestrictedUnpickler(pickle.Unpickler):
    """An Unpickler whose find_class only returns allow-listed names."""

    def find_class(self, module, name):
        if (module, name) in _DENIED:
            raise self._refuse(module, name)
        if module == "builtins":
            if name in _BUILTINS:
                return super().find_class(module, name)
            raise self._refuse(module, name)
        if (module, name) in _NAMES:
            return super().find_class(module, name)
        if "." in name:             # no attribute paths (a.b.c)
            raise self._refuse(module, name)
        if _allowed_module(module, _CLASS_MODULES):
            obj = super().find_class(module, name)
            if isinstance(obj, type):
                import numpy
                if issubclass(obj, numpy.memmap):
                    raise self._refuse(module, name)
                return obj
            if (_allowed_module(module, _FUNCTION_MODULES)
                    and name.startswith(_FUNCTION_PREFIXES)):
                return obj
        raise self._refuse(module, name)

    @staticmethod
    def _refuse(module, name):
        return pickle.UnpicklingError(
            "refusing to unpickle %s.%s from an object written by a role that"
            " is not trusted; pass trusted=True to oml.ds.load if you trust"
            " its writer" % (module, name))


def loads(data):
    """Unpickle data with the allow-list (see the module docstring)."""
    return RestrictedUnpickler(io.BytesIO(data)).load()
