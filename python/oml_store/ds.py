"""oml.ds: datastores of Python objects.

A datastore is a named set of Python objects belonging to the database role
that saved it.  Objects are pickled here (highest protocol) and stored by the
server as bytes, in chunks of :data:`CHUNK_SIZE`, so an object has no size
limit.  The rules (names, privileges, overwrite/append, grants) are the
server's: these functions check argument types and leave everything else to
the extension's SQL functions.

Each function is one database transaction: an error leaves nothing behind.

In a client, :func:`save` and :func:`load` of large objects show a progress
bar in interactive use (IPython, Jupyter, the interactive prompt) or with
``progress=True`` (see :mod:`oml_store._progress`); inside the server
``progress`` is ignored.
"""

from __future__ import annotations

import io
import pickle
import queue
import struct
import sys
import threading
import zlib
from typing import TYPE_CHECKING, Any, Iterable, Optional, Union

from ._backend import get_backend
from ._errors import OMLError
from ._checks import check_bool, check_str
from . import _unpickler
from . import _progress
from ._progress import Progress

if TYPE_CHECKING:
    import pandas

__all__ = ["save", "load", "dir", "describe", "delete", "CHUNK_SIZE",
           "TRUST_ALL"]

#: Bytes per chunk sent to or read from the server.
CHUNK_SIZE = 8 * 1024 * 1024

#: The default of ``load(..., trusted=None)`` in a client: True unpickles
#: every readable object without restriction (see :func:`load`).
TRUST_ALL = False

# Binary COPY framing (PostgreSQL's documented COPY BINARY format).
_COPY_SIGNATURE = b"PGCOPY\n\xff\r\n\x00"
_COPY_HEADER = _COPY_SIGNATURE + struct.pack("!ii", 0, 0)
_COPY_TRAILER = struct.pack("!h", -1)
_COPY_IN = "COPY oml.datastore_chunk_in (obj_id, data) FROM STDIN (FORMAT binary)"

_BUILTIN_MODULE = "builtins"

_DESCRIBE_COLUMNS = ("object_name", "class", "size", "length", "row_count",
                     "col_count")

_DIR_ALL_COLUMNS = ("owner", "datastore_name", "object_count", "size", "date",
                    "description", "grantee")
_DIR_OWN = ("datastore_name", "object_count", "size", "date", "description")
_DIR_COLUMNS = {
    "user": _DIR_OWN,
    "grantable": _DIR_OWN,
    "private": _DIR_OWN,
    "all": ("owner",) + _DIR_OWN,
    "granted": ("owner",) + _DIR_OWN,
    "grant": ("datastore_name", "grantee"),
}


# -- argument checks ----------------------------------------------------------

def _name_list(objs):
    """objs (None, a name, or an iterable of names) as None or a list."""
    if objs is None:
        return None
    if isinstance(objs, str):
        return [objs]
    if isinstance(objs, (bytes, dict)) or not hasattr(objs, "__iter__"):
        raise TypeError("objs must be a str or a list of str, not %s"
                        % type(objs).__name__)
    names = list(objs)
    for n in names:
        if not isinstance(n, str):
            raise TypeError("objs must contain only str, not %s"
                            % type(n).__name__)
    return names


# -- what describe shows ------------------------------------------------------

def _class_name(obj):
    """Fully qualified class name; built-in classes by their bare name."""
    cls = type(obj)
    module = getattr(cls, "__module__", None)
    qualname = getattr(cls, "__qualname__", cls.__name__)
    if not module or module == _BUILTIN_MODULE:
        return qualname
    return module + "." + qualname


def _is_data_frame(obj):
    # No pandas import: an object can only be a DataFrame if pandas is loaded.
    pd = sys.modules.get("pandas")
    return pd is not None and isinstance(obj, pd.DataFrame)


def _shape(obj):
    """(length, row_count, col_count) as describe reports them."""
    if _is_data_frame(obj):
        nrow, ncol = obj.shape
        return nrow, nrow, ncol
    if isinstance(obj, (list, dict)):
        n = len(obj)
        return n, 1, n
    return 1, 1, 1


# -- save ---------------------------------------------------------------------

class _ChunkWriter:
    """A binary file that sends what is written as chunks of chunk_size.

    pickle.Pickler writes large payloads (a NumPy array's data, a long bytes
    object) in one call with the object's own buffer: those are sliced into
    chunks without being copied, so saving needs little memory beyond the
    object itself.  Small writes are gathered into a buffer.
    """

    def __init__(self, send, chunk_size):
        self._send = send
        self._chunk_size = chunk_size
        self._pending = bytearray()
        self.total = 0

    def write(self, data):
        if isinstance(data, pickle.PickleBuffer):
            view = data.raw()
        else:
            view = memoryview(data).cast("B")
        with view:
            n = len(view)
            pos = 0
            if self._pending:
                pos = min(n, self._chunk_size - len(self._pending))
                self._pending += view[:pos]
                if len(self._pending) == self._chunk_size:
                    self._send(self._pending)
                    self._pending = bytearray()
            while n - pos >= self._chunk_size:
                self._send(view[pos:pos + self._chunk_size])
                pos += self._chunk_size
            if pos < n:
                self._pending += view[pos:]
        self.total += n
        return n

    def close(self):
        """Send what is left."""
        if self._pending:
            self._send(self._pending)
            self._pending = bytearray()


class _ZlibWriter:
    """A binary file that zlib-compresses into another one."""

    def __init__(self, inner):
        self._inner = inner
        self._compressor = zlib.compressobj()

    def write(self, data):
        if isinstance(data, pickle.PickleBuffer):
            data = data.raw()
        out = self._compressor.compress(data)
        if out:
            self._inner.write(out)
        with memoryview(data) as view:
            return view.nbytes

    def close(self):
        self._inner.write(self._compressor.flush())
        self._inner.close()


class _CountingWriter:
    """A binary file that counts what goes through it on a Progress."""

    def __init__(self, inner, bar):
        self._inner = inner
        self._bar = bar

    def write(self, data):
        n = self._inner.write(data)
        self._bar.update(n)
        return n


def _estimate(obj):
    """The pickled size of obj when it is about its data's size (bytes,
    NumPy arrays and pandas objects of plain dtypes), else None."""
    if isinstance(obj, (bytes, bytearray)):
        return len(obj)
    if isinstance(obj, str):
        return len(obj)
    np = sys.modules.get("numpy")
    if np is not None and isinstance(obj, np.ndarray):
        return None if obj.dtype.hasobject else int(obj.nbytes)
    pd = sys.modules.get("pandas")
    if pd is not None and isinstance(obj, (pd.DataFrame, pd.Series)):
        dtypes = obj.dtypes if isinstance(obj, pd.DataFrame) else [obj.dtype]
        if any(getattr(d, "hasobject", True) for d in dtypes):
            return None
        usage = obj.memory_usage(index=True)
        return int(usage.sum() if isinstance(obj, pd.DataFrame) else usage)
    return None


def _put(backend, ds_id, obj_name, obj, compression, bar):
    """Pickle one object, streaming its bytes to the server in chunks.

    The bytes stored are exactly ``pickle.dumps(obj, HIGHEST_PROTOCOL)``
    (zlib-compressed with ``compression``).  bar counts the pickled bytes
    (before compression).
    """
    length, nrow, ncol = _shape(obj)
    [[obj_id]] = backend.query(
        "SELECT oml.ds_put_object(%s, %s, %s, %s, %s, %s, %s)",
        (ds_id, obj_name, _class_name(obj), length, nrow, ncol,
         "zlib" if compression else "none"))
    stored = []

    if hasattr(backend, "copy_in"):
        # Binary COPY carries the bytes as they are: no hex escaping.
        def send(chunk):
            backend.copy_in(_COPY_IN, [
                _COPY_HEADER, struct.pack("!hiqi", 2, 8, obj_id, len(chunk)),
                chunk, _COPY_TRAILER])
            stored.append(stored[-1] + len(chunk) if stored else len(chunk))
    else:
        def send(chunk):
            [[size]] = backend.query("SELECT oml.ds_put_chunk(%s, %s)",
                                     (obj_id, chunk))
            stored.append(size)

    chunks = _ChunkWriter(send, CHUNK_SIZE)
    out = _ZlibWriter(chunks) if compression else chunks
    pickle.Pickler(_CountingWriter(out, bar),
                   protocol=pickle.HIGHEST_PROTOCOL).dump(obj)
    out.close()
    if hasattr(backend, "copy_in"):
        [[size]] = backend.query(
            "SELECT size FROM oml.datastore_object"
            " WHERE id OPERATOR(pg_catalog.=) %s", (obj_id,))
        stored.append(size)
    if not stored or stored[-1] != chunks.total:
        raise OMLError("object \"%s\" was stored with %d bytes instead of %d"
                       % (obj_name, stored[-1] if stored else 0,
                          chunks.total))


def save(objs: dict[str, Any], name: str, description: Optional[str] = None,
         grantable: bool = False, overwrite: bool = False,
         append: bool = False, compression: bool = False, *,
         versioned: Optional[bool] = None,
         progress: Optional[bool] = None) -> None:
    """Save Python objects to a datastore of the current role.

    Parameters
    ----------
    objs : dict
        Objects to save, by name: a non-empty dict of str to picklable
        objects.
    name : str
        Name of the datastore (1 to 128 characters, no control characters,
        no leading or trailing space).
    description : str, optional
        Text describing the datastore.  Ignored with ``append=True``.
    grantable : bool, default False
        Whether the datastore may be shared with other roles through
        :func:`oml.grant`.  Ignored with ``append=True``.
    overwrite : bool, default False
        Replace an existing datastore of that name: its objects, description
        and grantable flag; its creation date is reset, and its grants are
        kept only if it stays grantable.
    append : bool, default False
        Add the objects to an existing datastore (one of the same name is
        replaced); the datastore is created if it does not exist.  Cannot be
        combined with ``overwrite``.
    compression : bool, default False
        Compress the pickled objects with zlib.
    progress : bool, optional
        Show a progress bar of the bytes sent (tqdm, on stderr): True
        always, False never; by default (None) only in interactive use
        (IPython, Jupyter, the interactive prompt) and once more than
        8 MB have been sent.  The total shown is an estimate for NumPy
        arrays, bytes and pandas objects of plain dtypes, unknown for other
        objects.  Ignored inside the server.  Not in OML4Py.
    versioned : bool, optional
        True: keep versions -- this overwrite and every later one keep the
        objects they replace as a version, loadable with ``load(...,
        version=n)`` or through an alias; False: stop keeping them; None
        (the default): as the datastore is (new ones are not versioned,
        as in OML4Py).  Not in OML4Py.

    Returns
    -------
    None

    Raises
    ------
    TypeError
        ``objs`` is not a dict, a key is not a str, ``name`` or
        ``description`` is not a str, or a flag is not a bool.
    ValueError
        ``objs`` is empty.
    OMLError
        From the server: the datastore exists and neither ``overwrite`` nor
        ``append`` is set (SQLSTATE 42710), both are set (22023), or a
        datastore or object name is invalid.
    pickle.PicklingError, TypeError, AttributeError
        An object cannot be pickled.

    Any error leaves the database as it was: the whole save is one
    transaction.
    """
    if not isinstance(objs, dict):
        raise TypeError("objs must be a dict of names to objects, not %s"
                        % type(objs).__name__)
    if not objs:
        raise ValueError("objs must not be empty")
    for key in objs:
        if not isinstance(key, str):
            raise TypeError("object names must be str, not %s"
                            % type(key).__name__)
    check_str(name, "name")
    check_str(description, "description", optional=True)
    check_bool(grantable, "grantable")
    check_bool(overwrite, "overwrite")
    check_bool(append, "append")
    check_bool(compression, "compression")
    check_bool(progress, "progress", optional=True)

    backend = get_backend()
    if _in_server(backend) or (progress is None
                               and not _progress.interactive()):
        progress = False
    total = 0
    for obj in objs.values():
        size = _estimate(obj) if progress is not False else None
        if size is None:
            total = None
            break
        total += size
    with Progress(progress, "save %s" % name, total) as bar, \
            backend.transaction():
        [[ds_id]] = backend.query(
            "SELECT oml.ds_save_begin(%s, %s, %s, %s, %s)"
            if versioned is None else
            "SELECT oml.ds_save_begin(%s, %s, %s, %s, %s, %s)",
            (name, description, grantable, overwrite, append)
            + (() if versioned is None else (versioned,)))
        for obj_name, obj in objs.items():
            bar.postfix(obj_name)
            _put(backend, ds_id, obj_name, obj, compression, bar)


# -- load ---------------------------------------------------------------------

class _CopyReader:
    """Parses binary COPY output of one bytea column, handing the payload
    to sink(memoryview) piece by piece; at most size bytes of it."""

    def __init__(self, size, sink):
        self.size = size
        self.sink = sink
        self.pos = 0                # bytes of payload handed on
        self._pending = b""         # an incomplete header or length
        self._left = 0              # payload bytes still due for this field
        self._header = True
        self.done = False

    def write(self, data):
        view = memoryview(data).cast("B")
        if self._pending:
            view = memoryview(self._pending + bytes(view))
            self._pending = b""
        i, n = 0, len(view)
        while i < n:
            if self._left:
                take = min(self._left, n - i)
                end = self.pos + take
                if end > self.size:
                    raise OMLError("object is larger than its recorded size",
                                   sqlstate="XX001")
                self.sink(view[i:i + take])
                self.pos, self._left, i = end, self._left - take, i + take
                continue
            if self._header:
                if n - i < 19:
                    break
                if bytes(view[i:i + 11]) != _COPY_SIGNATURE:
                    raise OMLError("unexpected COPY data from the server")
                ext = struct.unpack("!i", view[i + 15:i + 19])[0]
                if n - i < 19 + ext:
                    break
                i += 19 + ext
                self._header = False
                continue
            if n - i < 2:
                break
            nfields = struct.unpack("!h", view[i:i + 2])[0]
            if nfields == -1:
                self.done = True
                i += 2
                continue
            if n - i < 6:
                break
            length = struct.unpack("!i", view[i + 2:i + 6])[0]
            i += 6
            if length < 0:
                raise OMLError("a chunk of the object is NULL",
                               sqlstate="XX001")
            self._left = length
        if i < n:
            self._pending = bytes(view[i:])
        return len(data)


class _CopyStream(io.RawIOBase):
    """One object's bytes, read with binary COPY, as a raw binary file.

    A thread runs the COPY (psycopg2 releases the GIL while it waits for
    the network) and queues the payload as it arrives; the caller
    unpickles from this file at the same time.  So the bytes are never
    whole in the client's memory (at most _STREAM_QUEUE pieces wait), and
    reading overlaps unpickling.  bar counts the bytes read.
    """

    def __init__(self, backend, sql, size, bar):
        super().__init__()
        self._queue = queue.Queue(_STREAM_QUEUE)
        self._piece = memoryview(b"")
        self._abandoned = False
        self._ended = False
        self._error = None
        self._bar = bar
        self.reader = _CopyReader(size, self._put)
        self._thread = threading.Thread(target=self._run, args=(backend, sql),
                                        name="oml_store load", daemon=True)
        self._thread.start()

    def _put(self, piece):
        if not self._abandoned:
            self._queue.put(piece)

    def _run(self, backend, sql):
        try:
            backend.copy_out(sql, self.reader.write)
        except BaseException as exc:    # raised in the reading thread
            self._error = exc
        finally:
            self._queue.put(None)

    def readable(self):
        return True

    def readinto(self, buffer):
        with memoryview(buffer) as view, view.cast("B") as out:
            n = 0
            while n < len(out):
                if not self._piece:
                    if self._ended:
                        break
                    piece = self._queue.get()
                    if piece is None:
                        self._end()
                        break
                    self._piece = piece
                take = min(len(self._piece), len(out) - n)
                out[n:n + take] = self._piece[:take]
                self._piece = self._piece[take:]
                n += take
        self._bar.update(n)
        return n

    def _end(self):
        """The COPY is over: raise its error, if any."""
        self._ended = True
        self._thread.join()
        error, self._error = self._error, None
        if error is not None:
            raise error

    def finish(self):
        """Read what the unpickler left and end the COPY; whether the
        object's bytes added up to its size."""
        while self.readinto(bytearray(1 << 16)):
            pass
        return self.reader.pos == self.reader.size and self.reader.done

    def abandon(self):
        """End the COPY without reading on (after an error)."""
        if self._ended:
            return
        self._abandoned = True
        while self._queue.get() is not None:
            pass
        self._ended = True
        self._thread.join()


#: Pieces of COPY payload (about a chunk each) waiting to be unpickled.
_STREAM_QUEUE = 4


def _damaged(obj_name, size):
    return OMLError("object \"%s\" is damaged: its chunks do not add up to"
                    " its size of %d bytes" % (obj_name, size),
                    sqlstate="XX001")


def _short(backend, obj_name, obj_id, size):
    """The error for an object whose chunks came up short: damaged, or,
    in a caller's read committed transaction (where each statement of a
    load has a snapshot of its own), overwritten or deleted by a
    transaction that committed after the objects were listed."""
    [[listed]] = backend.query(
        "SELECT EXISTS (SELECT FROM oml.datastore_object"
        " WHERE id OPERATOR(pg_catalog.=) %s)", (obj_id,))
    if listed:
        return _damaged(obj_name, size)
    return OMLError("object \"%s\" was overwritten or deleted while it was"
                    " being loaded" % obj_name, sqlstate="40001",
                    hint="Load it again, or load it in a REPEATABLE READ"
                         " transaction, where a load reads from one"
                         " snapshot.")


def _load_streamed(backend, obj_name, obj_id, size, compression, restricted,
                   bar, kept=False):
    """One object unpickled while its chunks are read with COPY (kept: of a
    kept version, in oml.datastore_version_chunk)."""
    _check_compression(compression)
    table = "datastore_version_chunk" if kept else "datastore_chunk"
    stream = _CopyStream(
        backend,
        "COPY (SELECT data FROM oml.%s"
        " WHERE obj_id OPERATOR(pg_catalog.=) %d ORDER BY seq)"
        " TO STDOUT (FORMAT binary)" % (table, int(obj_id)), size, bar)
    try:
        try:
            obj = _unpickle_file(stream, compression, restricted)
        except OMLError:
            raise                       # the COPY's own error
        except Exception:
            # Bytes that do not add up explain a failed unpickling best.
            if not stream.finish():
                raise _short(backend, obj_name, obj_id, size) from None
            raise
        if not stream.finish():
            raise _short(backend, obj_name, obj_id, size)
        return obj
    finally:
        stream.abandon()


def _in_server(backend):
    """Whether backend is the server's (SPI) one."""
    return hasattr(backend, "load_objects")


def _read(backend, obj_name, obj_id, size, nchunks, bar, kept=False):
    """The stored bytes of one object (kept: of a kept version, in
    oml.datastore_version_chunk), fetched one chunk at a time (for a
    backend without COPY); bar counts them."""
    buf = bytearray(size)
    pos = 0
    for seq in range(nchunks):
        [[chunk]] = (backend.query("SELECT oml.ds_get_chunk(%s, %s)",
                                   (obj_id, seq)) if not kept else
                     backend.query("SELECT data FROM oml.datastore_version_chunk"
                                   " WHERE obj_id OPERATOR(pg_catalog.=) %s"
                                   " AND seq OPERATOR(pg_catalog.=) %s",
                                   (obj_id, seq)))
        n = len(chunk)
        if pos + n > size:
            break
        buf[pos:pos + n] = chunk        # same length: copied in place
        pos += n
        bar.update(n)
        del chunk
    if pos != size:
        raise OMLError("object \"%s\" is damaged: its chunks do not add up to"
                       " its size of %d bytes" % (obj_name, size),
                       sqlstate="XX001")
    return buf


def _check_compression(compression):
    if compression not in ("none", "zlib"):
        raise OMLError("unknown compression \"%s\"" % compression)


def _unpickle(data, compression, restricted=False):
    _check_compression(compression)
    if compression == "zlib":
        data = zlib.decompress(data)
    if restricted:
        return _unpickler.loads(data)
    return pickle.loads(data)


def _unpickle_file(raw, compression, restricted=False):
    """Unpickle from the raw binary file raw (zlib-compressed with
    compression); large payloads such as a NumPy array's data are read
    straight into place."""
    _check_compression(compression)
    stream = io.BufferedReader(raw)
    if compression == "zlib":
        stream = io.BufferedReader(_InflateReader(stream))
    if restricted:
        return _unpickler.RestrictedUnpickler(stream).load()
    return pickle.load(stream)


class _FillReader(io.RawIOBase):
    """A raw binary file over fill(buffer), the server's reader of one
    object's chunks (see _oml.load_objects)."""

    def __init__(self, fill):
        super().__init__()
        self._fill = fill

    def readable(self):
        return True

    def readinto(self, buffer):
        return self._fill(buffer)


class _InflateReader(io.RawIOBase):
    """A raw binary file that zlib-decompresses another one."""

    def __init__(self, inner):
        super().__init__()
        self._inner = inner
        self._inflate = zlib.decompressobj()

    def readable(self):
        return True

    def readinto(self, buffer):
        with memoryview(buffer) as view, view.cast("B") as out:
            while True:
                if self._inflate.unconsumed_tail:
                    data = self._inflate.unconsumed_tail
                elif self._inflate.eof:
                    return 0
                else:
                    data = self._inner.read(_INFLATE_INPUT)
                    if not data:
                        raise zlib.error("incomplete or truncated stream")
                data = self._inflate.decompress(data, len(out))
                if data:
                    out[:len(data)] = data
                    return len(data)


#: Compressed bytes decompressed at a time by a streaming load.
_INFLATE_INPUT = 1 << 20


def _unpickle_stream(fill, compression):
    """One object unpickled (in the server) as its chunks arrive through
    fill: large payloads such as a NumPy array's data are read straight
    into place, so a load needs about the object's size, not twice it."""
    return _unpickle_file(_FillReader(fill), compression)


def load(name: str, objs: Union[str, Iterable[str], None] = None,
         owner: Optional[str] = None, to_globals: bool = True,
         trusted: Optional[bool] = None, *,
         progress: Optional[bool] = None, version: Optional[int] = None,
         alias: Optional[str] = None) -> Union[list[str], dict[str, Any]]:
    """Load Python objects from a datastore.

    Parameters
    ----------
    name : str
        Name of the datastore.
    objs : str or list of str, optional
        Names of the objects to load; all of them by default.  Naming an
        object the datastore does not hold is an error.
    owner : str, optional
        Role that owns the datastore; the current role by default.  Another
        role's datastore can be loaded when it was granted to the current
        role (directly, through a group role, or to PUBLIC), and by
        superusers.
    to_globals : bool, default True
        If True, bind each object to its name in the caller's global
        namespace and return the names; if False, return the objects in a
        dict.
    trusted : bool, optional
        In a client: whether to unpickle objects written by a role that is
        neither the current role nor trusted (a superuser or a member of
        ``oml_developer``) without restriction.  By default
        (:data:`TRUST_ALL`, False) such objects are unpickled with a
        restricted unpickler that only builds well-known classes of the
        standard library, NumPy, pandas, SciPy, scikit-learn and oml_store,
        and raises ``pickle.UnpicklingError`` for anything else.  Inside
        the server the extension decides instead: only objects written by
        trusted roles are loaded there, whatever ``trusted`` says.
    progress : bool, optional
        Show a progress bar of the bytes read (tqdm, on stderr): True
        always, False never; by default (None) only in interactive use
        (IPython, Jupyter, the interactive prompt) when the objects to load
        hold more than 8 MB.  Ignored inside the server.  Not in OML4Py.
    version : int, optional
        Load this version of a versioned datastore (see ``versioned`` of
        :func:`save`) instead of the current one.  Not in OML4Py.
    alias : str, optional
        Load the version this alias names (``oml.ds_alias_set``).  Not in
        OML4Py.  An unknown version or alias is SQLSTATE 42704.

    Returns
    -------
    list of str or dict
        The names of the objects loaded (``to_globals=True``) or a dict of
        name to object (``to_globals=False``), in the order of their names.

    Raises
    ------
    TypeError
        An argument has the wrong type.
    OMLError
        From the server: the datastore or a named object does not exist
        (SQLSTATE 42704), the datastore is not readable (42501), or, inside
        the server, an object was not written by a trusted role (42501);
        an object's chunks do not add up to its size (XX001); in a client
        whose own read committed transaction is open, an object was
        overwritten or deleted between listing and reading (40001).
    pickle.UnpicklingError
        A restricted load met a class outside the allow-list.
    """
    check_str(name, "name")
    names = _name_list(objs)
    check_str(owner, "owner", optional=True)
    check_bool(to_globals, "to_globals")
    check_bool(trusted, "trusted", optional=True)
    check_bool(progress, "progress", optional=True)
    if version is not None and (not isinstance(version, int)
                                or isinstance(version, bool)):
        raise TypeError("version must be an int or None, not %s"
                        % type(version).__name__)
    check_str(alias, "alias", optional=True)
    if version is not None and alias is not None:
        raise TypeError("give version or alias, not both")
    caller_globals = sys._getframe(1).f_globals if to_globals else None
    if trusted is None:
        trusted = TRUST_ALL

    backend = get_backend()
    loaded = {}
    if hasattr(backend, "load_objects"):
        # In the server: the extension reads the bytes and decides trust.
        # Streamed: each object is unpickled from its chunks as they are
        # read, so its bytes are never whole in the backend's memory.
        loaded = dict(backend.load_objects(name, owner, names, _unpickle_stream)
                      if version is None and alias is None else
                      backend.load_objects(name, owner, names, _unpickle_stream,
                                           version, alias))
    else:
        # One snapshot: the objects listed are the ones whose chunks are read.
        with backend.transaction(snapshot=True):
            if version is None and alias is None:
                rows = backend.query(
                    "SELECT object_name, object_id, size, nchunks, compression,"
                    " trusted, writer OPERATOR(pg_catalog.=) CURRENT_USER, false"
                    " FROM oml.ds_objects(%s, %s, %s::pg_catalog.text[])",
                    (name, owner, names))
            else:
                rows = backend.query(
                    "SELECT object_name, object_id, size, nchunks, compression,"
                    " trusted, writer OPERATOR(pg_catalog.=) CURRENT_USER, kept"
                    " FROM oml.ds_version_objects(%s, %s, %s::pg_catalog.text[],"
                    " %s, %s)", (name, owner, names, version, alias))
            with Progress(progress, "load %s" % name,
                          sum(r[2] for r in rows)) as bar:
                for (obj_name, obj_id, size, nchunks, compression,
                     writer_trusted, own, kept) in rows:
                    bar.postfix(obj_name)
                    restricted = not (trusted or writer_trusted or own)
                    if hasattr(backend, "copy_out"):
                        loaded[obj_name] = _load_streamed(
                            backend, obj_name, obj_id, size, compression,
                            restricted, bar, kept)
                        continue
                    data = _read(backend, obj_name, obj_id, size, nchunks,
                                 bar, kept)
                    loaded[obj_name] = _unpickle(data, compression,
                                                 restricted)
                    del data

    if not to_globals:
        return loaded
    caller_globals.update(loaded)
    return list(loaded)


# -- dir, describe ------------------------------------------------------------

def _frame(rows, columns, ints=(), dates=()):
    import pandas as pd

    df = pd.DataFrame.from_records(rows, columns=columns)
    for col in ints:
        df[col] = df[col].astype("int64")
    for col in dates:
        df[col] = pd.to_datetime(df[col], utc=True)
    return df


def dir(name: Optional[str] = None, regex_match: bool = False,
        dstype: str = "user") -> pandas.DataFrame:
    """List datastores.

    Parameters
    ----------
    name : str, optional
        Name of a datastore to list, or, with ``regex_match=True``, a regular
        expression (PostgreSQL syntax) found anywhere in the names listed.
        All datastores by default.
    regex_match : bool, default False
        Whether ``name`` is a regular expression.
    dstype : str, default 'user'
        Which datastores:

        - ``'user'``: the current role's own;
        - ``'grantable'``: own ones saved with ``grantable=True``;
        - ``'private'``: own ones saved with ``grantable=False``;
        - ``'grant'``: own ones granted to others, one row per grantee
          (``PUBLIC`` for everyone);
        - ``'granted'``: other roles' datastores the current role can read;
        - ``'all'``: own ones and the ones the current role can read.

    Returns
    -------
    pandas.DataFrame
        Columns ``datastore_name, object_count, size, date, description``
        (``'all'`` and ``'granted'`` add ``owner`` first; ``'grant'`` has
        ``datastore_name, grantee``), sorted by name in byte order (by owner,
        then name, for ``'all'`` and ``'granted'``).  ``size`` is the total
        stored size of the objects in bytes; ``date`` is the creation date
        (UTC).

    Raises
    ------
    TypeError
        An argument has the wrong type.
    OMLError
        From the server: an unknown ``dstype`` or a bad regular expression
        (SQLSTATE 22023, 2201B).
    """
    check_str(name, "name", optional=True)
    check_bool(regex_match, "regex_match")
    check_str(dstype, "dstype")

    backend = get_backend()
    with backend.transaction():
        rows = backend.query(
            "SELECT owner, datastore_name, object_count, size, date,"
            " description, grantee FROM oml.ds_dir(%s, %s, %s)",
            (name, regex_match, dstype))
    df = _frame([tuple(r) for r in rows], _DIR_ALL_COLUMNS,
                ints=("object_count", "size"), dates=("date",))
    return df[list(_DIR_COLUMNS.get(dstype.lower(), _DIR_ALL_COLUMNS))]


def describe(name: str, owner: Optional[str] = None) -> pandas.DataFrame:
    """Describe the objects of a datastore, without loading them.

    Parameters
    ----------
    name : str
        Name of the datastore.
    owner : str, optional
        Role that owns the datastore; the current role by default.

    Returns
    -------
    pandas.DataFrame
        One row per object, sorted by name in byte order, with columns
        ``object_name, class, size, length, row_count, col_count``: the
        fully qualified class name (built-in classes by their bare name,
        e.g. ``list``), the stored size in bytes, ``len()`` for lists, dicts
        and DataFrames (else 1), the number of rows of a DataFrame (else 1),
        and the number of columns of a DataFrame or ``len()`` of a list or
        dict (else 1), all recorded when the object was saved.

    Raises
    ------
    TypeError
        An argument has the wrong type.
    OMLError
        From the server: the datastore does not exist (SQLSTATE 42704) or is
        not readable (42501).
    """
    check_str(name, "name")
    check_str(owner, "owner", optional=True)

    backend = get_backend()
    with backend.transaction():
        rows = backend.query(
            "SELECT object_name, class, size, length, row_count, col_count"
            " FROM oml.ds_describe(%s, %s)", (name, owner))
    return _frame([tuple(r) for r in rows], _DESCRIBE_COLUMNS,
                  ints=("size", "length", "row_count", "col_count"))


# -- delete -------------------------------------------------------------------

def delete(name: str, objs: Union[str, Iterable[str], None] = None,
           regex_match: bool = False) -> int:
    """Delete a datastore, some of its objects, or matching datastores.

    Parameters
    ----------
    name : str
        Name of one of the current role's datastores, or with
        ``regex_match=True`` a regular expression (found anywhere in the
        name): every own datastore whose name matches is deleted.
    objs : str or list of str, optional
        Delete only these objects of the datastore; names it does not hold
        are skipped.  Cannot be combined with ``regex_match``.
    regex_match : bool, default False
        Whether ``name`` is a regular expression.

    Returns
    -------
    int
        The number of datastores (or, with ``objs``, objects) deleted.  When
        it is 0 the server's warning is issued as a ``UserWarning``.

    Raises
    ------
    TypeError
        An argument has the wrong type.
    OMLError
        From the server: the datastore does not exist (SQLSTATE 42704), or
        ``objs`` was given with ``regex_match`` (22023).
    """
    check_str(name, "name")
    names = _name_list(objs)
    check_bool(regex_match, "regex_match")

    backend = get_backend()
    with backend.transaction():
        [[n]] = backend.query("SELECT oml.ds_delete(%s, %s::pg_catalog.text[], %s)",
                              (name, names, regex_match))
    return n
