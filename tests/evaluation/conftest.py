"""Real predictions shared by the statistics-lens tests (breast-cancer, two models)."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.datasets import load_breast_cancer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.tree import DecisionTreeClassifier


@pytest.fixture(scope="session")
def cancer_preds() -> dict[str, np.ndarray]:
    X, y = load_breast_cancer(return_X_y=True)
    Xtr, Xte, ytr, yte = train_test_split(X, y, test_size=0.4, random_state=0, stratify=y)
    a = DecisionTreeClassifier(max_depth=2, random_state=0).fit(Xtr, ytr)
    b = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000)).fit(Xtr, ytr)
    return {"y": yte, "pred_a": a.predict(Xte), "pred_b": b.predict(Xte),
            "proba_a": a.predict_proba(Xte), "proba_b": b.predict_proba(Xte)}
