"""Feature matrices: the linear-algebra audit (rank, conditioning, VIF, collinear groups, PCA spectrum) and
integrity checks (duplicates, conflicting labels, leakage, unseen categories, label shift, mixed types, outliers)."""

from mathguard.data.audit import audit_data
from mathguard.data.integrity import integrity

__all__ = ["audit_data", "integrity"]
