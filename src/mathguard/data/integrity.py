"""Data integrity of a training split and its test split: what train/test suites check before any model.

Duplicated rows, rows that agree on every feature but not on the label, test rows already in
the training data (leakage), categories the training data never had, a label mix that moved
between the splits, columns holding numbers and text together, and rows far outside the
data's bulk. Every check is linear in the rows: rows are compared by a 64-bit hash of their
values (exact duplicates) or of their values rounded to a hundredth of each feature's
standard deviation (near duplicates; rows straddling a rounding edge are missed, never
invented), so nothing pairs rows quadratically. Each finding names the first rows it found.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np
import pandas as pd
from scipy import stats

from mathguard.errors import InputError
from mathguard.report import Finding, Report, Severity
from mathguard.params import OPEN_UNIT, declare

#: Rows named in a finding's evidence (the rest are counted).
NAMED = 5
#: Near duplicates agree after rounding each feature to this fraction of its standard deviation.
NEAR = 0.01
#: A row is outlying when its robust distance has a Bonferroni-corrected p-value below this.
OUTLIER_ALPHA = 1e-3


def _frame(X: Any, names: Sequence[str] | None, what: str) -> pd.DataFrame:
    if isinstance(X, pd.DataFrame):
        frame = X.reset_index(drop=True)
        frame.columns = [str(c) for c in frame.columns]
        return frame
    arr = np.asarray(X)
    if arr.ndim != 2:
        raise InputError(f"{what} must be a 2-D table (rows × features), got shape {arr.shape}")
    cols = list(names) if names is not None else [f"x{j}" for j in range(arr.shape[1])]
    if len(cols) != arr.shape[1]:
        raise InputError(f"feature_names has {len(cols)} names for {arr.shape[1]} columns")
    return pd.DataFrame(arr, columns=cols)


def _hashes(frame: pd.DataFrame) -> np.ndarray:
    return pd.util.hash_pandas_object(frame, index=False).to_numpy()


def _numeric(frame: pd.DataFrame) -> list[str]:
    return [c for c in frame.columns if pd.api.types.is_numeric_dtype(frame[c].dtype)
            and not pd.api.types.is_bool_dtype(frame[c].dtype)]


def _rounded(frame: pd.DataFrame, num: list[str], centre: pd.Series, scale: pd.Series) -> pd.DataFrame:
    out = frame.copy()
    out[num] = np.round((frame[num] - centre[num]) / scale[num] / NEAR)
    return out


def _first(rows: np.ndarray) -> list[int]:
    return [int(r) for r in rows[:NAMED]]


def _duplicates(exact: np.ndarray, near: np.ndarray) -> list[Finding]:
    """``exact``: rows repeating an earlier row; ``near``: hashes of the rounded rows."""
    found = []
    if exact.any():
        share = exact.mean()
        found.append(Finding(
            id="data.duplicate-rows", lens="data", severity=Severity.MEDIUM if share >= 0.01 else Severity.LOW,
            title=f"{int(exact.sum())} training rows ({share:.1%}) repeat an earlier row exactly",
            detail="Repeated rows weigh their examples more than once and, split across train and test, "
                   "inflate test scores.",
            evidence={"rows": _first(np.flatnonzero(exact)), "count": int(exact.sum()), "share": float(share)},
            fix="Drop exact duplicates before splitting (df.drop_duplicates()), or keep them on purpose and "
                "split by group."))
    close = pd.Series(near).duplicated(keep="first").to_numpy() & ~exact
    if close.any():
        found.append(Finding(
            id="data.near-duplicate-rows", lens="data", severity=Severity.LOW,
            title=f"{int(close.sum())} training rows agree with an earlier row to {NEAR:g} sd on every feature",
            detail="Near copies (re-scans, re-encodings, rows differing by rounding) act like duplicates.",
            evidence={"rows": _first(np.flatnonzero(close)), "count": int(close.sum()), "resolution_sd": NEAR},
            fix="Check how these rows were produced; deduplicate or split by their source."))
    return found


def _conflicts(h: np.ndarray, y: np.ndarray) -> Finding | None:
    labels = pd.DataFrame({"h": h, "y": pd.Series(y).astype(str)})
    n_labels = labels.groupby("h")["y"].nunique()
    bad = n_labels.index[n_labels > 1]
    if len(bad) == 0:
        return None
    rows = np.flatnonzero(labels["h"].isin(bad).to_numpy())
    return Finding(
        id="data.conflicting-labels", lens="data", severity=Severity.HIGH if len(rows) / len(h) >= 0.01
        else Severity.MEDIUM,
        title=f"{len(bad)} feature vectors appear with different labels ({len(rows)} rows)",
        detail="The same input cannot have two right answers: label noise, or a feature that decides the "
               "label is missing from the table.",
        evidence={"rows": _first(rows), "count": int(len(rows)), "groups": int(len(bad))},
        fix="Review these rows' labels; if both labels are right, add the feature that tells them apart.")


def _leakage(h_train: np.ndarray, h_test: np.ndarray) -> Finding | None:
    leaked = np.isin(h_test, h_train)
    if not leaked.any():
        return None
    share = leaked.mean()
    return Finding(
        id="data.train-test-leakage", lens="data", severity=Severity.HIGH if share >= 0.01 else Severity.MEDIUM,
        title=f"{int(leaked.sum())} test rows ({share:.1%}) are also in the training data",
        detail="The model has seen these answers: test scores on them measure memory, not generalisation.",
        evidence={"test_rows": _first(np.flatnonzero(leaked)), "count": int(leaked.sum()), "share": float(share)},
        fix="Split after deduplicating, or by group (user, patient, session) so no row lands on both sides.")


def _unseen(train: pd.DataFrame, test: pd.DataFrame, num: list[str]) -> list[Finding]:
    found = []
    for c in train.columns:
        if c in num or c not in test.columns:
            continue
        known = set(train[c].dropna().astype(str))
        new = test[c].dropna().astype(str)
        mask = ~new.isin(known)
        if mask.any():
            found.append(Finding(
                id="data.unseen-categories", lens="data", severity=Severity.MEDIUM,
                title=f"column {c}: {int(mask.sum())} test rows hold categories never seen in training",
                detail="The model has no evidence for these values and answers by its default.",
                evidence={"feature": c, "categories": sorted(set(new[mask]))[:NAMED], "count": int(mask.sum()),
                          "test_rows": _first(np.flatnonzero(mask.to_numpy()))},
                fix="Collect training examples of them, or map them to an explicit 'unknown' category."))
    return found


def _label_shift(y_train: np.ndarray, y_test: np.ndarray, alpha: float) -> Finding | None:
    a, b = pd.Series(y_train).astype(str), pd.Series(y_test).astype(str)
    classes = sorted(set(a) | set(b))
    table = np.array([[int((a == k).sum()) for k in classes], [int((b == k).sum()) for k in classes]])
    table = table[:, table.sum(0) > 0]
    if table.shape[1] < 2:
        return None
    chi2, p, _, _ = stats.chi2_contingency(table)
    shares = table / table.sum(1, keepdims=True)
    tv = float(0.5 * np.abs(shares[0] - shares[1]).sum())
    if p >= alpha or tv < 0.05:
        return None
    return Finding(
        id="data.label-shift", lens="data", severity=Severity.MEDIUM,
        title=f"the label mix differs between train and test (total variation {tv:.2f}, p = {p:.2g})",
        detail="Accuracy and calibration on the test split then describe another class balance than training.",
        evidence={"classes": classes, "train_share": shares[0].tolist(), "test_share": shares[1].tolist(),
                  "p_value": float(p), "total_variation": tv},
        fix="Split stratified by label, or report metrics per class.")


def _mixed_types(frame: pd.DataFrame) -> list[Finding]:
    found = []
    for c in frame.columns:
        if frame[c].dtype != object:
            continue
        values = frame[c].dropna()
        numeric = pd.to_numeric(values, errors="coerce").notna()
        if numeric.any() and not numeric.all():
            found.append(Finding(
                id="data.mixed-types", lens="data", severity=Severity.MEDIUM,
                title=f"column {c} holds numbers and text together ({int(numeric.sum())} numeric, "
                      f"{int((~numeric).sum())} text)",
                detail="A parser or an upstream join changed the column's type for some rows.",
                evidence={"feature": c, "text_rows": _first(np.flatnonzero(~numeric.to_numpy())),
                          "examples": [str(v) for v in values[~numeric].head(NAMED)]},
                fix="Fix the source of the text values, or convert them explicitly (pd.to_numeric)."))
    return found


def _outliers(frame: pd.DataFrame, num: list[str]) -> Finding | None:
    """Rows whose robust distance (median / MAD per feature, summed squares) is beyond chance for any row."""
    if not num or len(frame) < 30:
        return None
    x = frame[num].to_numpy(dtype=np.float64)
    med = np.nanmedian(x, axis=0)
    mad = 1.4826 * np.nanmedian(np.abs(x - med), axis=0)
    usable = np.isfinite(mad) & (mad > 0)  # a mostly-constant column has no robust spread to judge by
    if not usable.any():
        return None
    z = (x[:, usable] - med[usable]) / mad[usable]
    d2 = np.nansum(z * z, axis=1)
    # Chi-square with one degree per feature is the law of d2 for Gaussian rows; Bonferroni over the rows.
    p = stats.chi2.sf(d2, df=int(usable.sum())) * len(x)
    far = np.flatnonzero(p < OUTLIER_ALPHA)
    if len(far) == 0:
        return None
    return Finding(
        id="data.outlying-rows", lens="data", severity=Severity.INFO,
        title=f"{len(far)} rows lie far outside the bulk of the data (robust distance, Bonferroni p < "
              f"{OUTLIER_ALPHA:g})",
        detail="Entry errors, unit mix-ups or a different population; heavy-tailed features produce some "
               "honestly.",
        evidence={"rows": _first(far[np.argsort(p[far])]), "count": int(len(far))},
        fix="Look at the named rows first: fix entry errors, keep genuine extremes.")


@declare(alpha=OPEN_UNIT)
def integrity(X_train: Any, y_train: Any = None, X_test: Any = None, y_test: Any = None, *,
              feature_names: Sequence[str] | None = None, alpha: float = 0.05) -> Report:
    """Integrity checks of a training table (and its test split when given) → Report of ``data.*`` findings."""
    train = _frame(X_train, feature_names, "X_train")
    if len(train) == 0:
        raise InputError("X_train holds no rows")
    num = _numeric(train)
    centre = train[num].mean()
    scale = train[num].std().where(lambda s: s > 0, 1.0)
    h = _hashes(train)
    exact = pd.Series(h).duplicated(keep="first").to_numpy()
    found: list[Finding | None] = [*_duplicates(exact, _hashes(_rounded(train, num, centre, scale))),
                                   *_mixed_types(train), _outliers(train, num)]
    if y_train is not None:
        y_tr = np.asarray(y_train).reshape(-1)
        if len(y_tr) != len(train):
            raise InputError(f"y_train has {len(y_tr)} labels for {len(train)} rows")
        found.append(_conflicts(h, y_tr))
    metrics: dict[str, Any] = {"n_train": len(train), "duplicate_rows": int(exact.sum())}
    if X_test is not None:
        test = _frame(X_test, list(train.columns) if feature_names is None else feature_names, "X_test")
        if list(test.columns) != list(train.columns):
            raise InputError("X_test must have the training columns, in the same order")
        found += [_leakage(h, _hashes(test)), *_unseen(train, test, num)]
        metrics["n_test"] = len(test)
        if y_train is not None and y_test is not None:
            found.append(_label_shift(np.asarray(y_train).reshape(-1), np.asarray(y_test).reshape(-1), alpha))
    findings = [f for f in found if f is not None]
    summary = (f"{len(train)} training rows" + (f", {metrics['n_test']} test rows" if X_test is not None else "")
               + f": {len(findings)} integrity finding(s).")
    return Report(title="Data integrity", findings=findings, metrics=metrics, summary=summary)
