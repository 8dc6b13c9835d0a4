"""The guard fails closed (issues #22, #23): NaN scores, unrepresentable rows, failing models, bad arguments.

Each test here failed on the guard before the fix; the comment on each says how.
"""

import numpy as np
import pandas as pd
import pytest
import torch
from torch import nn

import mathguard as mg
from mathguard.detect.forward import Forward

D = mg.detect
POISON = 7.0  # a value of feature 0 that the fragile model and detector below cannot handle


class Fragile(nn.Module):
    """A small MLP whose logits are NaN on any row with feature 0 == POISON (a row-local failure)."""

    def __init__(self, d: int = 4, k: int = 3) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.net = nn.Sequential(nn.Linear(d, 8), nn.ReLU(), nn.Linear(8, k))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.net(x)
        return torch.where((x[:, :1] == POISON), torch.full_like(out, float("nan")), out)


class Raising(nn.Module):
    """Raises on a whole batch whenever one of its rows has feature 0 == POISON."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.net = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 3))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if (x[:, 0] == POISON).any():
            raise RuntimeError("poisoned batch")
        return self.net(x)


class NaNScore(D.Energy):
    """Energy, except the score is NaN on rows with feature 0 == POISON."""

    name = "nanscore"

    def _score_forward(self, out: Forward) -> torch.Tensor:
        s = super()._score_forward(out)
        return torch.where(out.x[:, 0] == POISON, torch.full_like(s, float("nan")), s)


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    return rng.normal(size=(1200, 4)).astype(np.float32)


@pytest.fixture(scope="module")
def clf():
    return mg.wrap(Raising().eval(), input_shape=(4,))


def test_a_nan_detector_score_refuses_its_row(data):
    # before: NaN > threshold is False, so the row was accepted, with the smallest p-value
    clf = mg.wrap(Fragile().net.eval(), input_shape=(4,))
    det = NaNScore(clf).calibrate(data[:200], fpr=0.05)
    x = data[200:210].copy()
    x[3, 0] = POISON
    out = mg.Guard(clf, detectors=[det]).predict(x)
    assert out.abstained[3] and out.layer[3] == "detector" and out.labels[3] == -1
    assert out.reasons[3] == ["nanscore score is nan, not a finite number"]
    assert np.isnan(out.scores["nanscore"][3]) and np.isnan(out.p_values["nanscore"][3])
    assert np.isfinite(out.p_values["nanscore"][np.arange(10) != 3]).all()
    guard = mg.Guard(clf, detectors=[det])
    guard.predict(x)
    (finding,) = [f for f in guard.report().findings if f.id == "monitor.detector-failed"]
    assert finding.severity == mg.report.Severity.MEDIUM and "nanscore on 1 of 10" in finding.title
    x[:, 0] = POISON  # a detector that fails on every row fails the gate
    only_poison = mg.Guard(clf, detectors=[det])
    assert only_poison.predict(x).abstained.all()
    (finding,) = [f for f in only_poison.report().findings if f.id == "monitor.detector-failed"]
    assert finding.severity == mg.report.Severity.HIGH


def test_boolean_profile_columns_accept_numeric_rows():
    # before: a numpy row's 1.0 was labelled '1', never seen in a column profiled as 'True'/'False'
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"a": rng.normal(size=300), "b": rng.normal(size=300), "flag": rng.random(300) > 0.5})
    prof = mg.drift.profile(frame)
    clf = mg.wrap(lambda a: np.full((len(a), 2), 0.5), input_shape=(3,))
    guard = mg.Guard(clf, profile=prof)
    x = frame.to_numpy(dtype=np.float64)[:20]
    assert not guard.predict(x).abstained.any()
    assert not guard.predict(frame.iloc[:5]).abstained.any()
    assert not guard.predict([[0.1, 0.2, True], [0.1, 0.2, 0]]).abstained.any()
    x[0, 2] = 2.0  # neither True nor False
    out = guard.predict(x)
    assert out.reasons[0] == ["feature 'flag' = '2' never seen in training"] and not out.abstained[1:].any()


def test_a_value_too_large_for_float32_abstains_its_row_only(data):
    # before: 1e39 became inf in float32, the model failed on the batch, and all 100 rows abstained
    clf = mg.wrap(Fragile().net.eval(), input_shape=(4,))
    x = data[:100].astype(np.float64)
    x[7, 2] = 1e39
    out = mg.Guard(clf).predict(x)
    assert np.flatnonzero(out.abstained).tolist() == [7]
    assert out.layer[7] == "validation"
    assert out.reasons[7] == ["feature '2' = 1e+39 does not fit the model's input type float32"]


def test_a_half_precision_model_refuses_what_float16_cannot_hold():
    torch.manual_seed(0)
    clf = mg.wrap(nn.Linear(4, 3).half(), input_shape=(4,))
    guard = mg.Guard(clf)
    assert guard.validator.limit == float(torch.finfo(torch.float16).max)
    out = guard.validator(np.array([[1e5, 0, 0, 0], [1.0, 0, 0, 0]]))
    assert out.valid.tolist() == [False, True] and "float16" in out.reasons[0][0]


@pytest.mark.parametrize("net", [Fragile(), Raising()], ids=["nan-logits", "raises"])
def test_a_model_failing_on_some_rows_costs_only_those_rows(net, data):
    # before: one failing row made every row of the batch abstain with "model failed"
    clf = mg.wrap(net.eval(), input_shape=(4,))
    x = data[:1100].copy()  # more than one internal chunk
    poisoned = [0, 513, 1099]
    x[poisoned, 0] = POISON
    out = mg.Guard(clf).predict(x)
    assert np.flatnonzero(out.abstained).tolist() == poisoned
    assert all(out.layer[i] == "model" and out.reasons[i][0].startswith("model failed:") for i in poisoned)
    clean = np.delete(np.arange(len(x)), poisoned)
    bare = torch.softmax(clf.logits(torch.tensor(x[clean])).detach().double(), 1).numpy()
    np.testing.assert_allclose(out.proba[clean], bare, atol=1e-6)


def test_partial_model_failure_is_a_medium_finding(clf, data):
    x = data[:50].copy()
    x[4, 0] = POISON
    guard = mg.Guard(clf)
    guard.predict(x)
    (finding,) = [f for f in guard.report().findings if f.id == "monitor.model-failed"]
    assert finding.severity == mg.report.Severity.MEDIUM and "failed on 1 of the 50 rows" in finding.title
    assert guard.report().metrics["model_failed"] == 1


def test_a_model_failing_on_every_row_is_a_high_finding(data):
    # before: 100 % abstention, no finding, and `--fail-on low` passed
    clf = mg.wrap(Raising().eval(), input_shape=(4,))
    guard = mg.Guard(clf)
    x = data[:30].copy()
    x[:, 0] = POISON
    out = guard.predict(x)
    assert out.abstained.all() and set(out.layer) == {"model"}
    rep = guard.report()
    (finding,) = [f for f in rep.findings if f.id == "monitor.model-failed"]
    assert finding.severity == mg.report.Severity.HIGH and "every one of the 30 rows" in finding.title
    assert "poisoned batch" in finding.detail
    assert rep.gate("high") == 1


@pytest.mark.parametrize("x, message", [
    (None, "x must be a batch of rows .* got NoneType"),
    (3.0, "got float"),
    (np.float32(3.0), "got float32"),
    (np.array(3.0), "0-d array"),
    ("hello", "got str"),
    (b"hello", "got bytes"),
    ({"a": 1}, "got dict"),
    (np.ones((3, 4), dtype=complex), "complex"),
    (torch.ones(3, 4, dtype=torch.complex64), "complex"),
    (np.array(["2020-01-01"] * 4, dtype="datetime64[D]"), "dtype datetime64"),
])
def test_what_is_not_a_batch_is_one_input_error_naming_x(clf, x, message):
    # before: TypeError for None and scalars, "hello" taken as 5 rows, complex silently made real
    guard = mg.Guard(clf)
    with pytest.raises(mg.InputError, match=message) as info:
        guard.predict(x)
    assert "\n" not in str(info.value) and str(info.value).startswith("x ")
    assert guard.report().metrics == {}  # nothing was counted


def test_an_empty_batch_gets_an_empty_decision(clf):
    # before: a raw ValueError from numpy's reshape
    guard = mg.Guard(clf, fallback=lambda rows: np.zeros(len(rows), np.int64))
    for empty in (np.zeros((0, 4)), np.zeros((0, 4), np.float32), torch.zeros(0, 4), [], np.zeros(0),
                  pd.DataFrame({c: [] for c in "0123"})):
        out = guard.predict(empty, y=[])
        assert out.labels.shape == (0,) and out.proba.shape == (0, 3) and out.abstained.shape == (0,)
        assert out.layer == [] and out.reasons == [] and out.scores == {}
    assert guard.report().summary == "0 rows decided."


def test_complex_cells_in_rows_are_refused_not_truncated(clf):
    out = mg.Guard(clf).predict([[1 + 2j, 0.0, 0.0, 0.0], [1.0, 0.0, 0.0, 0.0], [0.5, "x", 0.0, 0.0]])
    assert out.reasons[0] == ["feature '0' is not a number"] and out.reasons[2] == ["feature '1' is not a number"]
    assert out.abstained.tolist() == [True, False, True]


@pytest.mark.parametrize("y, message", [
    (["0"] * 5, "y must hold integer class labels"),
    (np.array(["a", "b", "c", "d", "e"]), "y must hold integer class labels"),
    ([0, 1, 2], "y has 3 labels for 5 rows"),
    ([0, 1, 2, 3, 1], r"y must hold labels in 0\.\.2"),
    ([0.5, 1, 2, 0, 1], "integer"),
    ([0, 1, np.nan, 0, 1], "y contains NaN"),
    (1, "y must hold one label per row"),
])
def test_bad_labels_are_one_input_error_before_anything_is_counted(clf, data, y, message):
    # before: string labels compared unequal to every prediction (accuracy 0, silently)
    guard = mg.Guard(clf)
    with pytest.raises(mg.InputError, match=message):
        guard.predict(data[:5], y=y)
    assert guard.report().metrics == {}


def test_integer_like_labels_are_accepted(clf, data):
    guard = mg.Guard(clf)
    pred = guard.predict(data[:20]).labels
    guard.predict(data[:20], y=pred.astype(np.float64))
    guard.predict(data[:20], y=torch.tensor(pred))
    assert guard.report().metrics["accepted_accuracy"] == 1.0


def test_an_iterator_of_rows_reaches_the_fallback_too(clf, data):
    seen = []

    def rule(rows):
        seen.append(list(rows))
        return np.zeros(len(seen[-1]), np.int64)

    rows = [list(data[0]), [np.nan] * 4, list(data[1])]
    out = mg.Guard(clf, fallback=rule).predict(iter(rows))
    assert out.source.tolist() == ["model", "fallback", "model"] and len(seen[0]) == 1


def test_a_series_is_one_row(clf, data):
    out = mg.Guard(clf).predict(pd.Series(data[0], index=[str(i) for i in range(4)]))
    assert len(out.labels) == 1 and not out.abstained[0]
