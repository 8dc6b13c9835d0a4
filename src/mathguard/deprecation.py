"""Old spellings keep working for one release, with a warning that names the new one.

Two decorators cover every change the shared convention made to a public signature:
:func:`renamed` (a parameter got its shared name) and :func:`keyword_only` (options after
the data became keyword-only). Both warn with :class:`MathguardDeprecationWarning`, a
``FutureWarning`` so that users see it by default (as scikit-learn does).
"""

from __future__ import annotations

import functools
import inspect
import warnings
from typing import Any, Callable, TypeVar

from mathguard.errors import InputError

F = TypeVar("F", bound=Callable[..., Any])

#: The release in which the old spellings stop working.
REMOVED_IN = "0.3"


class MathguardDeprecationWarning(FutureWarning):
    """A spelling that still works but will be removed; the message says what to write instead."""


def warn_deprecated(message: str, stacklevel: int = 3) -> None:
    """Warn that an old form was used; ``message`` says what to write instead."""
    warnings.warn(f"{message} (the old form is removed in mathguard {REMOVED_IN})", MathguardDeprecationWarning,
                  stacklevel=stacklevel)


def renamed(**old_to_new: "str | tuple[str, Callable[[Any], Any]]") -> Callable[[F], F]:
    """Accept ``old=value`` for a parameter now called ``new``; giving both is an error.

    ``old=("new", convert)`` also converts the value (``level=("alpha", lambda v: 1 - v)``).
    """

    def decorate(func: F) -> F:
        name = func.__qualname__

        @functools.wraps(func)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            for old, spec in old_to_new.items():
                new, convert = (spec, None) if isinstance(spec, str) else spec
                if old in kwargs:
                    if new in kwargs:
                        raise InputError(f"{name}: give {new}= only ({old}= is its old name)")
                    warn_deprecated(f"{name}: {old}= is now {new}=" + (" (converted)" if convert else ""))
                    value = kwargs.pop(old)
                    kwargs[new] = value if convert is None else convert(value)
            return func(*args, **kwargs)

        return wrapper  # type: ignore[return-value]

    return decorate


def keyword_only(func: F | None = None, *, old: tuple[str, ...] | None = None) -> Any:
    """Let options that became keyword-only still be passed by position, with a warning.

    Decorate a function whose signature already has the ``*``; the parameters after it, in
    their declared order, are the ones an old positional call filled. When an option was also
    renamed or re-scaled, give the old positional names (``old=("metric", "level")``) so the
    value reaches :func:`renamed` under its old name and is converted, never taken as the new one.
    """
    if func is None:
        return lambda f: _keyword_only(f, old)
    return _keyword_only(func, old)


def _keyword_only(func: F, old: tuple[str, ...] | None) -> F:
    params = list(inspect.signature(func).parameters.values())
    positional = [p for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    options = list(old) if old is not None else [p.name for p in params if p.kind is p.KEYWORD_ONLY]
    name = func.__qualname__

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        extra = args[len(positional):]
        if not extra:
            return func(*args, **kwargs)
        if len(extra) > len(options):
            raise InputError(f"{name} takes {len(positional)} positional arguments but {len(args)} were given")
        moved = options[:len(extra)]
        warn_deprecated(f"{name}: pass {', '.join(moved)} by keyword")
        for key, value in zip(moved, extra):
            if key in kwargs:
                raise InputError(f"{name} got two values for {key}")
            kwargs[key] = value
        return func(*args[:len(positional)], **kwargs)

    return wrapper  # type: ignore[return-value]


class ReportAlias:
    """Mixin for results whose ``.to_report()`` became ``.report()``: the old name still answers."""

    def to_report(self) -> Any:
        warn_deprecated(f"{type(self).__name__}.to_report() is now .report()")
        return self.report()  # type: ignore[attr-defined]
