"""Drift: a stored reference profile of the training data, compared with production data.

>>> prof = mg.drift.profile(X_train, proba=model.predict_proba(X_train))
>>> prof.save("ref.json")
>>> report = mg.drift.compare(mg.drift.Profile.load("ref.json"), X_prod, proba=model.predict_proba(X_prod))
"""

from mathguard.drift.compare import Thresholds, compare
from mathguard.drift.profile import Profile, profile
from mathguard.drift.twosample import chi_square, ks_test, wasserstein

__all__ = ["Profile", "Thresholds", "chi_square", "compare", "ks_test", "profile", "wasserstein"]
