"""#26: declared argument rules. Generated from the declarations: for every declared entry point, every declared
argument and every value its rule refuses, the call fails before any work with an InputError naming the argument."""

from __future__ import annotations

import importlib
import inspect
import pkgutil

import pytest

import mathguard
from mathguard.errors import InputError
from mathguard.params import DECLARED, Budgets, Choice, Int, Real, Seed

for _module in pkgutil.walk_packages(mathguard.__path__, "mathguard."):
    if ".migrations" not in _module.name:  # importing registers each module's declarations
        importlib.import_module(_module.name)

CASES = [(entry, name, bad) for entry in DECLARED for name, rule in entry.__rules__.items() for bad in rule.bad]


def _call(entry, name, value):  # noqa: ANN001, ANN202
    """Call ``entry`` with ``name=value``, the other required arguments given good values (or placeholders)."""
    params = list(inspect.signature(entry).parameters.values())
    method = bool(params) and params[0].name == "self"
    args, kwargs = [], {}
    for p in params[1:] if method else params:
        if p.name == name or p.default is not p.empty or p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
            continue
        filler = entry.__rules__[p.name].good if p.name in entry.__rules__ else object()
        if p.kind == p.POSITIONAL_ONLY:
            args.append(filler)
        else:
            kwargs[p.name] = filler
    kwargs[name] = value
    return entry(None, *args, **kwargs) if method else entry(*args, **kwargs)


@pytest.mark.parametrize("entry, name, bad", CASES,
                         ids=[f"{e.__qualname__}-{n}-{b!r}" for e, n, b in CASES])
def test_a_bad_argument_is_refused_by_name(entry, name, bad) -> None:
    with pytest.raises(InputError) as refused:
        _call(entry, name, bad)
    message = str(refused.value)
    assert message.startswith(name + " ") or f" {name} " in message, message
    assert "\n" not in message


def test_the_main_entry_points_declare_their_rules() -> None:
    declared = {f"{e.__module__}.{e.__qualname__}" for e in DECLARED}
    for expected in ("mathguard.certify.smoothing.smoothing", "mathguard.evaluation.paired.compare",
                     "mathguard.evaluation.calibration.calibration", "mathguard.detect.pipeline.detect_report",
                     "mathguard.defend.training.adversarial_training", "mathguard.defend.ecoc.ECOC.__init__",
                     "mathguard.training.monitor.Monitor.__init__"):
        assert expected in declared


@pytest.mark.parametrize("rule", [Real(0, 1, open_low=True), Int(2, 5), Seed(), Choice(("a", "b")), Budgets()])
def test_each_rule_accepts_its_good_value_and_refuses_its_bad_ones(rule) -> None:
    rule.check(rule.good, "x")
    for bad in rule.bad:
        with pytest.raises(InputError, match="^x "):
            rule.check(bad, "x")


def test_a_declared_rule_never_changes_a_valid_result() -> None:
    """Values pass through untouched: the same call with and without the declaration gives the same numbers."""
    import numpy as np

    from mathguard.evaluation.paired import compare

    y = np.array([0, 1, 1, 0, 1, 0, 1, 1, 0, 0] * 5)
    a, b = y.copy(), y.copy()
    a[:7] = 1 - a[:7]
    got = compare(y, a, b, random_state=3, n_resamples=200)
    raw = inspect.unwrap(compare)(y, a, b, random_state=3, n_resamples=200)
    assert (got.ci, got.p_value, got.effect) == (raw.ci, raw.p_value, raw.effect)


# --- every public entry point declares its scalar arguments ---------------------------------------------------

#: Values handed back to the user (results, records, figures): built by mathguard, so their fields are not input.
RESULTS = {
    "Finding", "Report", "AttackResult", "TransferResult", "UniversalResult", "SmoothingCertificate",
    "IntervalBounds", "Relevance", "ABTest", "CVComparison", "Comparison", "LogCounts", "Profile", "History",
    "Figure", "Table",
}
#: Arguments that are free text or a name the caller chooses (no rule can refuse a value of theirs).
FREE = {"title", "summary", "caption", "detail", "fix", "name", "baseline_name", "param_name", "unit", "layer", "db", "kind",
        "input_type",
        "last_error"}


def _public_entry_points():  # noqa: ANN202
    import mathguard as mg

    seen = set()
    for package in [mg, *(importlib.import_module(f"mathguard.{n}") for n in sorted(mg._SUBPACKAGES))]:
        for attr in getattr(package, "__all__", []):
            obj = getattr(package, attr)
            if not callable(obj) or id(obj) in seen or attr in RESULTS or isinstance(obj, type) and issubclass(
                    obj, BaseException):
                continue
            seen.add(id(obj))
            yield f"{package.__name__}.{attr}", obj


def _scalar_arguments(fn) -> list[str]:  # noqa: ANN001
    """Arguments that take a number or a keyword string: a numeric or string default, or a seed, norm or budget."""
    out = []
    for p in inspect.signature(fn).parameters.values():
        default = p.default
        scalar = isinstance(default, (int, float, str)) and not isinstance(default, bool)
        if p.name != "self" and p.name not in FREE and (scalar or p.name in ("random_state", "norm", "eps", "alpha")):
            out.append(p.name)
    return out


def test_every_public_entry_point_declares_its_scalar_arguments() -> None:
    """What the generated bad-input test covers is every public function and constructor's numbers, seeds and
    keyword strings: one left undeclared fails here, by name."""
    missing = []
    for qualname, obj in _public_entry_points():
        fn = obj.__init__ if isinstance(obj, type) else obj
        rules = getattr(fn, "__rules__", {})
        left = [a for a in _scalar_arguments(fn) if a not in rules]
        if left:
            missing.append(f"{qualname}: {', '.join(left)}")
    assert not missing, "undeclared arguments:\n" + "\n".join(missing)
