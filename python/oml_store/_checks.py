"""Argument checks shared by the API modules (errors found before the server)."""

__all__ = ["check_str", "check_bool"]


def check_str(value, what, optional=False):
    """TypeError unless value is a str (or None when optional)."""
    if value is None and optional:
        return
    if not isinstance(value, str):
        raise TypeError("%s must be a str%s, not %s"
                        % (what, " or None" if optional else "",
                           type(value).__name__))


def check_bool(value, what, optional=False):
    """TypeError unless value is a bool (or None when optional)."""
    if value is None and optional:
        return
    if not isinstance(value, bool):
        raise TypeError("%s must be a bool, not %s"
                        % (what, type(value).__name__))
