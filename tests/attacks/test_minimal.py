"""DeepFool and CW: exact on linear models, at least as good as foolbox on an MLP."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import mathguard as mg
from mathguard.errors import InputError, UnsupportedError


def _exact(linear_clf, x, y, norm):
    return mg.attacks.classifier_minimal_perturbation(linear_clf, x, y, norm=norm)


def test_linear_formula_against_brute_force_binary():
    """Two classes in 2-D: the distance is |w·x + b| / ‖w‖ in the dual norm."""
    W = np.array([[0.0, 0.0], [3.0, -4.0]])
    b = np.array([0.0, 1.0])
    x = np.array([[1.0, 2.0], [2.0, 0.0]])
    y = np.array([0, 1])  # f = 3x1 - 4x2 + 1: -4 (class 0 correct), 7 (class 1 correct)
    l2 = mg.attacks.minimal_perturbation(W, b, x, y, norm="l2")
    linf = mg.attacks.minimal_perturbation(W, b, x, y, norm="linf")
    assert torch.allclose(l2, torch.tensor([4 / 5, 7 / 5], dtype=torch.float64))
    assert torch.allclose(linf, torch.tensor([4 / 7, 7 / 7], dtype=torch.float64))
    # one-row form (binary sign model) gives the same
    assert torch.allclose(mg.attacks.minimal_perturbation(W[1:], b[1:], x, y, norm="l2"), l2)


@pytest.mark.parametrize("norm", ["l2", "linf"])
def test_deepfool_hits_exact_linear_minimum(linear_clf, digits, norm):
    x, y = digits[0][:40], digits[1][:40]
    exact = _exact(linear_clf, x, y, norm)
    res = mg.attacks.DeepFool(norm=norm, overshoot=1e-5)(linear_clf, x, y)
    assert res.minimal and res.success.all()
    pos = exact > 0
    rel = (res.norms[0].double()[pos] / (exact[pos] * (1 + 1e-5)) - 1).abs()
    assert rel.max() < 1e-4
    assert (res.norms[0][~pos] == 0).all()


def test_cw_within_five_percent_of_linear_minimum(linear_clf, digits):
    x, y = digits[0][:24], digits[1][:24]
    exact = _exact(linear_clf, x, y, "l2")
    res = mg.attacks.CW(steps=100, lr=0.01, binary_search_steps=9)(linear_clf, x, y)
    assert res.success.all()
    pos = exact > 0
    ratio = res.norms[0].double()[pos] / exact[pos]
    assert (ratio >= 1 - 1e-4).all()          # nobody beats the exact minimum
    assert ratio.median() < 1.01 and torch.quantile(ratio, 0.9) < 1.05


def test_minimal_result_reads_any_eps(clf, batch):
    x, y = batch
    res = mg.attacks.DeepFool()(clf, x, y)
    at = res.at([0.1, 0.5, 2.0])
    assert (at.norms <= torch.tensor([[0.1], [0.5], [2.0]]) * (1 + 1e-6)).all()
    assert torch.equal(at.success[2], res.success[0] & (res.norms[0] <= 2.0 * (1 + 1e-6)))
    assert torch.equal(at.adversarial[0][~at.success[0]], x[~at.success[0]])
    direct = mg.attacks.DeepFool()(clf, x, y, eps=[0.1, 0.5, 2.0])
    assert torch.equal(direct.success, at.success)
    assert (at.success_rate[:-1] <= at.success_rate[1:]).all()


def _foolbox_norms(fb, mlp, attack, x, y):
    model = fb.PyTorchModel(mlp, bounds=(0, 1))
    raw, _, _ = attack(model, x, y, epsilons=None)
    ok = mlp(raw).argmax(1) != y
    return (raw - x).norm(dim=1), ok


def test_deepfool_no_worse_than_foolbox(mlp, clf, batch):
    import foolbox as fb
    x, y = batch
    theirs, ok_theirs = _foolbox_norms(fb, mlp, fb.attacks.L2DeepFoolAttack(steps=50, overshoot=0.02), x, y)
    ours = mg.attacks.DeepFool(norm="l2", steps=50, overshoot=0.02)(clf, x, y)
    assert ours.success[0].sum() >= ok_theirs.sum()
    both = ours.success[0] & ok_theirs
    assert ours.norms[0][both].median() <= theirs[both].median() * 1.01


def test_cw_no_worse_than_foolbox(mlp, clf, batch):
    import foolbox as fb
    x, y = batch[0][:16], batch[1][:16]
    atk = fb.attacks.L2CarliniWagnerAttack(binary_search_steps=6, steps=60, stepsize=0.01, initial_const=0.01)
    theirs, ok_theirs = _foolbox_norms(fb, mlp, atk, x, y)
    # foolbox's CW returns an all-zero image where it found nothing; that is not a find
    ok_theirs &= (theirs - x.norm(dim=1)).abs() > 1e-4
    ours = mg.attacks.CW(steps=60, binary_search_steps=6, lr=0.01, initial_const=0.01)(clf, x, y)
    assert ours.success[0].sum() >= ok_theirs.sum()
    both = ours.success[0] & ok_theirs
    assert ours.norms[0][both].median() <= theirs[both].median() * 1.02
    assert ours.adversarial.min() >= 0 and ours.adversarial.max() <= 1


def test_minimal_bad_inputs(linear_clf, clf, batch):
    x, y = batch
    with pytest.raises(InputError, match="overshoot"):
        mg.attacks.DeepFool(overshoot=-1)
    with pytest.raises(InputError, match="lr"):
        mg.attacks.CW(lr=0)
    with pytest.raises(InputError, match="features"):
        mg.attacks.minimal_perturbation(np.ones((3, 5)), np.zeros(3), np.ones((2, 4)), [0, 1])
    with pytest.raises(UnsupportedError, match="not linear"):
        mg.attacks.classifier_minimal_perturbation(clf, x, y)


@pytest.mark.parametrize("norm", ["l2", "linf"])
def test_deepfool_exact_on_sklearn_logistic_twin(norm):
    """Breast cancer, scaler folded into the twin: the closed form is |d(x)| / ‖w‖ in raw units."""
    from sklearn.datasets import load_breast_cancer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    X, y = load_breast_cancer(return_X_y=True)
    pipe = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000)).fit(X, y)
    clf = mg.wrap(pipe)
    x, yy = X[:30], y[:30]
    exact = mg.attacks.classifier_minimal_perturbation(clf, x, yy, norm=norm)
    d = pipe.decision_function(x)
    w = pipe[-1].coef_[0] / pipe[0].scale_
    dual = np.linalg.norm(w) if norm == "l2" else np.abs(w).sum()
    wrong = (d > 0).astype(int) != yy
    assert np.allclose(exact.numpy(), np.where(wrong, 0, np.abs(d) / dual), rtol=1e-6)
    res = mg.attacks.DeepFool(norm=norm, overshoot=1e-5)(clf, x, yy)
    pos = exact > 0
    # Inputs are float32 and reach ~2500, where one ulp is 2.4e-4, while Linf steps are ~0.01:
    # the measured norm of (x + r) − x can be off by about one ulp of the largest feature.
    found = res.norms[0].double()[pos] / (1 + 1e-5)
    ulp = float(np.spacing(np.float32(np.abs(x).max())))
    assert ((found - exact[pos]).abs() <= 1e-4 * exact[pos] + (0 if norm == "l2" else 2 * ulp)).all()
