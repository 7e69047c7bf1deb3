"""oml.sql: run a query as the current role and get a pandas DataFrame."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Optional, Sequence

if TYPE_CHECKING:
    import pandas

from ._backend import get_backend

__all__ = ["sql"]


def sql(query: str,
        params: Optional[Sequence[Any]] = None) -> pandas.DataFrame:
    """Run a SQL query and return its result as a pandas DataFrame.

    Parameters
    ----------
    query : str
        One SQL statement; ``%s`` marks a parameter (``%%`` a literal %).
    params : sequence, optional
        The parameters' values.

    Returns
    -------
    pandas.DataFrame
        One column per result column (empty for a statement without rows).

    Inside the server (a script's ``import oml``) the query runs through SPI
    as the role calling the script, so its privileges and row-level security
    apply, and the result is built column by column without a Python object
    per number.  In a client it runs on the current connection.
    """
    import pandas as pd

    if not isinstance(query, str):
        raise TypeError("query must be a str, not %s" % type(query).__name__)
    params = tuple(params) if params is not None else ()
    backend = get_backend()
    if hasattr(backend, "query_columns"):
        from ._runtime import columns_to_frame
        with backend.transaction():
            cols = backend.query_columns(query, params)
        if isinstance(cols, tuple):         # a statement without rows
            return pd.DataFrame()
        return columns_to_frame(cols)
    with backend.transaction():
        columns, rows = backend.query_described(query, params)
    return pd.DataFrame.from_records(rows, columns=columns)
