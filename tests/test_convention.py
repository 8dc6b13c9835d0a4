"""The API convention of CONTRIBUTING.md, checked on every public entry point so it cannot drift again.

Every function in a lens package's ``__all__`` is walked: options after the data are
keyword-only, no parameter uses a retired name, and an entry point returns a Report or a
typed result with ``.report()`` whose fields are numpy, not torch (the attack lens excepted,
on purpose). Formulas and builders are listed by name, so adding a function means deciding
which it is.
"""

from __future__ import annotations

import dataclasses
import importlib
import inspect
import typing

import pytest

import mathguard as mg
from mathguard.report import Report

LENSES = ("models", "data", "training", "evaluation", "info", "drift", "attacks", "robustness", "certify",
          "defend", "detect", "guard", "auditor", "monitor")

#: Names a positional (data) parameter may have: models, data, truths and predictions.
DATA = {"clf", "model", "net", "obj", "spec", "estimator", "est_a", "est_b", "make_estimator", "surrogate", "target",
        "detector", "detectors", "X", "x", "X_train", "y_train", "y", "y_true", "y_val", "logits_val", "proba",
        "proba_pool", "X_pool",
        "pred_a", "pred_b", "baseline", "candidates", "params", "reference", "current", "p", "q", "joint",
        "expected", "actual", "feature", "hit", "confidence", "x_clean", "X_test", "y_test", "loader", "loss_fn", "progress",
        "successes_a", "n_a", "successes_b", "n_b", "b", "c", "p_values", "k", "n", "sigma", "p_a", "min_effect",
        "W", "settings", "report", "config", "text", "weight", "name", "ref_counts", "cur_counts", "wx", "wy",
        "clean", "shifted", "input_shape", "n_classes"}

#: Retired parameter names and what replaced them.
RETIRED = {"seed": "random_state", "level": "alpha", "by": "strategy"}

#: Functions that are formulas or builders, not lens entry points: they return numbers, arrays,
#: models or configuration, and say so here.
NOT_ENTRY_POINTS = {
    "models": {"wrap", "load_model", "nondeterminism_finding", "output_findings", "evaluation_findings",
               "probability_output_finding",
               "training_mode_finding"},
    "training": {"layer_spectrum"},
    "evaluation": {"holm", "sample_size", "fit_temperature", "mcnemar", "paired_bootstrap", "reliability"},
    "info": {"entropy", "cross_entropy", "kl", "js", "psi", "perplexity", "mutual_information", "select_uncertain",
             "select_diverse", "information_gain"},
    "drift": {"chi_square", "ks_test", "wasserstein", "profile"},
    "attacks": {"minimal_perturbation", "classifier_minimal_perturbation", "estimate_gradient", "transfer",
                "universal_perturbation"},
    "robustness": {"default_attacks"},
    "certify": {"lower_confidence_bound", "max_certifiable_radius", "smoothed_predict", "lipschitz"},
    "defend": {"adversarial_training", "batches", "ecoc_hinge_loss", "ecoc_loss", "gaussian_augmentation", "ibp_training", "lipschitz_layers",
               "train"},
    "detect": {"make_detector", "score_many", "detection_scores"},
    "auditor": {"junit_xml", "load_config"},
    "monitor": {"create_app"},
}

#: Results that may hold torch tensors, on purpose (CONTRIBUTING.md): the attack lens hands adversarial
#: inputs back to the torch model, and IBP bounds stay differentiable for IBP training.
TORCH_RESULTS = {"mathguard.attacks", "mathguard.certify.ibp"}


def _functions() -> list[tuple[str, str, typing.Callable]]:
    out = []
    for lens in LENSES:
        module = importlib.import_module(f"mathguard.{lens}")
        for name in module.__all__:
            obj = getattr(module, name)
            if inspect.isfunction(obj):
                out.append((lens, name, obj))
    return out


FUNCTIONS = _functions()
IDS = [f"{lens}.{name}" for lens, name, _ in FUNCTIONS]


def _classes() -> list[tuple[str, str, type]]:
    out = []
    for lens in LENSES:
        module = importlib.import_module(f"mathguard.{lens}")
        out += [(lens, n, getattr(module, n)) for n in module.__all__ if inspect.isclass(getattr(module, n))]
    return out


@pytest.mark.parametrize("lens,name,func", FUNCTIONS, ids=IDS)
def test_options_are_keyword_only(lens, name, func):
    for p in inspect.signature(func).parameters.values():
        if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD):
            assert p.name in DATA, f"{lens}.{name}: option {p.name!r} must be keyword-only (after a *)"


@pytest.mark.parametrize("lens,name,func", FUNCTIONS, ids=IDS)
def test_no_retired_parameter_names(lens, name, func):
    for p in inspect.signature(func).parameters:
        assert p not in RETIRED, f"{lens}.{name}: {p}= is called {RETIRED[p]}= by the convention"


def _constructed_by_users() -> list[tuple[str, str, type]]:
    """Classes a user builds (attacks, detectors, the guard); result dataclasses are built by mathguard."""
    return [(lens, n, c) for lens, n, c in _classes() if not dataclasses.is_dataclass(c)]


@pytest.mark.parametrize("lens,name,cls", _constructed_by_users(),
                         ids=[f"{lens}.{n}" for lens, n, _ in _constructed_by_users()])
def test_class_constructors_use_the_shared_names(lens, name, cls):
    params = inspect.signature(cls).parameters
    for p in params:
        assert p not in RETIRED, f"{lens}.{name}(): {p}= is called {RETIRED[p]}= by the convention"


def _result_type(func: typing.Callable) -> typing.Any:
    return typing.get_type_hints(func).get("return")


def _entry_points():
    return [(lens, name, f) for lens, name, f in FUNCTIONS if name not in NOT_ENTRY_POINTS.get(lens, set())]


@pytest.mark.parametrize("lens,name,func", _entry_points(), ids=[f"{lens}.{n}" for lens, n, _ in _entry_points()])
def test_an_entry_point_returns_a_report_or_a_typed_result_with_report(lens, name, func):
    ret = _result_type(func)
    assert isinstance(ret, type), f"{lens}.{name} must declare one result type, got {ret!r}"
    if issubclass(ret, Report):
        return
    assert callable(getattr(ret, "report", None)), f"{lens}.{name} returns {ret.__name__}, which has no .report()"
    assert dataclasses.is_dataclass(ret), f"{ret.__name__} should be a dataclass (a typed result)"


def _result_classes() -> list[type]:
    found: dict[str, type] = {}
    for _, _, func in FUNCTIONS:
        ret = _result_type(func)
        if isinstance(ret, type) and dataclasses.is_dataclass(ret) and ret.__module__.startswith("mathguard"):
            found[ret.__qualname__] = ret
    return sorted(found.values(), key=lambda c: c.__qualname__)


@pytest.mark.parametrize("cls", _result_classes(), ids=lambda c: c.__qualname__)
def test_results_hold_numpy_not_torch(cls):
    if any(cls.__module__.startswith(m) for m in TORCH_RESULTS):
        pytest.skip("the attack lens returns torch tensors on purpose (CONTRIBUTING.md)")
    for field, hint in typing.get_type_hints(cls).items():
        assert "Tensor" not in str(hint), f"{cls.__qualname__}.{field} is a torch tensor; results are numpy"


@pytest.mark.parametrize("cls", _result_classes(), ids=lambda c: c.__qualname__)
def test_no_result_keeps_a_second_spelling_of_report(cls):
    assert not hasattr(cls, "to_report"), f"{cls.__qualname__}.to_report(): the one spelling is .report()"


def test_no_pre_release_shims():
    """No release has happened, so there is nothing to stay compatible with (#26): one spelling each."""
    import importlib.util

    assert importlib.util.find_spec("mathguard.deprecation") is None
    with pytest.raises(TypeError):
        mg.evaluation.compare([0, 1], [0, 1], [1, 1], seed=1)
    with pytest.raises(TypeError):
        mg.info.entropy([0.5, 0.5], 2)
