"""An evaluation of detectors that does not fool itself.

For calibrated detectors and held-out clean inputs it measures: whether the promised
false-alarm rate holds (a beta-binomial test: conditionally on one calibration set the
conformal false-alarm rate is Beta(n + 1 − k, k), so chance is accounted for); how
well each detector separates each distribution shift and each attack from clean
data (AUROC, AUPR, FPR at 95 % TPR, TPR at the calibrated threshold); and whether an
adaptive attack that knows the detector collapses it.
"""

from __future__ import annotations

import math
from typing import Any, Mapping, Sequence

import numpy as np
import torch
from scipy.stats import betabinom

from mathguard.detect.adaptive import adaptive_attack
from mathguard.detect.base import Detector, score_many, unique_names
from mathguard.detect.conformal import conformal_rank
from mathguard.detect.metrics import detection_scores, roc_points
from mathguard.errors import InputError
from mathguard.models.torch_model import eval_mode
from mathguard.report import Figure, Finding, Report, Severity, new_axes, new_figure
from mathguard.params import COUNT, INT_SEED, NORM, OPEN_UNIT, declare

COLLAPSE = 0.5  # adaptive TPR at or below this share of the static TPR: broken


def _attack(name: str, norm: str, random_state: int) -> Any:
    from mathguard.attacks import APGD, FGSM, PGD, Square

    makers = {"fgsm": lambda: FGSM(norm=norm), "pgd": lambda: PGD(norm=norm, steps=40, random_state=random_state),
              "apgd": lambda: APGD(norm=norm), "square": lambda: Square(norm=norm, queries=1000, random_state=random_state)}
    if name not in makers:
        raise InputError(f"unknown attack {name!r}; choose from {sorted(makers)}")
    return makers[name]()


def _score_all(detectors: Sequence[Detector], x: Any) -> list[np.ndarray]:
    """Scores of every detector, one shared forward pass per classifier."""
    out: list[np.ndarray | None] = [None] * len(detectors)
    groups: dict[int, list[int]] = {}
    for i, d in enumerate(detectors):
        groups.setdefault(id(d.clf), []).append(i)
    for idx in groups.values():
        for i, s in zip(idx, score_many([detectors[i] for i in idx], x)):
            out[i] = s
    return out  # type: ignore[return-value]


def _false_alarm_finding(label: str, det: Detector, flagged: np.ndarray, alpha: float) -> Finding | None:
    n, m, k_obs = det.n_calibration, len(flagged), int(flagged.sum())
    k = conformal_rank(n, det.fpr)
    p = float(betabinom.sf(k_obs - 1, m, n + 1 - k, k))  # P(X ≥ observed) under the conformal law
    if p >= alpha:
        return None
    return Finding(
        id="detectors.fpr-not-met", lens="detectors", severity=Severity.HIGH,
        title=f"{label} flags {k_obs / m:.1%} of held-out clean inputs; calibrated for ≤ {det.fpr:.1%}",
        detail=f"Beyond what one calibration set of {n} explains (p = {p:.2g}): the held-out clean data are "
               "not exchangeable with the calibration data (a shift between them, or calibration on training data).",
        evidence={"observed_fpr": k_obs / m, "fpr": det.fpr, "n_test": m, "n_calibration": n, "p_value": p},
        fix="Calibrate on clean data drawn like production data, never on the training set.")


@declare(norm=NORM, adaptive_steps=COUNT, max_attack_points=COUNT, alpha=OPEN_UNIT, random_state=INT_SEED)
def evaluate_detectors(detectors: Sequence[Detector], x_clean: Any, *, shifts: Mapping[str, Any] | None = None,
                       attacks: Mapping[str, float] | None = None, adaptive: bool = True, y: Any = None,
                       norm: str = "linf", adaptive_steps: int = 50, max_attack_points: int = 500,
                       alpha: float = 0.01, random_state: int = 0) -> Report:
    """Evaluate calibrated detectors on held-out clean data, shifts, attacks and adaptive attacks → Report.

    ``shifts``: name → inputs (all count as positives). ``attacks``: name ("fgsm", "pgd",
    "apgd", "square") → eps; positives are the adversarial inputs that fool the model,
    crafted from correctly classified clean inputs (needs ``y``). ``adaptive`` runs the
    selective-PGD adaptive attack against each detector at each attack budget.
    """
    detectors = list(detectors)
    if not detectors:
        raise InputError("no detectors to evaluate")
    for d in detectors:
        if not isinstance(d, Detector):
            raise InputError(f"expected mg.detect detectors, got {type(d).__name__}")
        d._check_calibrated()
    labels = unique_names(detectors)
    clean = _score_all(detectors, x_clean)
    report = Report(title="Detectors", summary=f"{len(detectors)} calibrated detectors on {len(clean[0])} held-out "
                    "clean inputs" + (f", {len(shifts)} shifts" if shifts else "")
                    + (f", {len(attacks)} attacks" if attacks else "") + ".")
    clean_fpr = {}
    for label, d, s in zip(labels, detectors, clean):
        flagged = d.flag(s)
        clean_fpr[label] = float(flagged.mean())
        f = _false_alarm_finding(label, d, flagged, alpha)
        if f is not None:
            report.add(f)
    scenarios = _Scenarios(detectors, labels, clean)
    for name, xs in (shifts or {}).items():
        scenarios.record(name, _score_all(detectors, xs))
    attack_info: dict[str, dict[str, float]] = {}
    adaptive_info: dict[str, dict[str, float]] = {}
    if attacks:
        xa, ya = _attack_points(detectors, x_clean, y, max_attack_points)
        attack_info = _static_attacks(report, scenarios, xa, ya, attacks, norm, random_state)
        if adaptive:
            budgets = sorted({float(e) for n, e in attacks.items() if n != "square"})
            for label, d in zip(labels, detectors):
                for eps in budgets:
                    adaptive_info[f"{label} eps={eps:g}"] = _adaptive(report, label, d, xa, ya, eps, norm,
                                                                      adaptive_steps, scenarios.results, random_state)
    results = scenarios.results
    report.metrics.update({
        "detectors": labels,
        "clean_fpr": clean_fpr,
        "calibrated_fpr": {label: d.fpr for label, d in zip(labels, detectors)},
        "auroc": {f"{label} / {sc}": r[label]["auroc"] for sc, r in results.items() for label in labels},
        "results": results,
        "attacks": attack_info,
        "adaptive": adaptive_info,
    })
    if results:
        report.figures.append(_roc_figure(scenarios.curves))
        report.figures.append(_table_figure(results, labels))
    return report


class _Scenarios:
    """Each scenario's detection figures and ROC points per detector, against the same clean scores."""

    def __init__(self, detectors: Sequence[Detector], labels: list[str], clean: list[np.ndarray]) -> None:
        self.detectors, self.labels, self.clean = detectors, labels, clean
        self.results: dict[str, dict[str, dict[str, float]]] = {}
        self.curves: dict[str, dict[str, tuple[np.ndarray, np.ndarray]]] = {}

    def record(self, scenario: str, positives: list[np.ndarray]) -> None:
        self.results[scenario], self.curves[scenario] = {}, {}
        for label, d, neg, pos in zip(self.labels, self.detectors, self.clean, positives):
            self.results[scenario][label] = detection_scores(neg, pos, threshold=d.threshold).to_dict()
            self.curves[scenario][label] = roc_points(neg, pos)


def _attack_points(detectors: Sequence[Detector], x_clean: Any, y: Any, most: int
                   ) -> tuple[torch.Tensor, torch.Tensor]:
    """The first ``most`` clean inputs the model classifies correctly, with their labels: what the attacks start from."""
    clf = detectors[0].clf
    if any(d.clf is not clf for d in detectors):
        raise InputError("attacks need every detector to watch the same classifier")
    if y is None:
        raise InputError("attacks need the clean labels: evaluate_detectors(..., y=y_clean)")
    xt = clf.as_input(x_clean)
    yt = clf.as_labels(y, len(xt))
    with eval_mode(clf):
        correct = (clf.predict(xt) == yt).nonzero().squeeze(1)[:most]
    if len(correct) == 0:
        raise InputError("the model classifies none of the clean inputs correctly: nothing to attack")
    return xt[correct], yt[correct]


def _static_attacks(report: Report, scenarios: _Scenarios, xa: torch.Tensor, ya: torch.Tensor,
                    attacks: Mapping[str, float], norm: str, random_state: int) -> dict[str, dict[str, float]]:
    """Each attack that ignores the detectors, its fooling inputs scored as a scenario; findings where a detector
    misses them."""
    clf = scenarios.detectors[0].clf
    info: dict[str, dict[str, float]] = {}
    for name, eps in attacks.items():
        res = _attack(name, norm, random_state)(clf, xa, ya, eps=eps)
        fooled = res.success[0]
        info[name] = {"eps": float(eps), "success_rate": float(fooled.float().mean()),
                      "n_adversarial": int(fooled.sum())}
        if fooled.sum() == 0:
            report.add(Finding(id="detectors.attack-found-nothing", lens="detectors", severity=Severity.INFO,
                               title=f"{name} at eps={eps} fooled no input: no adversarial positives to score"))
            continue
        scenario = f"{name} eps={eps:g}"
        scenarios.record(scenario, _score_all(scenarios.detectors, res.adversarial[0][fooled]))
        for label, d in zip(scenarios.labels, scenarios.detectors):
            tpr = scenarios.results[scenario][label]["tpr"]
            if tpr < 2 * d.fpr:
                report.add(Finding(
                    id="detectors.misses-attack", lens="detectors", severity=Severity.MEDIUM,
                    title=f"{label} flags only {tpr:.0%} of {scenario} adversarial inputs "
                          f"(false-alarm rate {d.fpr:.0%})",
                    detail="Against this attack the detector does little better than flagging inputs at random.",
                    evidence={"tpr": tpr, "fpr": d.fpr, "scenario": scenario,
                              "auroc": scenarios.results[scenario][label]["auroc"]},
                    fix="Do not count on this detector against this attack; pick one that separates it."))
    return info


def _adaptive(report: Report, label: str, d: Detector, x: torch.Tensor, y: torch.Tensor, eps: float, norm: str,
              steps: int, results: dict[str, dict[str, dict[str, float]]], random_state: int) -> dict[str, float]:
    res = adaptive_attack(d, x, y, eps=eps, norm=norm, steps=steps, random_state=random_state)
    static = [r[label]["tpr"] for sc, r in results.items() if sc.endswith(f"eps={eps:g}") and not
              sc.startswith("square")]
    static_tpr = max(static) if static else float("nan")
    info = {"eps": eps, "tpr": res.tpr, "static_tpr": static_tpr, "evasion_rate": res.evasion_rate,
            "misclassified": float(res.misclassified.mean())}
    if static and static_tpr >= 2 * d.fpr and not math.isnan(res.tpr) and res.tpr <= COLLAPSE * static_tpr:
        report.add(Finding(
            id="detectors.broken-by-adaptive-attack", lens="detectors", severity=Severity.HIGH,
            title=f"{label}: an adaptive attack at eps={eps:g} cuts its detection rate from {static_tpr:.0%} "
                  f"to {res.tpr:.0%}",
            detail=f"Attacks that ignore the detector are caught {static_tpr:.0%} of the time; selective PGD "
                   f"that also lowers the detector's score fools the model undetected on {res.evasion_rate:.0%} "
                   "of inputs. The static figure overstates the protection.",
            evidence=info,
            fix="Do not rely on this detector against a white-box adversary; combine detectors, use "
                "adversarial training or certified defenses, and report the adaptive figure."))
    return info


def _roc_figure(curves: dict[str, dict[str, tuple[np.ndarray, np.ndarray]]]) -> Figure:
    return Figure.later(lambda: _draw_roc(curves), "Detector ROC curves",
                        "One panel per shift or attack; the dotted diagonal is a detector that guesses. Curves "
                        "towards the top left separate better.")


def _draw_roc(curves: dict[str, dict[str, tuple[np.ndarray, np.ndarray]]]) -> Any:
    n = len(curves)
    cols = min(n, 3)
    rows = math.ceil(n / cols)
    fig = new_figure(4.2 * cols, 3.6 * rows)
    axes = fig.subplots(rows, cols, squeeze=False)
    for ax, (scenario, by_det) in zip(axes.flat, curves.items()):
        for label, (fpr, tpr) in by_det.items():
            ax.plot(fpr, tpr, label=label, lw=1.3)
        ax.plot([0, 1], [0, 1], color="grey", lw=0.8, ls=":")
        ax.set_title(scenario, fontsize=10)
        ax.set_xlabel("false-alarm rate")
        ax.set_ylabel("detection rate")
        ax.grid(True, alpha=0.3)
    for ax in list(axes.flat)[n:]:
        ax.axis("off")
    axes.flat[0].legend(fontsize=7)
    fig.tight_layout()
    return fig


def _table_figure(results: dict[str, dict[str, dict[str, float]]], labels: list[str]) -> Figure:
    scenarios = list(results)
    auroc = np.array([[results[s][label]["auroc"] for s in scenarios] for label in labels])
    tpr = np.array([[results[s][label]["tpr"] for s in scenarios] for label in labels])
    return Figure.later(lambda: _draw_table(auroc, tpr, scenarios, list(labels)),
                        "AUROC and detection rate at the calibrated threshold",
                        "Rows: detectors; columns: shifts and attacks. Green is better; 0.5 is chance.")


def _draw_table(auroc: np.ndarray, tpr: np.ndarray, scenarios: list[str], labels: list[str]) -> Any:
    fig, ax = new_axes(1.6 + 1.5 * len(scenarios), 0.9 + 0.45 * len(labels))
    ax.grid(False)
    ax.imshow(auroc, cmap="RdYlGn", vmin=0.5, vmax=1.0, aspect="auto")
    for i in range(len(labels)):
        for j in range(len(scenarios)):
            ax.text(j, i, f"{auroc[i, j]:.3f}\nTPR {tpr[i, j]:.0%}", ha="center", va="center", fontsize=7)
    ax.set_xticks(range(len(scenarios)), scenarios, rotation=25, ha="right", fontsize=8)
    ax.set_yticks(range(len(labels)), labels, fontsize=8)
    return fig
