"""Durations, written one way everywhere: '90s', '10m', '1h30m', '30d', or a number of seconds.

The audit's ``budget``, the long commands' ``--budget`` and the monitoring service's windows,
hold times and retention all read them here, so a duration a user wrote for one is read the
same by the other.
"""

from __future__ import annotations

import math
import re

from mathguard.errors import InputError

UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_DURATION = re.compile(r"(?:\d+(?:\.\d+)?[dhms])*(?:\d+(?:\.\d+)?s?)?")
_PART = re.compile(r"(\d+(?:\.\d+)?)([dhms]?)")


def parse_duration(text: "str | int | float", *, allow_zero: bool = False, maximum: float | None = None,
                   whole: bool = False) -> float:
    """Seconds in ``text``: parts of a number and a unit (s, m, h, d) in any order of size, a bare number
    is seconds. Positive (or zero with ``allow_zero``), at most ``maximum``, a whole number with ``whole``."""
    if isinstance(text, bool):
        raise InputError(f"cannot read duration {text!r}: not a duration like 90s, 10m, 1h30m or 30d")
    if isinstance(text, (int, float)):
        seconds = float(text)
    else:
        s = str(text)[:40].strip().lower()
        if not s or not _DURATION.fullmatch(s):
            raise InputError(f"cannot read duration {str(text)[:40]!r}: not a duration like 90s, 10m, 1h30m or 30d")
        seconds = float(sum(float(n) * UNITS[u or "s"] for n, u in _PART.findall(s)))
    if not math.isfinite(seconds) or seconds < 0 or (seconds == 0 and not allow_zero):
        raise InputError(f"a duration must be a positive number of seconds, got {text!r}")
    if whole and seconds != int(seconds):
        raise InputError(f"a duration must be a whole number of seconds, got {text!r}")
    if maximum is not None and seconds > maximum:
        raise InputError(f"a duration may be at most {maximum:g} s, got {text!r}")
    return seconds


def parse_budget(text: "str | int | float | None") -> float | None:
    """A time budget in seconds; None, 0, '0', 'none' or '' mean no budget."""
    if text is None or (isinstance(text, str) and text.strip().lower() in ("0", "none", "")):
        return None
    if isinstance(text, (int, float)) and not isinstance(text, bool) and text == 0:
        return None
    return parse_duration(text)
