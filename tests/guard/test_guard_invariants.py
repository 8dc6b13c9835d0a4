"""The guard's invariants, on generated batches (DESIGN.md, principle 7; issues #22, #23).

(a) order and split: shuffling the rows of a batch or splitting it into several calls never
    changes any row's decision, label, reasons, scores or p-values;
(b) one bad row (NaN, ±inf, 1e39, a value the model or a detector cannot handle, text, a
    ragged row) among good ones is refused, and changes no other row's decision;
(c) mode: the same decisions whether the user's torch model (BatchNorm and Dropout) was left
    in train or in eval mode, and that mode is left as it was.

The model raises on a whole batch when one of its rows holds POISON in feature 0, and one
detector scores NaN where feature 1 holds SCORE_POISON: the guard must find those rows
without costing the others their answers.
"""

from __future__ import annotations

from functools import cache
from typing import Any

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from torch import nn

import mathguard as mg
from mathguard.detect.forward import Forward

D = mg.detect
N_FEATURES = 5
POISON, SCORE_POISON = 2.71875, -2.71875  # inside the training range: validation lets them through
SETTINGS = settings(max_examples=40, deadline=None, derandomize=True, database=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


class Poisoned(nn.Module):
    """An MLP (BatchNorm, Dropout) that raises on a batch when one of its rows has feature 0 == POISON."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.net = nn.Sequential(nn.Linear(N_FEATURES, 16), nn.BatchNorm1d(16), nn.ReLU(), nn.Dropout(0.5),
                                 nn.Linear(16, 3))
        with torch.no_grad():  # running statistics far from a batch's own: train mode would answer differently
            self.net[1].running_mean.uniform_(-1, 1)
            self.net[1].running_var.uniform_(0.5, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if (x[:, 0] == POISON).any():
            raise RuntimeError("poisoned batch")
        return self.net(x)


class FragileEnergy(D.Energy):
    """Energy, except the score is NaN where feature 1 == SCORE_POISON."""

    name = "fragile"

    def _score_forward(self, out: Forward) -> torch.Tensor:
        s = super()._score_forward(out)
        return torch.where(out.x[:, 1] == SCORE_POISON, torch.full_like(s, float("nan")), s)


@cache
def setup() -> tuple[nn.Module, Any, list, Any]:
    rng = np.random.default_rng(0)
    x_train = rng.uniform(-3, 3, size=(600, N_FEATURES)).astype(np.float32)
    net = Poisoned().eval()
    clf = mg.wrap(net, input_shape=(N_FEATURES,))
    y_train = clf.predict(x_train).numpy()
    dets = [FragileEnergy(clf).calibrate(x_train[:300], fpr=0.1),
            D.Mahalanobis(clf).fit(x_train[:300], y_train[:300]).calibrate(x_train[300:], fpr=0.1)]
    return net, clf, dets, mg.drift.profile(x_train.astype(np.float64))


def guard(with_profile: bool) -> mg.Guard:
    _, clf, dets, prof = setup()
    return mg.Guard(clf, profile=prof if with_profile else None, detectors=dets)


GOOD = st.floats(-3, 3, allow_nan=False, width=32)
BAD_VALUES = [float("nan"), float("inf"), float("-inf"), 1e39, -1e39, 50.0]  # 50: outside the training range


@st.composite
def numeric_rows(draw: st.DrawFn, max_rows: int = 30) -> np.ndarray:
    """Rows mostly good; some hold a bad value, POISON (model fails) or SCORE_POISON (a detector fails)."""
    n = draw(st.integers(1, max_rows))
    x = np.array(draw(st.lists(st.lists(GOOD, min_size=N_FEATURES, max_size=N_FEATURES), min_size=n, max_size=n)),
                 dtype=np.float64)
    for i in draw(st.lists(st.integers(0, n - 1), max_size=max(1, n // 3))):
        kind = draw(st.sampled_from(["value", "poison", "score"]))
        if kind == "value":
            x[i, draw(st.integers(0, N_FEATURES - 1))] = draw(st.sampled_from(BAD_VALUES))
        else:
            x[i, 0 if kind == "poison" else 1] = POISON if kind == "poison" else SCORE_POISON
    return x


def rows_of(out: mg.guard.GuardDecision, order: np.ndarray) -> dict[str, Any]:
    """Everything the guard says about rows ``order`` of a decision, in that order."""
    return {"labels": out.labels[order], "abstained": out.abstained[order], "source": out.source[order],
            "layer": [out.layer[i] for i in order], "reasons": [out.reasons[i] for i in order],
            "proba": out.proba[order], "scores": {k: v[order] for k, v in out.scores.items()},
            "p_values": {k: v[order] for k, v in out.p_values.items()}}


def concat(parts: list[mg.guard.GuardDecision]) -> dict[str, Any]:
    every = [rows_of(p, np.arange(len(p.labels))) for p in parts]
    out: dict[str, Any] = {}
    for key in ("labels", "abstained", "source", "proba"):
        out[key] = np.concatenate([e[key] for e in every])
    for key in ("layer", "reasons"):
        out[key] = [r for e in every for r in e[key]]
    for key in ("scores", "p_values"):
        out[key] = {k: np.concatenate([e[key][k] for e in every]) for k in every[0][key]}
    return out


def assert_same(a: dict[str, Any], b: dict[str, Any]) -> None:
    for key in ("labels", "abstained", "source"):
        np.testing.assert_array_equal(a[key], b[key], err_msg=key)
    assert a["layer"] == b["layer"] and a["reasons"] == b["reasons"]
    # the same rows through the same layers: equal up to the float32 rounding of a differently sized matmul
    np.testing.assert_allclose(a["proba"], b["proba"], rtol=1e-6, atol=1e-9, err_msg="proba")
    for key in ("scores", "p_values"):
        assert a[key].keys() == b[key].keys()
        for name in a[key]:
            np.testing.assert_allclose(a[key][name], b[key][name], rtol=1e-6, atol=1e-9, err_msg=f"{key} {name}")


@pytest.mark.parametrize("with_profile", [False, True], ids=["no-profile", "profile"])
@SETTINGS
@given(x=numeric_rows(), data=st.data())
def test_a_order_and_split_change_no_rows_answer(with_profile, x, data):
    g = guard(with_profile)
    whole = g.predict(x)
    perm = np.array(data.draw(st.permutations(range(len(x)))))
    shuffled = g.predict(x[perm])
    assert_same(rows_of(whole, perm), rows_of(shuffled, np.arange(len(x))))
    cuts = sorted(set(data.draw(st.lists(st.integers(1, max(1, len(x) - 1)), max_size=3))))
    pieces = [g.predict(part) for part in np.split(x, [c for c in cuts if c < len(x)])]
    assert_same(rows_of(whole, np.arange(len(x))), concat(pieces))


WRONG_TYPE_ROWS = [
    ["text"] + [0.0] * (N_FEATURES - 1),
    [None] * N_FEATURES,
    [1 + 2j] + [0.0] * (N_FEATURES - 1),
    [0.0] * (N_FEATURES - 1),  # ragged: one feature short
    [[0.0, 1.0]] * N_FEATURES,  # a list where a number belongs
]


@st.composite
def one_bad_row(draw: st.DrawFn) -> tuple[list, int]:
    """A row that must be refused, as a list: a bad value, POISON, SCORE_POISON or a wrong type."""
    kind = draw(st.sampled_from(["value", "poison", "score", "type"]))
    if kind == "type":
        return list(draw(st.sampled_from(WRONG_TYPE_ROWS))), kind
    row = draw(st.lists(GOOD, min_size=N_FEATURES, max_size=N_FEATURES))
    if kind == "value":
        row[draw(st.integers(0, N_FEATURES - 1))] = draw(st.sampled_from(BAD_VALUES[:5]))
    else:
        row[0 if kind == "poison" else 1] = POISON if kind == "poison" else SCORE_POISON
    return row, kind


@pytest.mark.parametrize("with_profile", [False, True], ids=["no-profile", "profile"])
@SETTINGS
@given(good=st.lists(st.lists(GOOD, min_size=N_FEATURES, max_size=N_FEATURES), min_size=1, max_size=25),
       bad=one_bad_row(), data=st.data())
def test_b_one_bad_row_changes_only_its_own_decision(with_profile, good, bad, data):
    g = guard(with_profile)
    row, kind = bad
    at = data.draw(st.integers(0, len(good)))
    clean = g.predict(np.array(good))
    mixed_rows = good[:at] + [row] + good[at:]
    others = np.delete(np.arange(len(mixed_rows)), at)
    as_array = kind != "type"  # wrong types only exist in a list of rows
    for batch in ([np.array(mixed_rows)] if as_array else []) + [mixed_rows]:
        mixed = g.predict(batch)
        assert mixed.abstained[at] and mixed.labels[at] == -1 and mixed.reasons[at], (kind, row)
        assert_same(rows_of(clean, np.arange(len(good))), rows_of(mixed, others))


@SETTINGS
@given(x=numeric_rows(max_rows=20))
def test_c_train_or_eval_mode_gives_the_same_decisions(x):
    net, _, _, _ = setup()
    g = guard(False)
    try:
        net.train()
        in_train = g.predict(x)
        assert net.training and all(m.training for m in net.modules())  # the user's mode is left alone
        net.eval()
        in_eval = g.predict(x)
        assert not any(m.training for m in net.modules())
    finally:
        net.eval()
    assert_same(rows_of(in_train, np.arange(len(x))), rows_of(in_eval, np.arange(len(x))))


def _cast(a: np.ndarray, dtype: Any) -> np.ndarray:
    with np.errstate(invalid="ignore", over="ignore"):
        return a.astype(dtype)


ANY_CELL = st.one_of(st.floats(), st.integers(-2**70, 2**70), st.booleans(), st.none(), st.text(max_size=3),
                     st.complex_numbers(), st.binary(max_size=2), st.lists(st.floats(), max_size=2))


@SETTINGS
@given(x=st.one_of(
    st.lists(st.lists(ANY_CELL, min_size=0, max_size=N_FEATURES + 1), max_size=6),
    st.builds(np.array, st.lists(st.lists(st.floats(), min_size=N_FEATURES, max_size=N_FEATURES), max_size=6)),
    st.builds(_cast, st.builds(np.array, st.lists(st.floats(-1e40, 1e40), max_size=12)),
              st.sampled_from([np.float64, np.float32, np.float16, np.int8, np.bool_, np.complex64, object, str])),
    ANY_CELL))
def test_anything_is_an_answer_per_row_or_one_input_error(x):
    g = guard(True)
    try:
        out = g.predict(x)
    except mg.InputError as exc:
        assert "\n" not in str(exc)
        return
    n = len(out.labels)
    assert out.proba.shape == (n, 3) and len(out.reasons) == n == len(out.layer)
    assert all(bool(r) == a for r, a in zip(out.reasons, out.abstained))  # a refusal always says why
    accepted = ~out.abstained
    assert np.isfinite(out.proba[accepted]).all() and (out.labels[accepted] >= 0).all()
