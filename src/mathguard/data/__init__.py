"""Linear-algebra audit of feature matrices: rank, conditioning, VIF, collinear groups, PCA spectrum."""

from mathguard.data.audit import audit_data

__all__ = ["audit_data"]
