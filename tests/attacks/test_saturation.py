"""A saturated softmax must not stall gradient attacks: the margin takes over where cross-entropy is flat."""

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.datasets import load_breast_cancer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

import mathguard as mg
from mathguard.attacks.geometry import loss_gradient


def test_loss_gradient_falls_back_to_the_margin_only_where_it_vanished():
    z = torch.tensor([[0.0, 1.0], [0.0, 0.0]], requires_grad=True)
    logits = z * torch.tensor([[200.0, 200.0], [1.0, 1.0]]) + torch.tensor([[0.0, 0.0], [0.5, 0.0]])
    y = torch.tensor([1, 0])
    loss = F.cross_entropy(logits, y, reduction="none")
    (plain,) = torch.autograd.grad(loss.sum(), z, retain_graph=True)
    g = loss_gradient(loss, logits, y, z)
    assert plain[0].abs().max() == 0 and g[0].abs().max() > 0  # row 0: softmax saturated in float32
    assert torch.equal(g[1], plain[1])                        # row 1: untouched


def test_attacks_reach_the_exact_linear_boundary_on_raw_tabular_features():
    d = load_breast_cancer()
    X, y = d.data.astype(np.float32), d.target
    est = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000)).fit(X[:350], y[:350])
    clf = mg.wrap(est)
    x, yt = torch.tensor(X[350:400]), torch.tensor(y[350:400])
    exact = mg.attacks.classifier_minimal_perturbation(clf, x, yt, norm="linf")
    assert float(exact.max()) < 1.0  # so every point can be fooled at eps = 1
    for attack in (mg.attacks.PGD(steps=30), mg.attacks.APGD(steps=30)):
        robust = attack(clf, x, yt, eps=[0.2, 1.0]).robust_accuracy
        assert robust[1.0] == 0.0, (attack.name, robust)  # a random start far out used to saturate the softmax
