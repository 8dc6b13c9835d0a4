"""The guard: a classifier wrapped for production (validate, detect, abstain, fall back, log).

>>> guard = mg.Guard(clf, profile=ref_profile, detectors=[energy, mahalanobis], fallback="abstain")
>>> out = guard.predict(x); out.labels, out.abstained, out.reasons
"""

from mathguard.guard.guard import ABSTAIN, Guard
from mathguard.guard.tally import GuardDecision
from mathguard.guard.logqueue import LogCounts, LogQueue
from mathguard.guard.rows import RowValidator, Rows

__all__ = ["ABSTAIN", "Guard", "GuardDecision", "LogCounts", "LogQueue", "RowValidator", "Rows"]
