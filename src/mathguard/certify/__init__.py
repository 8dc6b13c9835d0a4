"""What can be proved: randomized smoothing (L2), interval bound propagation (L∞), Lipschitz bounds (L2)."""

from mathguard.certify.ibp import IntervalBounds, ibp
from mathguard.certify.lipschitz import LipschitzBound, lipschitz
from mathguard.certify.smoothing import (
    ABSTAIN,
    SmoothingCertificate,
    lower_confidence_bound,
    max_certifiable_radius,
    smoothed_predict,
    smoothing,
)

__all__ = ["ABSTAIN", "IntervalBounds", "LipschitzBound", "SmoothingCertificate", "ibp", "lipschitz",
           "lower_confidence_bound", "max_certifiable_radius", "smoothed_predict", "smoothing"]
