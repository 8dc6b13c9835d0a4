"""User-facing errors.

Anything a user can cause (bad data, a wrong option, an unsupported model) raises a
subclass of :class:`MathguardError` with a one-line message that names the problem.
The CLI prints that line and exits with code 2; it never shows a traceback for these.
"""

from __future__ import annotations


class MathguardError(ValueError):
    """Base class for errors caused by the user's input or configuration."""


class InputError(MathguardError):
    """The data given to a check is unusable (empty, NaN, wrong shape, wrong dtype...)."""


class ModelError(MathguardError):
    """The model cannot be wrapped or behaves in a way the check cannot work with."""


class UnsupportedError(MathguardError):
    """A feature is asked of an object that cannot provide it (e.g. gradients of a forest)."""
