"""Property test (issue #11): random shapes, dtypes, NaN/Inf and extreme magnitudes at the public functions.

Each call must return a result or raise a MathguardError: never another exception (a crash
the CLI would call an internal error) and never a NaN in a certificate.
"""

import warnings
from typing import Any, Callable

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from torch import nn

import mathguard as mg
from mathguard.errors import MathguardError

SETTINGS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow],
                    derandomize=True)

EXTREMES = [0.0, -0.0, 1.0, -1.0, 1e-308, -1e-308, 1e308, -1e308, 1e150, float("nan"), float("inf"),
            float("-inf")]
FLOATS = st.one_of(st.sampled_from(EXTREMES), st.floats(-1e3, 1e3, allow_nan=False))
DTYPES = st.sampled_from([np.float64, np.float32, np.int64, np.bool_])


def arrays(min_dims: int = 0, max_dims: int = 3, max_side: int = 6) -> st.SearchStrategy[np.ndarray]:
    """Arrays of any of the dtypes above with values drawn from FLOATS (cast, so ints stay ints)."""
    shapes = hnp.array_shapes(min_dims=min_dims, max_dims=max_dims, min_side=0, max_side=max_side)
    return st.builds(_cast, hnp.arrays(np.float64, shapes, elements=FLOATS), DTYPES)


def _cast(a: np.ndarray, dtype: Any) -> np.ndarray:
    with np.errstate(invalid="ignore", over="ignore"):
        return np.nan_to_num(a, nan=0, posinf=1, neginf=-1).astype(dtype) if dtype in (np.int64, np.bool_) \
            else a.astype(dtype)


def result_or_mathguard_error(call: Callable[[], Any]) -> Any:
    """The call's result, or None when it raised a MathguardError; any other exception fails the test."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            return call()
        except MathguardError:
            return None


def _clf(k: int = 3, d: int = 4) -> Any:
    torch.manual_seed(0)
    return mg.wrap(nn.Sequential(nn.Linear(d, 8), nn.ReLU(), nn.Linear(8, k)).eval(), input_shape=(d,),
                   bounds=(0.0, 1.0))


CLF = _clf()


@SETTINGS
@given(x=arrays())
def test_model_protocol(x):
    for call in (lambda: CLF.as_input(x), lambda: CLF.logits(x), lambda: CLF.predict(x),
                 lambda: CLF.as_labels(x, len(x) if x.ndim else 1)):
        result_or_mathguard_error(call)


@SETTINGS
@given(x=arrays(), eps=FLOATS, sigma=FLOATS, n=st.one_of(st.integers(-2, 50), FLOATS))
def test_certificates_never_hold_nan(x, eps, sigma, n):
    y = np.zeros(len(x) if x.ndim else 1, dtype=int)
    bounds = result_or_mathguard_error(lambda: mg.certify.ibp(CLF, x, y, eps=eps))
    if bounds is not None:
        assert not (torch.isnan(bounds.lower).any() or torch.isnan(bounds.upper).any())
        assert (bounds.lower <= bounds.upper + 1e-5).all()
    cert = result_or_mathguard_error(lambda: mg.certify.smoothing(CLF, x[:2] if x.ndim else x, sigma=sigma, n=n, n0=5))
    if cert is not None:
        assert not np.isnan(cert.radius).any() and np.isfinite(cert.radius).all()


@SETTINGS
@given(x=arrays(), eps=st.one_of(FLOATS, st.lists(FLOATS, max_size=3)))
def test_attacks(x, eps):
    y = np.zeros(len(x) if x.ndim else 1, dtype=int)
    result_or_mathguard_error(lambda: mg.attacks.FGSM()(CLF, x, y, eps=eps))
    result_or_mathguard_error(lambda: mg.attacks.PGD(steps=2)(CLF, x, y, eps=eps))
    result_or_mathguard_error(lambda: mg.attacks.APGD(steps=3)(CLF, x, y, eps=eps))
    result_or_mathguard_error(lambda: mg.attacks.DeepFool(steps=3)(CLF, x, y))


@SETTINGS
@given(shape=st.tuples(st.integers(-1, 3), st.integers(-1, 5)), bounds=st.lists(FLOATS, max_size=3),
       std=FLOATS)
def test_wrap_options(shape, bounds, std):
    result_or_mathguard_error(lambda: mg.wrap(nn.Linear(4, 3), input_shape=shape))
    result_or_mathguard_error(lambda: mg.wrap(nn.Linear(4, 3), input_shape=(4,), bounds=bounds))
    result_or_mathguard_error(lambda: mg.wrap(nn.Linear(4, 3), input_shape=(4,), mean=0.0, std=std))


@SETTINGS
@given(X=arrays(min_dims=1, max_dims=3, max_side=8))
def test_data_audit(X):
    result_or_mathguard_error(lambda: mg.audit_data(X, figures=False))


@SETTINGS
@given(ref=arrays(min_dims=1, max_dims=2, max_side=8), cur=arrays(min_dims=1, max_dims=2, max_side=8))
def test_drift(ref, cur):
    prof = result_or_mathguard_error(lambda: mg.drift.profile(ref))
    result_or_mathguard_error(lambda: mg.drift.compare(ref, cur, multivariate=False))
    if prof is not None:
        result_or_mathguard_error(lambda: mg.drift.compare(prof, cur, multivariate=False))


@SETTINGS
@given(p=arrays(max_side=5), q=arrays(max_side=5))
def test_information(p, q):
    for f in (mg.info.entropy, lambda a: mg.info.kl(a, q), lambda a: mg.info.js(a, q), lambda a: mg.info.psi(a, q)):
        result_or_mathguard_error(lambda: f(p))


@SETTINGS
@given(y=arrays(max_dims=1, max_side=8), a=arrays(max_dims=2, max_side=8), b=arrays(max_dims=2, max_side=8),
       metric=st.sampled_from(["accuracy", "f1", "auc", "log_loss"]))
def test_statistics(y, a, b, metric):
    result_or_mathguard_error(lambda: mg.evaluation.compare(y, a, b, metric=metric, n_resamples=100))
    result_or_mathguard_error(lambda: mg.evaluation.calibration(y, a))
    result_or_mathguard_error(lambda: mg.evaluation.fit_temperature(y, a))
    result_or_mathguard_error(lambda: mg.evaluation.holm(a))


@SETTINGS
@given(w=hnp.arrays(np.float64, (3, 4), elements=FLOATS), scale=FLOATS)
def test_lipschitz_bound_is_never_nan(w, scale):
    net = nn.Sequential(nn.Linear(4, 3), nn.ReLU(), nn.Linear(3, 2)).double()
    with torch.no_grad():
        net[0].weight.copy_(torch.from_numpy(w))
        net[2].weight.mul_(scale if np.isfinite(scale) else 1.0)
    lip = result_or_mathguard_error(lambda: mg.certify.lipschitz(net))
    if lip is not None:
        assert not np.isnan(lip.bound) and lip.bound >= 0


def test_lipschitz_of_weights_near_the_float64_limit_is_a_number():
    net = nn.Sequential(nn.Linear(4, 2)).double()
    with torch.no_grad():
        net[0].weight.copy_(torch.tensor([[1e308, 1e308, 0, 1e308], [1e308, -1e308, 1, 1]], dtype=torch.float64))
    bound = mg.certify.lipschitz(net).bound
    assert not np.isnan(bound) and bound >= np.sqrt(3) * 1e308 * (1 - 1e-9)


@SETTINGS
@given(counts=st.lists(st.one_of(st.integers(-5, 10**6), FLOATS), min_size=4, max_size=4),
       alpha=FLOATS, min_effect=st.one_of(st.none(), FLOATS))
def test_ab_and_mcnemar(counts, alpha, min_effect):
    result_or_mathguard_error(lambda: mg.evaluation.ab_test(*counts, alpha=alpha, min_effect=min_effect))
    result_or_mathguard_error(lambda: mg.evaluation.mcnemar(counts[0], counts[1]))
