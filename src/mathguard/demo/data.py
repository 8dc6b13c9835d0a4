"""Demo section of the data lens: bundled data sets plus one matrix with planted defects."""

from __future__ import annotations

import numpy as np
import pandas as pd

from mathguard.data.audit import audit_data
from mathguard.data.integrity import integrity
from mathguard.demo.context import DemoContext
from mathguard.report import Report


def planted_defects(ctx: DemoContext) -> pd.DataFrame:
    """Ten breast-cancer columns plus the classic mistakes: a derived column, a copy, a full
    one-hot encoding, and a column in the wrong unit (×1e6)."""
    split = ctx.breast_cancer
    df = pd.DataFrame(split.X_train[:, :10], columns=list(split.feature_names[:10]))
    rng = np.random.default_rng(ctx.random_state)
    df["radius + texture"] = df["mean radius"] + df["mean texture"]
    df["smoothness copy"] = df["mean smoothness"]
    site = rng.choice(["north", "south", "west"], len(df))
    df = pd.concat([df, pd.get_dummies(site, prefix="site").astype(float)], axis=1)
    df["symmetry (µ-units)"] = df["mean symmetry"].to_numpy()[::-1] * 1e6
    return df


def demo_section(ctx: DemoContext) -> Report:
    """Audit breast-cancer and digits features, and a copy of breast-cancer with planted defects."""
    cancer, digits = ctx.breast_cancer, ctx.digits
    section = Report(title="Data: linear-algebra audit",
                     summary="Rank, conditioning (raw vs standardised), VIF, Belsley collinear groups and the PCA "
                     "spectrum of each feature matrix, from one streamed float64 pass.")
    parts = [
        ("breast cancer (train split)", audit_data(cancer.X_train, feature_names=list(cancer.feature_names))),
        ("digits (train split, 8×8 pixels)", audit_data(digits.X_train, feature_names=list(digits.feature_names),
                                                        figures=not ctx.quick)),
        ("breast cancer with planted defects", audit_data(planted_defects(ctx))),
    ]
    for name, rep in parts:
        rep.title = f"Data audit: {name}"
        section.add_section(rep)
    # Integrity: nothing on the clean splits; five repeated rows with flipped labels on the planted copy.
    parts[0][1].add_section(integrity(cancer.X_train, cancer.y_train, cancer.X_test, cancer.y_test,
                                      feature_names=list(cancer.feature_names)))
    planted = planted_defects(ctx)
    repeated = pd.concat([planted, planted.iloc[:5]], ignore_index=True)
    parts[2][1].add_section(integrity(repeated, np.r_[cancer.y_train, 1 - cancer.y_train[:5]]))
    return section
