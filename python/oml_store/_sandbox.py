"""The Python half of oml_store's sandbox (see the README, Sandbox).

Three parties use this module:

* the zygote (the program ``oml_sandbox``): :func:`zygote_prepare`
  pre-imports what scripts use, before the zygote locks anything down;
* a sandboxed child, forked from the zygote and locked down:
  :func:`child_main` serves one statement's calls of one script, with a
  ``_oml`` module whose SQL and datastore functions are requests to the
  backend;
* the backend (sandbox.c): :func:`pack` writes what goes to the child into
  a sealed memfd (pickled: the child may unpickle what the backend sends),
  :func:`unpack` reads what the child sent with :func:`decode`, a decoder
  of plain values only (never pickle: the child is not trusted), and
  :func:`serve` runs the child's requests as the calling role.

Nothing here is part of the public API.
"""

import datetime
import decimal
import fcntl
import io
import mmap
import os
import pickle
import struct
import sys

__all__ = []

# Largest payload sent inline in a message; larger ones go in a memfd.
_INLINE_MAX = 32768
# Largest memfd accepted from a child, and deepest nesting of values.
_MEMFD_MAX = 1 << 40
_DEPTH_MAX = 100

_SEALS = (fcntl.F_SEAL_SEAL | fcntl.F_SEAL_SHRINK | fcntl.F_SEAL_GROW
          | fcntl.F_SEAL_WRITE)

# numpy dtypes that cross as raw buffers (native byte order, 1-D).
_DTYPES = ("<f8", "<f4", "<i8", "<i4", "<i2", "<i1", "|i1", "<u8", "<u4",
           "<u2", "|u1", "|b1", "<M8[ns]", "<m8[ns]")


# -- memfds ------------------------------------------------------------------

def _memfd(parts):
    """A sealed memfd holding the concatenated parts; its fd."""
    fd = os.memfd_create("oml_sandbox", os.MFD_CLOEXEC | os.MFD_ALLOW_SEALING)
    try:
        for part in parts:
            view = memoryview(part).cast("B")
            while view:
                n = os.write(fd, view)
                view = view[n:]
        fcntl.fcntl(fd, fcntl.F_ADD_SEALS, _SEALS)
    except OSError as exc:
        os.close(fd)
        if exc.errno == 27:         # EFBIG: RLIMIT_FSIZE
            raise OSError(27, "the data to send (%d bytes) exceeds"
                          " oml_store.sandbox_file_size; a superuser can raise it"
                          % sum(memoryview(p).nbytes for p in parts)) from None
        raise
    except BaseException:
        os.close(fd)
        raise
    return fd


def _map(fd, check_seals):
    """An mmap of a memfd received (read-only), or None when empty."""
    st = os.fstat(fd)
    import stat
    if not stat.S_ISREG(st.st_mode):
        raise ValueError("sandbox sent a descriptor that is not a memfd")
    if check_seals and fcntl.fcntl(fd, fcntl.F_GET_SEALS) & _SEALS != _SEALS:
        raise ValueError("sandbox sent a memfd that is not sealed")
    if st.st_size > _MEMFD_MAX:
        raise ValueError("sandbox sent too much data")
    if st.st_size == 0:
        return None
    return mmap.mmap(fd, st.st_size, mmap.MAP_SHARED, mmap.PROT_READ)


# -- pickled direction (backend -> child) -------------------------------------

def _pickle_parts(obj):
    """obj pickled with its large buffers out of band: the parts to write."""
    buffers = []
    data = pickle.dumps(obj, protocol=5, buffer_callback=buffers.append)
    raws = [b.raw() for b in buffers]
    head = struct.pack("<QI", len(data), len(raws)) + b"".join(
        struct.pack("<Q", r.nbytes) for r in raws)
    parts = [head, data]
    pos = len(head) + len(data)
    for r in raws:
        pad = (-pos) % 64
        parts.append(b"\0" * pad)
        parts.append(r)
        pos += pad + r.nbytes
    return parts


def _unpickle_map(m):
    """The object in an mmap written by _pickle_parts (buffers copied)."""
    view = memoryview(m)
    try:
        size, nbuf = struct.unpack_from("<QI", view, 0)
        lens = struct.unpack_from("<%dQ" % nbuf, view, 12)
        pos = 12 + 8 * nbuf
        data = view[pos:pos + size]
        pos += size
        buffers = []
        for n in lens:
            pos += (-pos) % 64
            buffers.append(bytearray(view[pos:pos + n]))
            pos += n
        obj = pickle.loads(data, buffers=buffers)
        del data
    finally:
        view.release()
    return obj


class _Frame:
    """A DataFrame on its way to the child: numeric, boolean and datetime
    columns as arrays, text columns as one NUL-joined blob (pickling a
    million str one by one is the slow part), the rest as they are."""

    def __init__(self, df):
        import pandas as pd
        self.names = list(df.columns)
        self.cols = []
        for i in range(df.shape[1]):
            col = df.iloc[:, i]
            dtype = col.dtype
            if isinstance(dtype, pd.DatetimeTZDtype):
                self.cols.append(("tz", col.array.asi8, str(dtype.tz)))
            elif dtype != object:
                self.cols.append(("a", col.to_numpy(), None))
            else:
                values = col.tolist()
                out = []
                if len(values) > 64 and _enc_strings(values, out):
                    self.cols.append(("z", b"".join(bytes(p) for p in out), None))
                else:
                    self.cols.append(("o", values, None))

    def frame(self):
        import numpy as np
        import pandas as pd
        data = {}
        for i, (kind, values, extra) in enumerate(self.cols):
            if kind == "tz":
                values = pd.DatetimeIndex(np.asarray(values).view("M8[ns]")) \
                    .tz_localize("UTC").tz_convert(extra)
            elif kind == "z":
                values = pd.Series(decode(values), dtype=object)
            elif kind == "o":
                values = pd.Series(values, dtype=object)
            data[i] = values
        df = pd.DataFrame(data, copy=False)
        df.columns = self.names
        return df


def _frames_out(args):
    """args with each DataFrame as a _Frame."""
    pd = sys.modules.get("pandas")
    if pd is None:
        return args
    return tuple(_Frame(a) if isinstance(a, pd.DataFrame) else a for a in args)


def _frames_in(args):
    """args with each _Frame as its DataFrame again."""
    return tuple(a.frame() if isinstance(a, _Frame) else a for a in args)


def pack(obj):
    """Backend: what goes to the child, pickled: bytes when small (sent
    inline), else the fd of a sealed memfd holding it."""
    if type(obj) is tuple and len(obj) == 5 and type(obj[0]) is tuple:
        obj = (_frames_out(obj[0]),) + obj[1:]      # a call's input
    parts = _pickle_parts(obj)
    if sum(memoryview(p).nbytes for p in parts) <= _INLINE_MAX - 1024:
        return pickle.dumps(obj, protocol=5)
    return _memfd(parts)


# -- plain values (child -> backend) ------------------------------------------
#
# Tags: N None, T/F bool, i int (decimal text), f float, s str, b bytes,
# l list, t tuple, d dict, a ndarray (dtype, raw bytes), S list of str,
# D date, M datetime, E time, m timedelta, c Decimal.

def encode(obj):
    """The parts of obj in the plain format (converting what it lacks)."""
    out = []
    _enc(obj, out, 0)
    return out


def _len(n):
    return struct.pack("<Q", n)


def _enc(obj, out, depth):
    if depth > _DEPTH_MAX:
        raise RecursionError("value nested too deeply for the sandbox")
    t = type(obj)
    if obj is None:
        out.append(b"N")
    elif t is bool:
        out.append(b"T" if obj else b"F")
    elif t is int:
        s = str(obj).encode()
        out.append(b"i" + _len(len(s)) + s)
    elif t is float:
        out.append(b"f" + struct.pack("<d", obj))
    elif t is str:
        s = obj.encode("utf-8", "surrogatepass")
        out.append(b"s" + _len(len(s)) + s)
    elif t is bytes or t is bytearray:
        out.append(b"b" + _len(len(obj)))
        out.append(bytes(obj))
    elif t is list or t is tuple:
        if t is list and len(obj) > 64 and _enc_strings(obj, out):
            return
        out.append((b"l" if t is list else b"t") + _len(len(obj)))
        for x in obj:
            _enc(x, out, depth + 1)
    elif t is dict:
        out.append(b"d" + _len(len(obj)))
        for k, v in obj.items():
            _enc(k, out, depth + 1)
            _enc(v, out, depth + 1)
    else:
        _enc_other(obj, out, depth)


def _enc_strings(items, out):
    """A list of str and None as one blob: tag Z, count, a None mask (or
    none), the strings joined by NUL (when none holds one).  False when
    the list is not of that form."""
    types = set(map(type, items))
    if not types <= {str, type(None)} or str not in types:
        return False
    mask = b""
    if type(None) in types:
        import numpy as np
        mask = np.fromiter((x is None for x in items), dtype="|b1",
                           count=len(items)).tobytes()
        items = ["" if x is None else x for x in items]
    joined = "\0".join(items)
    if len(items) > 1 and joined.count("\0") != len(items) - 1:
        return False
    blob = joined.encode("utf-8", "surrogatepass")
    out.append(b"Z" + _len(len(items)) + _len(len(mask)) + mask
               + _len(len(blob)))
    out.append(blob)
    return True


def _enc_other(obj, out, depth):
    """Values of other types: numpy, pandas, datetime, Decimal, subclasses."""
    np = sys.modules.get("numpy")
    pd = sys.modules.get("pandas")
    if pd is not None and obj is pd.NaT:
        out.append(b"N")
        return
    if np is not None:
        if isinstance(obj, np.ndarray) and obj.ndim == 1 \
                and obj.dtype.str in _DTYPES:
            data = np.ascontiguousarray(obj)
            dt = data.dtype.str.encode()
            out.append(b"a" + _len(len(dt)) + dt + _len(data.nbytes))
            out.append(data)
            return
        if isinstance(obj, np.generic):
            _enc(obj.item(), out, depth + 1)
            return
        if isinstance(obj, np.ndarray):
            _enc(obj.tolist(), out, depth + 1)
            return
    if isinstance(obj, datetime.datetime):
        if pd is not None and isinstance(obj, pd.Timestamp):
            obj = obj.to_pydatetime(warn=False)
        s = obj.isoformat().encode()
        out.append(b"M" + _len(len(s)) + s)
    elif isinstance(obj, datetime.date):
        s = obj.isoformat().encode()
        out.append(b"D" + _len(len(s)) + s)
    elif isinstance(obj, datetime.time):
        s = obj.isoformat().encode()
        out.append(b"E" + _len(len(s)) + s)
    elif isinstance(obj, datetime.timedelta):
        if pd is not None and isinstance(obj, pd.Timedelta):
            obj = obj.to_pytimedelta()
        out.append(b"m" + struct.pack("<qqq", obj.days, obj.seconds,
                                      obj.microseconds))
    elif isinstance(obj, decimal.Decimal):
        s = str(obj).encode()
        out.append(b"c" + _len(len(s)) + s)
    elif isinstance(obj, bool):
        _enc(bool(obj), out, depth)
    elif isinstance(obj, int):
        _enc(int(obj), out, depth)
    elif isinstance(obj, float):
        _enc(float(obj), out, depth)
    elif isinstance(obj, str):
        _enc(str(obj), out, depth)
    elif isinstance(obj, (bytes, bytearray, memoryview)):
        _enc(bytes(obj), out, depth)
    elif isinstance(obj, (list, tuple)):
        _enc(list(obj) if isinstance(obj, list) else tuple(obj), out, depth)
    elif isinstance(obj, dict):
        _enc(dict(obj), out, depth)
    elif pd is not None and isinstance(obj, (pd.Series, pd.Index)):
        _enc(obj.tolist(), out, depth + 1)
    else:
        _enc(str(obj), out, depth)


class _Reader:
    """Decodes the plain format from a buffer, building only plain values."""

    def __init__(self, view):
        self.view = view
        self.pos = 0

    def take(self, n):
        if n < 0 or self.pos + n > len(self.view):
            raise ValueError("sandbox sent a truncated value")
        start = self.pos
        self.pos += n
        return self.view[start:self.pos]

    def length(self):
        return struct.unpack("<Q", self.take(8))[0]

    def text(self):
        return str(self.take(self.length()), "utf-8", "surrogatepass")

    def value(self, depth=0):
        if depth > _DEPTH_MAX:
            raise ValueError("sandbox sent a value nested too deeply")
        tag = bytes(self.take(1))
        if tag == b"N":
            return None
        if tag == b"T":
            return True
        if tag == b"F":
            return False
        if tag == b"i":
            digits = bytes(self.take(self.length()))
            if len(digits) > 4300:
                raise ValueError("sandbox sent an integer too long")
            return int(digits)
        if tag == b"f":
            return struct.unpack("<d", self.take(8))[0]
        if tag == b"s":
            return self.text()
        if tag == b"b":
            return bytes(self.take(self.length()))
        if tag in (b"l", b"t"):
            n = self.length()
            if n > len(self.view) - self.pos:
                raise ValueError("sandbox sent a truncated list")
            items = [self.value(depth + 1) for _ in range(n)]
            return items if tag == b"l" else tuple(items)
        if tag == b"d":
            n = self.length()
            if n > len(self.view) - self.pos:
                raise ValueError("sandbox sent a truncated dict")
            result = {}
            for _ in range(n):
                key = self.value(depth + 1)
                if type(key) not in (str, int, float, bool, type(None)):
                    raise ValueError("sandbox sent a dict key of type %s"
                                     % type(key).__name__)
                result[key] = self.value(depth + 1)
            return result
        if tag == b"a":
            import numpy as np
            dt = str(self.take(self.length()), "ascii")
            if dt not in _DTYPES:
                raise ValueError("sandbox sent an array of dtype %r" % dt)
            raw = self.take(self.length())
            dtype = np.dtype(dt)
            if len(raw) % dtype.itemsize:
                raise ValueError("sandbox sent a truncated array")
            return np.frombuffer(raw, dtype=dtype).copy()
        if tag == b"S":
            import numpy as np
            n = self.length()
            if n * 8 > len(self.view) - self.pos:
                raise ValueError("sandbox sent a truncated list")
            lens = np.frombuffer(self.take(8 * n), dtype="<i8")
            if n and lens.min() < 0:
                raise ValueError("sandbox sent a bad string length")
            blob = bytes(self.take(int(lens.sum())))
            ends = np.cumsum(lens).tolist()
            starts = [0] + ends[:-1]
            return [blob[a:b].decode("utf-8", "surrogatepass")
                    for a, b in zip(starts, ends)]
        if tag == b"Z":
            n = self.length()
            mask = bytes(self.take(self.length()))
            items = self.text().split("\0") if n else []
            if len(items) != n or (mask and len(mask) != n):
                raise ValueError("sandbox sent a malformed string list")
            if mask:
                items = [None if m else x for m, x in zip(mask, items)]
            return items
        if tag == b"M":
            return datetime.datetime.fromisoformat(self.text())
        if tag == b"D":
            return datetime.date.fromisoformat(self.text())
        if tag == b"E":
            return datetime.time.fromisoformat(self.text())
        if tag == b"m":
            days, secs, micros = struct.unpack("<qqq", self.take(24))
            return datetime.timedelta(days, secs, micros)
        if tag == b"c":
            return decimal.Decimal(self.text())
        raise ValueError("sandbox sent an unknown tag %r" % tag)


def decode(data):
    """A plain value from bytes or a buffer (never runs other code)."""
    view = memoryview(data)
    try:
        reader = _Reader(view)
        value = reader.value()
        if reader.pos != len(view):
            raise ValueError("sandbox sent trailing bytes")
        del reader
    finally:
        view.release()
    return value


def unpack(payload, fd):
    """Backend: the plain value a child sent inline or in a sealed memfd."""
    if fd < 0:
        return decode(payload)
    try:
        m = _map(fd, True)
    finally:
        os.close(fd)
    if m is None:
        raise ValueError("sandbox sent an empty memfd")
    try:
        return decode(m)
    finally:
        m.close()


# -- the backend serving a child's requests -----------------------------------

def serve(payload, fd, load_readable):
    """Backend: run one request of a child (plain-encoded (op, args)) as the
    calling role; the reply for the child (sandbox.c packs it): ("ok",
    value) or ("error", message, sqlstate, detail, hint).  For a
    subtransaction request, ("subxact", action, None): sandbox.c runs it."""
    import _oml
    request = unpack(payload, fd)
    if type(request) is not tuple or not request or type(request[0]) is not str:
        raise ValueError("sandbox sent a malformed request")
    op, args = request[0], request[1:]
    try:
        if op == "execute" and len(args) == 3:
            sql, params, pinned = args
            if type(sql) is not str or type(params) is not list:
                raise TypeError("execute takes (str, list, bool)")
            value = _oml.execute(sql, params, bool(pinned))
        elif op == "query_columns" and len(args) == 2:
            sql, params = args
            if type(sql) is not str or type(params) is not list:
                raise TypeError("query_columns takes (str, list)")
            value = _oml.query_columns(sql, params)
        elif op == "load_objects" and len(args) == 3:
            name, owner, names = args
            if type(name) is not str or (owner is not None and type(owner) is not str) \
                    or (names is not None and (type(names) is not list or any(
                        type(n) is not str for n in names))):
                raise TypeError("load_objects takes (str, str or None, list or None)")
            value = load_readable(name, owner, names)
        elif op == "subxact" and len(args) == 1 and args[0] in (
                "begin", "commit", "rollback"):
            # Run by sandbox.c itself: a subtransaction outlives this call.
            return ("subxact", args[0], None)
        else:
            raise ValueError("sandbox sent an unknown request %r" % op[:40])
        reply = ("ok", value)
    except _oml.SPIError as exc:
        reply = ("error", str(exc.args[0]) if exc.args else "SQL error",
                 getattr(exc, "sqlstate", None), getattr(exc, "detail", None),
                 getattr(exc, "hint", None))
    return reply


def write(payload, fd):
    """Backend: text a child's script printed, to the session's output."""
    import _oml
    text = unpack(payload, fd)
    if type(text) is str:
        _oml.write(text)


def error_tuple(payload, fd):
    """Backend: (message, traceback, sqlstate, detail, hint) of a child's
    error, each a str or None."""
    err = unpack(payload, fd)
    if type(err) is not tuple or len(err) != 5 or any(
            e is not None and type(e) is not str for e in err):
        raise ValueError("sandbox sent a malformed error")
    return err


# -- the zygote ---------------------------------------------------------------

def _font_cache_dir(root):
    """matplotlib's cache for the zygote: one per OS user, kept between
    zygotes so that the font list is built once; only when it is a real
    directory of ours that nobody else can write (else a fresh one)."""
    import stat
    shared = "/tmp/oml_sandbox_mpl.%d" % os.getuid()
    try:
        os.mkdir(shared, 0o700)
    except FileExistsError:
        pass
    except OSError:
        shared = None
    if shared:
        st = os.lstat(shared)
        if stat.S_ISDIR(st.st_mode) and st.st_uid == os.getuid() \
                and stat.S_IMODE(st.st_mode) == 0o700:
            return shared
    fresh = os.path.join(root, "mpl")
    os.makedirs(fresh, mode=0o700, exist_ok=True)
    return fresh


def zygote_prepare():
    """Import what scripts use before the zygote locks anything down, so a
    child starts warm."""
    import types
    root = os.environ.pop("OML_SANDBOX_ROOT", None)
    if root:
        os.environ["MPLCONFIGDIR"] = _font_cache_dir(root)
    # _spi imports _oml at the top; each child puts its own in its place.
    sys.modules.setdefault("_oml", types.ModuleType("_oml"))
    import socket  # noqa: F401
    import json  # noqa: F401
    import zlib  # noqa: F401
    import ast  # noqa: F401
    import numpy  # noqa: F401
    import pandas  # noqa: F401
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot  # noqa: F401
    except ImportError:
        pass
    import oml_store  # noqa: F401
    from . import _runtime, _spi, ds, script  # noqa: F401
    import gc
    gc.collect()
    gc.freeze()         # fewer pages copied into each child


# -- the child ----------------------------------------------------------------

class _Channel:
    """The child's socket to its backend (SOCK_SEQPACKET): one message per
    frame, [uint32 length][type][payload], an fd attached for memfds."""

    def __init__(self, fd):
        import socket
        self.sock = socket.socket(fileno=fd)

    def send(self, kind, payload=b"", fd=-1):
        import socket
        if fd < 0 and len(payload) > _INLINE_MAX:
            fd = _memfd([payload])
            payload = b""
            try:
                return self.send(kind, payload, fd)
            finally:
                os.close(fd)
        frame = struct.pack("<I", len(payload)) + kind + payload
        anc = [] if fd < 0 else [(socket.SOL_SOCKET, socket.SCM_RIGHTS,
                                  struct.pack("i", fd))]
        self.sock.sendmsg([frame], anc)

    def send_value(self, kind, value):
        parts = encode(value)
        size = sum(memoryview(p).nbytes for p in parts)
        if size <= _INLINE_MAX:
            self.send(kind, b"".join(bytes(memoryview(p).cast("B")) for p in parts))
            return
        fd = _memfd(parts)
        try:
            self.send(kind, b"", fd)
        finally:
            os.close(fd)

    def recv(self):
        """(type, object) of the backend's next frame; (None, None) at EOF."""
        import socket
        data, anc, flags, _ = self.sock.recvmsg(
            2 * _INLINE_MAX, socket.CMSG_SPACE(struct.calcsize("i")))
        if not data:
            return None, None
        fd = -1
        for level, typ, cdata in anc:
            if level == socket.SOL_SOCKET and typ == socket.SCM_RIGHTS:
                fd = struct.unpack("i", cdata[:struct.calcsize("i")])[0]
        kind = data[4:5]
        if fd < 0:
            return kind, pickle.loads(data[5:]) if len(data) > 5 else None
        try:
            m = _map(fd, False)
        finally:
            os.close(fd)
        try:
            return kind, _unpickle_map(m) if m is not None else None
        finally:
            if m is not None:
                m.close()


class _SPIError(Exception):
    """An SQL error the backend reported for a request."""


def _make_oml(chan):
    """The ``_oml`` module of a child: requests to the backend."""
    import types

    mod = types.ModuleType("_oml")
    mod.SPIError = _SPIError

    def request(*req):
        chan.send_value(b"q", req)
        kind, reply = chan.recv()
        if kind is None:
            raise SystemExit(0)
        if kind != b"r" or type(reply) is not tuple:
            raise RuntimeError("unexpected reply from the backend")
        if reply[0] == "ok":
            return reply[1]
        exc = _SPIError(reply[1])
        exc.sqlstate, exc.detail, exc.hint = reply[2], reply[3], reply[4]
        raise exc

    def param(v):
        if type(v) in (str, int, float, bool, bytes, type(None)):
            return v
        if isinstance(v, (bytearray, memoryview)):
            return bytes(v)
        np = sys.modules.get("numpy")
        if np is not None and isinstance(v, np.generic):
            return v.item()
        return v        # encode() turns anything else into plain values

    def params(values):
        return [param(v) for v in values]

    mod.execute = lambda sql, values, pinned: request(
        "execute", sql, params(values), bool(pinned))
    mod.query_columns = lambda sql, values: request(
        "query_columns", sql, params(values))

    def load_objects(name, owner=None, objs=None, unpickle=None, version=0, alias=None):
        # As _oml.load_objects in the server (see pyload.c): with unpickle,
        # [(name, unpickle(fill, compression))], here from the bytes the
        # backend sent (never unpickled there).
        if version or alias is not None:
            raise NotImplementedError("kept datastore versions cannot be loaded in the sandbox")
        rows = request("load_objects", name, owner,
                       None if objs is None else list(objs))
        if unpickle is None:
            return [(n, bytes(b), c) for n, b, c in rows]
        out = []
        for n, b, c in rows:
            out.append((n, unpickle(io.BytesIO(b).readinto, c)))
            b = None
        return out

    mod.load_objects = load_objects
    mod.subxact = lambda op: request("subxact", op)
    mod.write = lambda text: (chan.send_value(b"w", str(text)), len(text))[1]
    mod.nesting = lambda: 1
    mod.reclaim_signals = lambda: None
    mod.rearm_interrupt = lambda: None
    return mod


def child_main(fd, tmpdir):
    """A locked-down child: compile the script the backend names, then
    answer its calls until the backend closes the socket."""
    import tempfile
    os.environ.clear()
    os.environ.update({"HOME": tmpdir, "TMPDIR": tmpdir, "MPLCONFIGDIR": tmpdir,
                       "MPLBACKEND": "Agg", "LANG": "C.UTF-8",
                       "PATH": "/usr/bin:/bin"})
    tempfile.tempdir = tmpdir
    chan = _Channel(fd)
    sys.modules["_oml"] = _make_oml(chan)
    from . import _runtime, _backend, _spi
    import oml_store
    _spi._oml = sys.modules["_oml"]
    _backend.set_backend(_spi.SpiBackend())
    sys.modules["oml"] = oml_store
    _runtime._capture_output()
    sys.argv = ["oml_sandbox"]
    func = None
    name = None
    while True:
        kind, obj = chan.recv()
        if kind is None:
            return
        try:
            if kind == b"C":
                # readable False: an execute-only caller, whose tracebacks
                # must not show the script's lines.
                script_id, caller, name, source, readable = obj
                func = _runtime.get_function(script_id, caller, name, source,
                                             readable)
                chan.send(b"K")
            elif kind == b"I":
                args, kwargs, controls, out_fmt, names = obj
                args = _frames_in(args)
                rows = _runtime.run(func, args, kwargs, controls, out_fmt, names)
                obj = args = None
                chan.send_value(b"R", rows)
            else:
                raise RuntimeError("unexpected frame from the backend")
        except SystemExit:
            return
        except BaseException:
            etype, value, tb = sys.exc_info()
            try:
                err = _runtime.format_exception(etype, value, tb, name)
            except BaseException:
                err = ("%s: %s" % (etype.__name__, value), None, None, None, None)
            err = tuple(None if e is None else str(e) for e in err)
            del etype, value, tb
            chan.send_value(b"E", err)
