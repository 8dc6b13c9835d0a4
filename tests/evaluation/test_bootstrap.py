"""Paired bootstrap: weighted metrics equal scikit-learn on resamples, closed-form jackknives, SE, BCa, coverage."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import accuracy_score, f1_score, log_loss, roc_auc_score

from mathguard.errors import InputError
from mathguard.evaluation import paired_bootstrap
from mathguard.evaluation.bootstrap import replicates
from mathguard.evaluation.metrics import AUC, F1, Accuracy, Atoms, LogLoss

SKLEARN = {"accuracy": accuracy_score, "f1": f1_score, "auc": roc_auc_score,
           "log_loss": lambda y, p: log_loss(y, p, labels=[0, 1])}


def _inputs(name, d):
    if name in ("accuracy", "f1"):
        return d["pred_a"], d["pred_b"]
    if name == "auc":
        return d["proba_a"][:, 1], d["proba_b"][:, 1]
    return d["proba_a"], d["proba_b"]


@pytest.mark.parametrize("metric", [Accuracy(), F1(), AUC(), LogLoss()], ids=lambda m: m.name)
def test_weighted_values_equal_sklearn_on_resamples(metric, cancer_preds):
    y = cancer_preds["y"]
    a, b = _inputs(metric.name, cancer_preds)
    atoms = metric.atoms(y, a, b)
    rng = np.random.default_rng(3)
    for _ in range(3):
        idx = rng.integers(0, y.size, y.size)
        if atoms.per_example:
            w = np.bincount(idx, minlength=y.size)
        else:  # map each example to its cell (np.unique orders cells the same way)
            cols = (a == y, b == y) if metric.name == "accuracy" else (y, a, b)
            _, inv = np.unique(np.column_stack(cols), axis=0, return_inverse=True)
            w = np.bincount(inv.ravel()[idx], minlength=atoms.counts.size)
        ours = metric.values(atoms, w[None, :].astype(float))[0]
        ref = [SKLEARN[metric.name](y[idx], p[idx]) for p in (a, b)]
        np.testing.assert_allclose(ours, ref, rtol=1e-10)


@pytest.mark.parametrize("metric", [AUC(), LogLoss()], ids=lambda m: m.name)
def test_closed_form_jackknife_equals_brute_force(metric, cancer_preds):
    n = 80
    d = {k: v[:n] for k, v in cancer_preds.items()}
    d["proba_a"] = np.round(d["proba_a"], 1)  # ties exercise the one-half rule
    d["proba_a"][:, 0] = 1 - d["proba_a"][:, 1]
    atoms = metric.atoms(d["y"], *_inputs(metric.name, d))
    brute = metric.values(atoms, atoms.counts[None, :] - np.eye(n))
    np.testing.assert_allclose(metric.jackknife(atoms), brute, rtol=1e-10)


def test_multinomial_and_index_resampling_agree_with_analytic_se():
    rng = np.random.default_rng(0)
    n = 2000
    y = rng.integers(0, 2, n)
    a = np.where(rng.random(n) < 0.8, y, 1 - y)
    b = np.where(rng.random(n) < 0.85, y, 1 - y)
    d = (b == y).astype(float) - (a == y)
    analytic = d.std() / np.sqrt(n)  # SE of the plug-in mean under resampling
    acc = Accuracy()
    cells = acc.atoms(y, a, b)
    per_example = Atoms(np.ones(n), {"correct": np.column_stack([a == y, b == y]).astype(float)})
    se_cells = replicates(acc, cells, 20_000, np.random.default_rng(1)).std()
    se_index = replicates(acc, per_example, 4_000, np.random.default_rng(2)).std()
    assert se_cells == pytest.approx(analytic, rel=0.03)
    assert se_index == pytest.approx(analytic, rel=0.06)


def test_bca_close_to_scipy(cancer_preds):
    from scipy.stats import bootstrap

    y, pb = cancer_preds["y"], cancer_preds["proba_b"]
    pa = 0.7 * cancer_preds["proba_a"] + 0.15  # bound the tree's log losses so the tails are not a few outliers
    ours = paired_bootstrap(y, pa, pb, metric="log_loss", n_resamples=20_000, method="bca", random_state=0)
    la, lb = -np.log(pa[np.arange(y.size), y]), -np.log(pb[np.arange(y.size), y])
    ref = bootstrap((la, lb), lambda u, v, axis: v.mean(axis) - u.mean(axis), paired=True, vectorized=True,
                    n_resamples=20_000, method="BCa", random_state=0).confidence_interval
    width = ref.high - ref.low
    assert ours.estimate == pytest.approx(lb.mean() - la.mean())
    assert abs(ours.ci[0] - ref.low) < 0.05 * width and abs(ours.ci[1] - ref.high) < 0.05 * width


@pytest.mark.parametrize("method", ["percentile", "bca"])
def test_ci_covers_true_difference_at_nominal_rate(method):
    # joint law of (A right, B right): both .72, only A .06, only B .12, neither .10 -> true gain .06
    probs = np.array([0.10, 0.12, 0.06, 0.72])  # cells (ra, rb) = 00, 01, 10, 11
    rng = np.random.default_rng(42)
    sims, n, hits, wald_hits = 1000, 300, 0, 0
    for s in range(sims):
        cell = rng.choice(4, n, p=probs)
        ra, rb = cell >= 2, cell % 2 == 1
        y = rng.integers(0, 2, n)
        res = paired_bootstrap(y, np.where(ra, y, 1 - y), np.where(rb, y, 1 - y), metric="accuracy",
                               n_resamples=999, method=method, random_state=s)
        hits += res.ci[0] <= 0.06 <= res.ci[1]
        d = rb.astype(float) - ra
        wald_hits += abs(d.mean() - 0.06) <= 1.96 * d.std() / np.sqrt(n)
    coverage, wald = hits / sims, wald_hits / sims
    # 95 % nominal, binomial SE 0.007; the Wald interval on the same draws shares their luck
    assert 0.92 <= coverage <= 0.975, coverage
    assert abs(coverage - wald) <= 0.015, (coverage, wald)


def test_bootstrap_p_value_never_zero_and_bad_input(cancer_preds):
    y = cancer_preds["y"]
    res = paired_bootstrap(y, cancer_preds["proba_a"][:, 1], cancer_preds["proba_b"][:, 1], metric="auc", n_resamples=500)
    assert res.p_value >= 2 / 501
    with pytest.raises(InputError, match="rows must sum to 1"):
        paired_bootstrap(y, cancer_preds["proba_a"] * 0.5, cancer_preds["proba_b"], metric="log_loss")
    with pytest.raises(InputError, match="single class"):
        paired_bootstrap(np.ones(10, int), np.linspace(0, 1, 10), np.linspace(0, 1, 10), metric="auc")
    with pytest.raises(InputError, match="^method must be one of .bca., .percentile."):
        paired_bootstrap(y, y, y, method="studentized")


def test_packed_cells_equal_numpy_unique_rows():
    from mathguard.evaluation.metrics import _cells

    rng = np.random.default_rng(0)
    cols = [rng.integers(0, k, 5000) for k in (10, 3, 7)]
    ref, ref_counts = np.unique(np.column_stack(cols), axis=0, return_counts=True)
    uniq, counts = _cells(*cols)
    np.testing.assert_array_equal(uniq, ref)
    np.testing.assert_array_equal(counts, ref_counts)
    sparse = [rng.integers(0, 3000, 50) for _ in range(3)]  # 2.7e10 possible keys: the np.unique branch
    np.testing.assert_array_equal(_cells(*sparse)[0], np.unique(np.column_stack(sparse), axis=0))


def test_multiclass_f1_is_sklearn_macro():
    rng = np.random.default_rng(5)
    y = rng.integers(0, 4, 300)
    a = np.where(rng.random(300) < 0.7, y, rng.integers(0, 4, 300))
    b = np.where(rng.random(300) < 0.8, y, rng.integers(0, 4, 300))
    res = paired_bootstrap(y, a, b, metric="f1", n_resamples=200)
    assert res.value_a == pytest.approx(f1_score(y, a, average="macro"), rel=1e-12)
    assert res.value_b == pytest.approx(f1_score(y, b, average="macro"), rel=1e-12)
