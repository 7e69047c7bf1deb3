"""oml.grant and oml.revoke: read access to one's own datastores."""

from __future__ import annotations

from typing import Optional

from ._backend import get_backend

__all__ = ["grant", "revoke"]


def _change(function, name, typ, user, privilege):
    for value, what, optional in ((name, "name", False), (typ, "typ", False),
                                  (user, "user", True),
                                  (privilege, "privilege", True)):
        if not (isinstance(value, str) or (optional and value is None)):
            raise TypeError("%s must be a str%s, not %s"
                            % (what, " or None" if optional else "",
                               type(value).__name__))
    backend = get_backend()
    with backend.transaction():
        if privilege is None or (function == "pyqGrant"
                                 and privilege == "read"):
            # The call of OML4Py (and of servers before 0.3.0).
            backend.query("SELECT oml.%s(%%s, %%s, %%s)" % function,
                          (name, typ, user))
        else:
            backend.query("SELECT oml.%s(%%s, %%s, %%s, %%s)" % function,
                          (name, typ, user, privilege))


def grant(name: str, typ: str = "datastore",
          user: Optional[str] = None, privilege: str = "read") -> None:
    """Grant read access to a datastore (or script) of the current role.

    Parameters
    ----------
    name : str
        Name of the datastore or script.
    typ : str, default 'datastore'
        ``'datastore'`` or ``'pyqscript'``.
    user : str, optional
        Role to grant to; ``None`` (or ``'PUBLIC'``) grants to every role.
        Granting to a group role gives its members access, as PostgreSQL's
        own privileges do.
    privilege : str, default 'read'
        ``'read'`` (as in OML4Py), or, not in OML4Py, ``'execute'`` for a
        script (run it by name, version or alias, but not read its source)
        or ``'usage'`` for a datastore (only scripts of other roles that
        the grantee runs may load it; the grantee cannot fetch its bytes).
        Read includes both; granting read replaces them.

    Returns
    -------
    None

    Raises
    ------
    TypeError
        An argument is not a str (``user`` may be None).
    OMLError
        From the server: the datastore is not the current role's own or does
        not exist (SQLSTATE 42704), it was saved with ``grantable=False``
        (0LP01), the role does not exist (42704), or ``typ`` is unknown
        (22023).
    """
    _change("pyqGrant", name, typ, user, privilege)


def revoke(name: str, typ: str = "datastore",
           user: Optional[str] = None,
           privilege: Optional[str] = None) -> None:
    """Revoke read access to a datastore (or script) of the current role.

    Parameters
    ----------
    name : str
        Name of the datastore or script.
    typ : str, default 'datastore'
        ``'datastore'`` or ``'pyqscript'``.
    user : str, optional
        Role to revoke from; ``None`` (or ``'PUBLIC'``) revokes the grant to
        PUBLIC.  Revoking what was never granted does nothing.
    privilege : str, optional
        ``'read'``, ``'execute'`` or ``'usage'``; by default every
        privilege of the grantee.  Not in OML4Py.

    Returns
    -------
    None

    Raises
    ------
    TypeError
        An argument is not a str (``user`` may be None).
    OMLError
        From the server: the datastore is not the current role's own or does
        not exist (SQLSTATE 42704), the role does not exist (42704), or
        ``typ`` is unknown (22023).
    """
    _change("pyqRevoke", name, typ, user, privilege)
