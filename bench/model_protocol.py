"""The model protocol's cost and agreement against its peers, from one run on digits.

* forward: the float64 twins (logistic regression, MLP) vs scikit-learn's own
  decision_function / predict_proba on the same rows, and the black-box forest wrapper vs
  the forest's predict_proba (the price of validation and the log);
* input gradient of the cross-entropy (what every white-box attack needs), whole batch:
  the twin's autograd vs ART's analytic ScikitlearnLogisticRegression.loss_gradient
  (binary: ART's multinomial formula disagrees with finite differences of sklearn's own loss,
  so that column reports only the twin's agreement with finite differences) and vs central
  finite differences on sklearn (2·d predict_proba calls: what a black-box wrapper is left with).

    python bench/model_protocol.py [--rows 50000]
"""

from __future__ import annotations

import argparse
import warnings

import numpy as np
import torch
from _timing import timed
from threadpoolctl import threadpool_limits
from sklearn.datasets import load_digits
from sklearn.ensemble import RandomForestClassifier
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.neural_network import MLPClassifier

import mathguard as mg


def ce_gradient(clf, X: np.ndarray, y: np.ndarray) -> np.ndarray:
    x = torch.from_numpy(X).requires_grad_(True)
    loss = torch.nn.functional.cross_entropy(clf.logits(x), torch.from_numpy(y), reduction="sum")
    return torch.autograd.grad(loss, x)[0].numpy()


def fd_gradient(est, X: np.ndarray, y: np.ndarray, h: float = 1e-6) -> np.ndarray:
    rows, out = np.arange(len(y)), np.empty_like(X)
    for j in range(X.shape[1]):
        e = np.zeros(X.shape[1])
        e[j] = h
        out[:, j] = (np.log(est.predict_proba(X - e)[rows, y]) - np.log(est.predict_proba(X + e)[rows, y])) / (2 * h)
    return out


def row(name: str, ours: float, peer_name: str, peer: float, agreement: float) -> None:
    print(f"{name:<34} mathguard {ours * 1e3:9.2f} ms   {peer_name:<28} {peer * 1e3:9.2f} ms   "
          f"ratio {peer / ours:7.2f}x   max |diff| {agreement:.2e}")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=50_000)
    args = ap.parse_args()
    torch.set_num_threads(1)
    threadpool_limits(1)  # numpy's BLAS too: one thread each, on a shared 2-core machine
    d = load_digits()
    X0, y0 = d.data / 16.0, d.target
    reps = -(-args.rows // len(X0))
    X, y = np.tile(X0, (reps, 1))[: args.rows], np.tile(y0, reps)[: args.rows]
    xt = torch.from_numpy(X)
    print(f"digits tiled to {len(X):,} x {X.shape[1]} (float64), torch and BLAS threads = 1, best of 3\n")

    logreg = LogisticRegression(max_iter=500).fit(X0, y0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        mlp = MLPClassifier(hidden_layer_sizes=(64, 32), max_iter=100, random_state=0).fit(X0, y0)
    forest = RandomForestClassifier(n_estimators=50, random_state=0, n_jobs=1).fit(X0, y0)
    lr_clf, mlp_clf, forest_clf = mg.wrap(logreg), mg.wrap(mlp), mg.wrap(forest)

    with torch.no_grad():
        t_ours, ours = timed(lambda: lr_clf.logits(xt).numpy(), repeat=3)
        t_ref, ref = timed(lambda: logreg.decision_function(X), repeat=3)
        row("logreg logits", t_ours, "sklearn decision_function", t_ref, np.abs(ours - ref).max())
        t_ours, ours = timed(lambda: mlp_clf.proba(xt).numpy(), repeat=3)
        t_ref, ref = timed(lambda: mlp.predict_proba(X), repeat=3)
        row("MLP probabilities", t_ours, "sklearn predict_proba", t_ref, np.abs(ours - ref).max())
        t_ours, ours = timed(lambda: forest_clf.proba(xt).numpy(), repeat=3)
        t_ref, ref = timed(lambda: forest.predict_proba(X), repeat=3)
        row("forest (black box) probabilities", t_ours, "sklearn predict_proba", t_ref, np.abs(ours - ref).max())

    n_grad = min(2_000, len(X))
    Xg, yg = X[:n_grad], y[:n_grad]
    t_ours, ours = timed(lambda: ce_gradient(lr_clf, Xg, yg), repeat=3)
    t_ref, ref = timed(lambda: fd_gradient(logreg, Xg, yg), repeat=1)
    row(f"logreg CE gradient ({n_grad} rows)", t_ours, "finite differences (sklearn)", t_ref, np.abs(ours - ref).max())
    t_ours, ours = timed(lambda: ce_gradient(mlp_clf, Xg, yg), repeat=3)
    t_ref, ref = timed(lambda: fd_gradient(mlp, Xg, yg), repeat=1)
    row(f"MLP CE gradient ({n_grad} rows)", t_ours, "finite differences (sklearn)", t_ref, np.abs(ours - ref).max())

    try:
        from art.estimators.classification.scikitlearn import ScikitlearnLogisticRegression
    except ImportError:
        print("\nART not installed: skipping the ART comparison")
        return
    binary = y0 < 5
    yb = (y < 5).astype(np.int64)[:n_grad]
    est_b = LogisticRegression(max_iter=500).fit(X0, binary.astype(int))
    art_clf = ScikitlearnLogisticRegression(est_b, clip_values=(0.0, 1.0))
    binary_clf, onehot = mg.wrap(est_b), np.eye(2)[yb]  # built once, outside the timed calls
    t_ours, ours = timed(lambda: ce_gradient(binary_clf, Xg, yb), repeat=3)
    t_ref, ref = timed(lambda: art_clf.loss_gradient(Xg, onehot), repeat=3)
    row(f"binary logreg CE gradient ({n_grad})", t_ours, "ART loss_gradient", t_ref, np.abs(ours - ref).max())
    multi = ScikitlearnLogisticRegression(logreg, clip_values=(0.0, 1.0)).loss_gradient(Xg[:50], np.eye(10)[yg[:50]])
    print(f"\n(multinomial: ART loss_gradient differs from finite differences of sklearn's loss by "
          f"{np.abs(multi - fd_gradient(logreg, Xg[:50], yg[:50])).max():.2e}; the twin by "
          f"{np.abs(ce_gradient(lr_clf, Xg[:50], yg[:50]) - fd_gradient(logreg, Xg[:50], yg[:50])).max():.2e})")


if __name__ == "__main__":
    main()
