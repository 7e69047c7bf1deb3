"""Progress bars of ds.save and ds.load in a client.

``progress=None`` (the default) shows a bar only in interactive use, and
only once a call has moved :data:`MIN_BYTES`: in IPython or a Jupyter
kernel, or in Python's interactive prompt (``python3`` / ``python3 -i``)
whose stderr is a terminal.  Scripts, cron jobs and test runs see nothing.
``progress=True`` always shows one (on ``sys.stderr``), ``progress=False``
never.  The bar is tqdm's (Debian's ``python3-tqdm``), in a notebook its
widget when ``ipywidgets`` is there; without tqdm there is no bar and no
error.  Inside the server ``progress`` is ignored.
"""

from __future__ import annotations

import sys
from typing import Optional

__all__ = ["Progress", "interactive", "MIN_BYTES"]

#: Bytes a call must move before ``progress=None`` shows a bar.
MIN_BYTES = 8 * 1024 * 1024


def _ipython_shell():
    """The running IPython shell, or None (IPython is never imported here:
    if it is not loaded already, this is not IPython)."""
    ipython = sys.modules.get("IPython")
    get = getattr(ipython, "get_ipython", None)
    if get is None:
        return None
    try:
        return get()
    except Exception:
        return None


def interactive() -> bool:
    """Whether this looks like interactive use (IPython, Jupyter, or the
    interactive prompt on a terminal)."""
    if _ipython_shell() is not None:
        return True
    if hasattr(sys, "ps1") or sys.flags.interactive:
        stderr = sys.stderr
        try:
            return stderr is not None and stderr.isatty()
        except (AttributeError, ValueError):
            return False
    return False


def _bar_class():
    """tqdm's class for this environment, or None without tqdm."""
    try:
        from tqdm.std import tqdm
    except ImportError:
        return None
    shell = _ipython_shell()
    if shell is not None and type(shell).__name__ == "ZMQInteractiveShell":
        import importlib.util
        try:
            # tqdm.notebook needs ipywidgets (else it fails when a bar opens).
            if importlib.util.find_spec("ipywidgets") is not None:
                from tqdm.notebook import tqdm as notebook_tqdm
                return notebook_tqdm
        except Exception:
            pass
    return tqdm


class Progress:
    """A byte counter that shows a tqdm bar when asked to.

    Parameters
    ----------
    progress : bool or None
        True: show a bar; False: never; None: only in interactive use and
        once ``MIN_BYTES`` have been counted.
    desc : str
        The bar's label.
    total : int, optional
        Bytes expected; None when not known beforehand.
    """

    def __init__(self, progress: Optional[bool], desc: str,
                 total: Optional[int] = None):
        if progress is None:
            self._wanted = interactive()
            self._min = MIN_BYTES
        else:
            self._wanted = bool(progress)
            self._min = 0
        self._desc = desc
        self._total = total
        self._count = 0
        self._bar = None
        if self._wanted and (self._min == 0 or (total or 0) >= self._min):
            self._open()

    def _open(self):
        cls = _bar_class()
        if cls is None:
            self._wanted = False
            return
        self._bar = cls(total=self._total, desc=self._desc, unit="B",
                        unit_scale=True, unit_divisor=1024,
                        file=sys.stderr, leave=True, dynamic_ncols=True)
        if self._count:
            self._bar.update(self._count)

    def update(self, n: int) -> None:
        """Count n more bytes."""
        if n <= 0:
            return
        self._count += n
        if self._bar is not None:
            if self._bar.total is not None and self._count > self._bar.total:
                self._bar.total = self._count   # an estimate fell short
            self._bar.update(n)
        elif self._wanted and self._count >= self._min:
            self._open()

    def postfix(self, text: str) -> None:
        """Show text (e.g. the object being moved) after the bar."""
        if self._bar is not None:
            self._bar.set_postfix_str(text, refresh=False)

    def close(self, complete: bool = True) -> None:
        """End the bar; complete: the work is done, so show it full (a total
        that was an estimate becomes the real count)."""
        bar, self._bar = self._bar, None
        if bar is None:
            return
        if complete and bar.total != self._count:
            bar.total = self._count
            bar.refresh()
        bar.close()

    def __enter__(self) -> "Progress":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        self.close(complete=exc_type is None)
