"""Async jobs: the object ``oml.do_eval(..., async_mode=True)`` and the
``*_apply`` functions return.

The call is submitted with ``"oml_async_flag": true`` in ``par_lst``: the
server records it as a job in the caller's transaction and runs it in a
background worker, as the calling role, once that transaction commits.
:class:`Job` polls its state and fetches its result (out_fmt ``'PICKLE'``)
through ``oml.pyqJobStatus`` and ``oml.pyqJobResult``.
"""

from __future__ import annotations

import time
from typing import Any, Optional

from ._backend import get_backend
from ._errors import OMLError

__all__ = ["Job"]

_FINISHED = ("succeeded", "failed", "cancelled")


class Job:
    """An async job submitted by ``do_eval``, ``table_apply``,
    ``row_apply``, ``group_apply`` or ``index_apply`` with
    ``async_mode=True``.

    Attributes
    ----------
    job_id : int
        The server's job id (as ``oml.pyqJobStatus(job_id)`` takes it).
    """

    def __init__(self, job_id: int, unpack, graphics: bool = False):
        self.job_id = int(job_id)
        self._unpack = unpack       # rows (name, image) -> the result
        self._graphics = graphics

    def __repr__(self):
        return "<oml_store.Job %d>" % self.job_id

    def info(self) -> dict:
        """All of ``oml.pyqJobStatus``: state, times, script, error."""
        rows = _query(
            "SELECT %s FROM oml.pyqJobStatus(%%s::pg_catalog.int8)"
            % ", ".join(_STATUS_COLUMNS), (self.job_id,))
        return dict(zip(_STATUS_COLUMNS, rows[0]))

    def status(self) -> str:
        """The job's state: ``'queued'``, ``'running'``, ``'succeeded'``,
        ``'failed'`` or ``'cancelled'``."""
        rows = _query(
            "SELECT state FROM oml.pyqJobStatus(%s::pg_catalog.int8)", (self.job_id,))
        return rows[0][0]

    def wait(self, timeout: Optional[float] = None,
             interval: float = 0.05) -> str:
        """Block until the job has finished; return its final state.

        Raises ``TimeoutError`` when ``timeout`` seconds pass first (the
        job goes on).  Polls every ``interval`` seconds, up to 1 s apart.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        delay = interval
        while True:
            state = self.status()
            if state in _FINISHED:
                return state
            if deadline is not None and time.monotonic() >= deadline:
                raise TimeoutError("job %d is still %s after %s s"
                                   % (self.job_id, state, timeout))
            pause = delay if deadline is None else max(
                0.0, min(delay, deadline - time.monotonic()))
            time.sleep(pause)
            delay = min(delay * 1.5, 1.0)

    def result(self, timeout: Optional[float] = None) -> Any:
        """The function's result, as the synchronous call returns it
        (waiting up to ``timeout`` seconds first; ``None``: as long as it
        takes).

        Raises
        ------
        OMLError
            The job failed (the job's SQLSTATE, message and traceback in
            ``detail``) or was cancelled (57014).
        TimeoutError
            It has not finished within ``timeout``.
        """
        state = self.wait(timeout)
        if state != "succeeded":
            info = self.info()
            raise OMLError("job %d %s: %s" % (self.job_id, state,
                                              info["error_message"]),
                           sqlstate=info["error_sqlstate"] or "55000",
                           detail=info["error_traceback"],
                           hint=info["error_hint"])
        rows = _query(
            "SELECT name, image FROM oml.pyqJobResult(%s::pg_catalog.int8,"
            " 'PICKLE'::pg_catalog.text)", (self.job_id,))
        return self._unpack(rows, self._graphics)

    def cancel(self) -> str:
        """Stop the job if it is queued or running (a running one stops
        within a second); returns its state afterwards."""
        rows = _query(
            "SELECT oml.pyqJobCancel(%s::pg_catalog.int8)", (self.job_id,))
        return rows[0][0]

    def delete(self) -> None:
        """Delete the job and its result (not while it runs)."""
        _query("SELECT oml.pyqJobDelete(%s::pg_catalog.int8)",
                            (self.job_id,))


def _query(sql, params):
    """Run one statement in a transaction of its own (or in the caller's
    open one, as every oml_store call), so that a poll never keeps a
    transaction open: a job submitted after it commits."""
    backend = get_backend()
    with backend.transaction():
        return backend.query(sql, params)


_STATUS_COLUMNS = ["job_id", "owner", "state", "func", "scr_name",
                   "scr_owner", "submitted", "started", "ended",
                   "result_count", "result_size", "error_sqlstate",
                   "error_message", "error_traceback", "error_hint"]
