"""One function per lens of the whole-model audit: what it runs, on what, and its headline number.

Each takes the :class:`AuditInputs` and returns ``(section report, headline)``, or raises
:class:`NotApplicable` with the one line that says why it cannot run on this model or data.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Callable

import numpy as np
import torch
from scipy.stats import binomtest

from mathguard.auditor.budget import Plan
from mathguard.auditor.config import AuditConfig
from mathguard.auditor.units import Standardised, feature_scale
from mathguard.models.base import Classifier
from mathguard.models.torch_model import eval_mode
from mathguard.report import Finding, Report, Severity

MIN_TEST = 30  # fewer labelled test rows than this: the statistics lens says "insufficient data"


class NotApplicable(Exception):
    """The lens cannot run on this model or data; the message says why in one line."""


@dataclass
class AuditInputs:
    clf: Classifier
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    config: AuditConfig
    plan: Plan
    feature_names: list[str] | None = None
    baseline: Classifier | None = None
    notes: list[str] = field(default_factory=list)
    client: Any = None  # a dask.distributed.Client: the adversarial lens shards its points over it

    @property
    def tabular(self) -> bool:
        return len(self.clf.input_shape) == 1

    def flat(self, x: np.ndarray) -> np.ndarray:
        return x.reshape(len(x), -1)

    def proba(self, clf: Classifier, x: np.ndarray) -> np.ndarray:
        with torch.no_grad(), eval_mode(clf):
            xt = clf.as_input(x)
            return np.concatenate([clf.proba(xt[i:i + 4096]).double().cpu().numpy() for i in range(0, len(xt), 4096)])

    @cached_property
    def proba_test(self) -> np.ndarray:
        return self.proba(self.clf, self.x_test)

    @cached_property
    def proba_train(self) -> np.ndarray:
        return self.proba(self.clf, self.x_train)

    @property
    def eps(self) -> tuple[float, ...]:
        return tuple(sorted(self.config.eps))

    @property
    def eps_unit(self) -> str:
        """"std" or "raw": what the configured eps is measured in for this model."""
        if self.config.eps_unit != "auto":
            return self.config.eps_unit
        return "std" if self.tabular and self.clf.bounds is None else "raw"

    def eps_text(self, e: float) -> str:
        return f"eps={e:g}" + (" sd" if self.eps_unit == "std" else " (raw units)" if self.tabular else "")

    @cached_property
    def attacked(self) -> tuple[Classifier, np.ndarray]:
        """The classifier the attack lenses use and the test inputs in its coordinates (see ``units``)."""
        if self.eps_unit == "raw":
            return self.clf, self.x_test
        centre, scale = feature_scale(self.flat(self.x_train))
        view = Standardised(self.clf, centre.reshape(self.clf.input_shape), scale.reshape(self.clf.input_shape))
        return view, view.to_z(self.x_test)

    def floor_finding(self, robust: float, clean: float, eps: float, what: str) -> Finding | None:
        """HIGH when robust accuracy falls below the configured fraction of clean accuracy: the lens fails."""
        floor = self.config.min_robust_fraction * clean
        if robust >= floor:
            return None
        return Finding(
            id="adversarial.below-floor", lens="adversarial", severity=Severity.HIGH,
            title=f"{what} {robust:.1%} at {self.config.norm} {self.eps_text(eps)} is below the pass rule "
                  f"({self.config.min_robust_fraction:g} × clean {clean:.1%} = {floor:.1%})",
            detail="The key number of this lens says the model is not robust at this budget, so the lens fails.",
            evidence={"robust_accuracy": robust, "clean_accuracy": clean, "eps": eps, "eps_unit": self.eps_unit,
                      "min_robust_fraction": self.config.min_robust_fraction},
            fix="Train for robustness (adversarial or IBP training), or change adversarial.eps / "
                "min_robust_fraction in mathguard.toml if this budget is not a threat you must meet.")

    @property
    def rule(self) -> str:
        return f"robust ≥ {self.config.min_robust_fraction:g} × clean at the largest eps"


def data_lens(a: AuditInputs) -> tuple[Report, str]:
    from mathguard.data import audit_data, integrity

    if not a.tabular:
        raise NotApplicable(f"inputs of shape {a.clf.input_shape} are images or signals, not feature columns")
    rep = audit_data(a.x_train, feature_names=a.feature_names)
    rep.add_section(integrity(a.x_train, a.y_train, a.x_test, a.y_test, feature_names=a.feature_names,
                              alpha=a.config.alpha))
    m = rep.metrics
    return rep, f"rank {m['rank']} of {a.x_train.shape[1]}, standardised κ {m['condition_number_standardized']:.3g}"


def model_lens(a: AuditInputs) -> tuple[Report, str]:
    from mathguard.models import evaluation_findings

    rep = Report(title="Model checks", findings=evaluation_findings(a.clf, a.x_test[:256]),
                 summary=f"{a.clf.kind} classifier, {a.clf.n_classes} classes, input {a.clf.input_shape}, "
                         f"bounds {a.clf.bounds}, gradients: {'yes' if a.clf.has_gradients else 'no'}.")
    module = getattr(a.clf, "net", None)
    if a.clf.kind == "torch" and module is not None:
        from mathguard.training import inspect

        rep.add_section(inspect(module))
    return rep, f"{a.clf.kind}, {a.clf.n_classes} classes"


def stats_lens(a: AuditInputs) -> tuple[Report, str]:
    from mathguard.evaluation import calibration, compare

    n = len(a.y_test)
    pred = a.proba_test.argmax(1)
    k = int((pred == a.y_test).sum())
    ci = binomtest(k, n).proportion_ci(confidence_level=1 - a.config.alpha, method="exact")
    rep = Report(title="Statistics", metrics={"test_accuracy": k / n, "accuracy_ci": [ci.low, ci.high], "n_test": n},
                 summary=f"Test accuracy {k / n:.1%} (exact {1 - a.config.alpha:.0%} interval "
                         f"{ci.low:.1%}–{ci.high:.1%}, n = {n}).")
    if n < MIN_TEST:
        rep.add(Finding(id="stats.insufficient-data", lens="stats", severity=Severity.HIGH,
                        title=f"only {n} labelled test rows: too few to judge accuracy or calibration",
                        fix=f"Audit on at least {MIN_TEST} held-out labelled rows."))
        return rep, f"insufficient data (n = {n})"
    if len(np.unique(a.y_test)) > 1:
        rep.add_section(calibration(a.y_test, a.proba_test).report())
    if a.baseline is not None:
        base = a.proba(a.baseline, a.x_test).argmax(1)
        rep.add_section(compare(a.y_test, base, pred, alpha=a.config.alpha, names=("baseline", "model"),
                                random_state=a.config.random_state).report())
    return rep, f"accuracy {k / n:.3f} [{ci.low:.3f}, {ci.high:.3f}]"


def info_lens(a: AuditInputs) -> tuple[Report, str]:
    from mathguard import drift, info

    rep = Report(title="Information")
    h = info.entropy(a.proba_test, base=2)
    rep.metrics.update({"prediction_entropy_bits_mean": float(np.mean(h)),
                        "prediction_entropy_bits_max_possible": float(np.log2(a.clf.n_classes))})
    names = a.feature_names if a.tabular else None
    ref = drift.profile(a.flat(a.x_train), proba=a.proba_train, feature_names=names)
    shift = drift.compare(ref, a.flat(a.x_test), proba=a.proba_test, feature_names=names,
                          random_state=a.config.random_state)
    shift.title = "Drift of the test split against the training profile"
    rep.add_section(shift)
    if a.tabular and a.x_train.shape[1] <= 200:
        rep.add_section(info.feature_relevance(a.x_train, a.y_train, feature_names=names,
                                               random_state=a.config.random_state).report())
        rep.add_section(info.redundancy(a.x_train, feature_names=names).report())
    return rep, f"test vs train: {shift.metrics['verdict']}; entropy {np.mean(h):.2f} bits"


def adversarial_lens(a: AuditInputs) -> tuple[Report, str]:
    from mathguard.robustness.evaluate import evaluate_robustness

    eps = a.eps
    clf, x = a.attacked

    def run(n: int, steps: int) -> Report:
        return evaluate_robustness(clf, x[:n], a.y_test[:n], norm=a.config.norm, eps=eps, steps=steps,
                                   client=a.client, random_state=a.config.random_state)

    n, steps = a.plan.points_by_pilot("adversarial", min(a.config.points, len(x)), a.config.steps, run)
    rep = run(n, steps)
    rep.metrics["eps_unit"] = a.eps_unit
    ra, clean = rep.metrics["robust_accuracy"][eps[-1]], rep.metrics["clean_accuracy"]
    if (found := a.floor_finding(ra, clean, eps[-1], "robust accuracy")) is not None:
        rep.add(found)
    return rep, (f"robust accuracy ≤ {ra:.1%} at {a.config.norm} {a.eps_text(eps[-1])} "
                 f"(clean {clean:.1%}, n = {n})")


def certified_lens(a: AuditInputs) -> tuple[Report, str]:
    from mathguard.robustness.bracket import robustness_bracket

    if a.clf.module is None:
        raise NotApplicable(f"a {a.clf.kind} model exposes no layers to bound")
    eps = a.eps
    clf, x = a.attacked

    def run(n: int, _steps: int) -> Report:
        return robustness_bracket(clf, x[:n], a.y_test[:n], norm=a.config.norm, eps=eps,
                                  random_state=a.config.random_state)

    n, _ = a.plan.points_by_pilot("certified", min(a.config.certified_points, len(x)), 0, run)
    rep = run(n, 0)
    rep.metrics["eps_unit"] = a.eps_unit
    cert, upper = rep.metrics["certified_accuracy"], rep.metrics["empirical_robust_accuracy"]
    # The truth lies below the attacked upper bound: when that is under the floor, the lens cannot pass.
    if (found := a.floor_finding(upper[eps[-1]], rep.metrics["clean_accuracy"], eps[-1],
                                 "attacked (upper-bound) accuracy")) is not None:
        rep.add(found)
    if not rep.metrics["certificates"]:
        return rep, f"no certificate applies; attacked ≤ {upper[eps[-1]]:.1%} at {a.eps_text(eps[-1])} (n = {n})"
    return rep, (f"certified ≥ {cert[eps[0]]:.1%} at {a.eps_text(eps[0])}; attacked ≤ {upper[eps[-1]]:.1%} at "
                 f"{a.eps_text(eps[-1])} (n = {n})")


def detectors_lens(a: AuditInputs) -> tuple[Report, str]:
    from mathguard.detect.pipeline import detect_report

    n = len(a.x_test)
    if n < 100:
        raise NotApplicable(f"needs at least 100 test rows (half calibrates, half measures); got {n}")
    rng = np.random.default_rng(a.config.random_state)
    val, held = a.x_test[: n // 2], slice(n // 2, None)
    x_held = a.x_test[held]
    spread = a.flat(a.x_train).std(axis=0).reshape(a.x_train.shape[1:])
    noisy = x_held + rng.normal(0, 1, x_held.shape) * 0.5 * spread
    if a.clf.bounds is not None:
        noisy = np.clip(noisy, *a.clf.bounds)
    attacks = None
    if a.clf.has_gradients:
        if a.eps_unit == "raw":
            attacks = {"pgd": a.eps[-1]}
        else:
            a.notes.append("detectors: no attack scenario (eps is in per-feature sd units; the detectors watch "
                           "the model in raw units)")
    layer = None if a.clf.module is not None else "input"
    steps = min(50, a.config.steps)
    # PGD (40 steps) once, then one adaptive attack of `steps` per detector, on the attacked points.
    points = a.plan.points_by_steps("detectors", min(200, len(x_held)), 40 + steps * len(a.config.detectors))
    rep = detect_report(a.clf, train=(a.x_train, a.y_train), val=val, test=(x_held, a.y_test[held]),
                        detectors=a.config.detectors, ood={"noise 0.5σ": noisy.astype(np.float32)},
                        attacks=attacks, fpr=a.config.fpr, layer=layer, max_attack_points=points,
                        adaptive_steps=steps, random_state=a.config.random_state)
    best = max(((r["auroc"], d, sc) for sc, by in rep.metrics["results"].items() for d, r in by.items()),
               default=None)
    return rep, ("no scenario" if best is None else f"best AUROC {best[0]:.2f} ({best[1]} on {best[2]})")


LENS_FUNCS: dict[str, Callable[[AuditInputs], tuple[Report, str]]] = {
    "data": data_lens, "model": model_lens, "stats": stats_lens, "info": info_lens,
    "adversarial": adversarial_lens, "certified": certified_lens, "detectors": detectors_lens,
}
