"""`evaluate_robustness`: an attack ensemble (APGD-CE → APGD-T → Square) and the pitfall checks, as one Report.

Each attack only spends compute on points every earlier attack failed on; a point counts
as robust at a budget only if no attack (FGSM included) fooled it there or at any smaller
budget. The result is an upper bound on true robust accuracy; the checks say when even
that bound is not to be trusted.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import torch

from mathguard.attacks import APGD, FGSM, HopSkipJump, Square, ZeroOrderPGD
from mathguard.attacks.base import Attack, parse_eps
from mathguard.errors import InputError
from mathguard.models.base import Classifier
from mathguard.models.diagnose import evaluation_findings
from mathguard.models.labels_only import LabelsOnlyClassifier
from mathguard.models.torch_model import eval_mode
from mathguard.models.wrap import as_classifier
from mathguard.report import Figure, Finding, Report, Severity, new_axes
from mathguard.robustness import pitfalls
from mathguard.partitioned import check_client, run_shards
from mathguard.validate import integer
from mathguard.params import Budgets, COUNT, INT_SEED, NORM, declare

#: Points per Dask task when a client is given and shard_size is not.
DEFAULT_SHARD = 64


@declare(norm=NORM, steps=COUNT, random_state=INT_SEED)
def default_attacks(n_classes: int, *, norm: str, steps: int = 100, has_gradients: bool = True,
                    labels_only: bool = False, random_state: int = 0) -> tuple[list[Attack], list[Finding]]:
    """APGD-CE, then targeted APGD-DLR (untargeted DLR for 3 classes, none for 2), then Square (10·steps queries).

    A model without gradients (forest, ONNX, callable) gets the black-box attacks only:
    Square and NES-estimated PGD; a labels-only model gets HopSkipJump (50·steps queries per point).
    """
    notes: list[Finding] = []
    if labels_only:
        notes.append(Finding(
            id="adversarial.labels-only-evaluation", lens="adversarial", severity=Severity.INFO,
            title="The model returns labels only: the decision-based HopSkipJump attack was run",
            detail="Only predicted labels were available, so no score- or gradient-based attack applies; a "
                   "decision-based attack needs more queries and gives a looser upper bound.",
            fix="Evaluate a model that exposes scores or gradients when you can."))
        return [HopSkipJump(norm=norm, queries=max(1000, 50 * steps), random_state=random_state)], notes
    if not has_gradients:
        attacks: list[Attack] = [Square(norm=norm, queries=10 * steps, random_state=random_state),
                                 ZeroOrderPGD(norm=norm, steps=max(10, steps // 5), random_state=random_state)]
        notes.append(Finding(
            id="adversarial.black-box-evaluation", lens="adversarial", severity=Severity.INFO,
            title="The model has no gradients: only query-based attacks were run",
            detail="Black-box attacks are weaker than white-box ones on the same model, so the robust accuracy "
                   "is a looser upper bound.",
            fix="Evaluate a differentiable twin of the model (e.g. mg.wrap of the torch or linear sklearn model)."))
        return attacks, notes
    attacks = [APGD(norm=norm, loss="ce", steps=steps, random_state=random_state)]
    if n_classes >= 4:
        attacks.append(APGD(norm=norm, loss="dlr", targeted=True, n_target_classes=min(9, n_classes - 1),
                            steps=steps, random_state=random_state))
    elif n_classes == 3:
        attacks.append(APGD(norm=norm, loss="dlr", steps=steps, random_state=random_state))
    else:
        notes.append(Finding(
            id="adversarial.too-few-classes-for-dlr", lens="adversarial", severity=Severity.INFO,
            title="Two classes: the DLR attacks are skipped, APGD-CE runs alone",
            detail="The difference-of-logits-ratio loss needs at least three classes.",
            fix="Add a black-box attack to the ensemble to compensate."))
    attacks.append(Square(norm=norm, queries=10 * steps, random_state=random_state))
    return attacks, notes


def _ensemble(clf: Classifier, x: torch.Tensor, y: torch.Tensor, ids: torch.Tensor, alive: torch.Tensor,
              attacks: Sequence[Attack], eps: float) -> tuple[torch.Tensor, dict[str, int]]:
    """Run attacks in turn on the still-robust points; return the robust mask and who broke how many.

    Each point goes to the attacks under its own id, so its random draws are its own in any shard.
    """
    robust = alive.clone()
    broken: dict[str, int] = {}
    for attack in attacks:
        idx = robust.nonzero().squeeze(1)
        if len(idx) == 0:
            break
        fooled = attack(clf, x[idx], y[idx], eps=eps, ids=ids[idx]).success[0]
        robust[idx[fooled]] = False
        broken[attack.name] = broken.get(attack.name, 0) + int(fooled.sum())
    return robust, broken


@dataclass
class _Outcomes:
    """Per-point outcomes of a set of points: masks merge by concatenation, counts by addition."""

    clean: torch.Tensor
    ensemble: dict[float, torch.Tensor]  # robust to the ensemble, per budget
    robust: dict[float, torch.Tensor]  # ... and to FGSM after it
    broken: dict[float, dict[str, int]]

    @staticmethod
    def merge(parts: Sequence["_Outcomes"]) -> "_Outcomes":
        def cat(field: str) -> dict[float, torch.Tensor]:
            return {e: torch.cat([getattr(p, field)[e] for p in parts]) for e in parts[0].ensemble}

        broken: dict[float, dict[str, int]] = {e: {} for e in parts[0].broken}
        for p in parts:
            for e, counts in p.broken.items():
                for name, k in counts.items():
                    broken[e][name] = broken[e].get(name, 0) + k
        return _Outcomes(torch.cat([p.clean for p in parts]), cat("ensemble"), cat("robust"), broken)


def _outcomes(clf: Classifier, x: torch.Tensor, y: torch.Tensor, ids: torch.Tensor, attacks: Sequence[Attack],
              budgets: list[float], norm: str) -> _Outcomes:
    """Clean and per-budget robust masks of the points ``x``: the unit of work of one shard."""
    clean = clf.predict(x) == y
    out = _Outcomes(clean, {}, {}, {})
    fgsm = FGSM(norm=norm)
    for e in budgets:
        robust, broken = _ensemble(clf, x, y, ids, clean, attacks, e)
        out.ensemble[e] = robust
        # FGSM runs after the ensemble on survivors: a single step should never find more.
        idx = robust.nonzero().squeeze(1)
        if len(idx) and e > 0 and clf.has_gradients:
            fooled = fgsm(clf, x[idx], y[idx], eps=e).success[0]
            robust = robust.clone()
            robust[idx[fooled]] = False
            broken["FGSM"] = int(fooled.sum())
        out.robust[e], out.broken[e] = robust, broken
    return out


@declare(norm=NORM, eps=Budgets(), steps=COUNT, check_samples=COUNT, random_state=INT_SEED)
def evaluate_robustness(clf: Any, x: Any, y: Any, *, norm: str = "linf", eps: Sequence[float] = (0.01, 0.03, 0.1),
                        attacks: Sequence[Attack] | None = None, steps: int = 100, checks: bool = True,
                        check_samples: int = 64, client: Any = None, shard_size: int | None = None,
                        random_state: int = 0, **model_options: Any) -> Report:
    """Clean accuracy, worst-case robust accuracy per eps over an attack ensemble, and pitfall findings.

    ``metrics["robust_points"][eps]`` says which points stayed robust (worst case up to eps).
    ``shard_size`` runs the attacks on consecutive shards of that many points (default: all at
    once; 64 with a client). Every point draws its random starts and search windows from its
    index (``attacks.draws``), so the split does not change what a point gets: with a
    ``dask.distributed.Client`` each shard is a task (the model scattered to the workers once)
    and the outcomes equal the single-process run point for point, also when a lost task is
    rerun. (HopSkipJump, for labels-only models, still draws per batch: fix ``shard_size``.)
    The pitfall checks run here, on the first ``check_samples`` points.
    """
    budgets = sorted(set(parse_eps(eps) or ()))  # one number or a list; finite and non-negative
    check_client(client)
    if shard_size is not None:
        integer(shard_size, "shard_size")
    clf = as_classifier(clf, **model_options)
    xt = clf.as_input(x)
    yt = clf.as_labels(y, len(xt))
    if len(xt) == 0:
        raise InputError("no inputs to evaluate")
    notes: list[Finding] = []
    labels_only = isinstance(clf, LabelsOnlyClassifier)
    if attacks is None:
        attacks, notes = default_attacks(clf.n_classes, norm=norm, steps=steps, has_gradients=clf.has_gradients,
                                        labels_only=labels_only, random_state=random_state)
    report = Report(title=f"Robustness evaluation ({norm})", findings=list(notes))
    if checks and not labels_only:  # the model-output checks read scores a labels-only model never gives
        # Model-level pitfalls first: they explain attack failures that follow.
        report.findings.extend(evaluation_findings(clf, xt[:check_samples]))
        if clf.has_gradients:
            with eval_mode(clf):
                report.findings.extend(pitfalls.gradient_findings(clf, xt[:check_samples], yt[:check_samples]))

    with eval_mode(clf):  # the figures are of the deployed (eval-mode) model, whatever mode it was left in
        n = len(xt)
        size = shard_size or (DEFAULT_SHARD if client is not None else n)
        out = _Outcomes.merge(run_shards(client, _outcomes, clf, (xt, yt, torch.arange(n)), size, list(attacks),
                                         budgets, norm))
        robust_raw, robust_worst, points = _per_budget(report, out, budgets, attacks, checks)
        if checks:
            _after_checks(report, clf, xt, yt, out.clean, attacks, budgets, robust_raw, norm, steps, check_samples,
                          random_state)
        _render(report, clf, out, attacks, budgets, robust_raw, robust_worst, points, norm)
    return report


def _per_budget(report: Report, out: _Outcomes, budgets: list[float], attacks: Sequence[Attack], checks: bool
                ) -> tuple[dict[float, float], dict[float, float], dict[float, Any]]:
    """Robust accuracy per budget as run and as the worst case up to it, the robust points, and the findings
    that one budget's outcomes show (FGSM or Square finding what the gradient attacks missed)."""
    n = len(out.clean)
    robust_raw: dict[float, float] = {}
    robust_worst: dict[float, float] = {}
    worst = out.clean.clone()
    points: dict[float, Any] = {}
    for e in budgets:
        robust, broken = out.robust[e], out.broken[e]
        if checks and "FGSM" in broken:
            found = pitfalls.single_step_finding(out.ensemble[e], robust, e)
            if found:
                report.add(found)
        if checks and broken.get("Square", 0) and any(a.needs_gradients for a in attacks):
            report.add(pitfalls.blackbox_finding(broken["Square"], e))
        robust_raw[e] = int(robust.sum()) / n
        worst &= robust  # fooled at a smaller budget ⇒ fooled here
        robust_worst[e] = int(worst.sum()) / n
        points[e] = worst.cpu().numpy().copy()
    return robust_raw, robust_worst, points


def _after_checks(report: Report, clf: Classifier, xt: torch.Tensor, yt: torch.Tensor, clean: torch.Tensor,
                  attacks: Sequence[Attack], budgets: list[float], robust_raw: dict[float, float], norm: str,
                  steps: int, check_samples: int, random_state: int) -> None:
    """The pitfall checks that re-attack the first ``check_samples`` correctly classified points: monotonicity,
    an unbounded budget, noise, longer runs, and EOT when the model is random."""
    subset = clean.nonzero().squeeze(1)[:check_samples]
    for check in (
        pitfalls.monotonicity_finding(robust_raw),
        pitfalls.unbounded_finding(clf, xt[subset], yt[subset], norm, random_state=random_state)
        if len(subset) and clf.has_gradients else None,
        _noise_check(clf, xt[subset], yt[subset], attacks, budgets[-1], norm, random_state)
        if len(subset) else None,
        _convergence_check(clf, xt[subset], yt[subset], attacks[0], budgets, norm) if len(subset) else None,
    ):
        if check is not None:
            report.add(check)
    random = any(f.id == "model.nondeterministic" for f in report.findings)
    if random and clf.has_gradients and len(subset) and budgets[-1] > 0:
        report.metrics["eot"], found = pitfalls.eot_check(clf, xt[subset], yt[subset], budgets[-1], norm, steps,
                                                          random_state=random_state)
        if found is not None:
            report.add(found)


def _render(report: Report, clf: Classifier, out: _Outcomes, attacks: Sequence[Attack], budgets: list[float],
            robust_raw: dict[float, float], robust_worst: dict[float, float], points: dict[float, Any],
            norm: str) -> None:
    """The metrics, the summary line and the robustness curve."""
    n = len(out.clean)
    clean_acc = int(out.clean.sum()) / n
    eot = report.metrics.get("eot")
    report.metrics.update({
        "clean_accuracy": clean_acc,
        "robust_accuracy": robust_worst,
        "robust_accuracy_per_budget_run": robust_raw,
        "robust_points": points,
        "broken_by": out.broken,
        "norm": norm,
        "n": n,
        "attacks": [{"attack": a.name, **_params(a)} for a in attacks],
    })
    report.summary = (f"Clean accuracy {clean_acc:.1%}; worst case over "
                      f"{', '.join(a.name for a in attacks)}{' and FGSM' if clf.has_gradients else ''}: " +
                      ", ".join(f"{robust_worst[e]:.1%} at eps={e:g}" for e in budgets) +
                      ". These are upper bounds on true robust accuracy." +
                      (f" The model is random: EOT-PGD leaves {eot['eot_robust_accuracy']:.1%} of "
                       f"{eot['n']} checked inputs robust at eps={eot['eps']:g} (plain PGD: "
                       f"{eot['plain_robust_accuracy']:.1%})." if eot else ""))
    report.figures.append(_curve(budgets, robust_worst, clean_acc, norm))


def _params(attack: Attack) -> dict[str, Any]:
    return {k: v for k, v in vars(attack).items()
            if isinstance(v, (int, float, str, bool)) and not k.startswith("_") and k != "name"}


def _noise_check(clf: Classifier, x: torch.Tensor, y: torch.Tensor, attacks: Sequence[Attack], eps: float,
                 norm: str, random_state: int = 0) -> Finding | None:
    """Noise first, then the ensemble on the inputs noise fooled only (the finding reads no other).

    Each input is attacked under its position as id, as when the whole subset was attacked:
    a point's outcome does not depend on the other points in its batch, so the finding is the same.
    """
    fooled = pitfalls.noise_fooled(clf, x, y, eps, norm, random_state=random_state)
    robust = torch.zeros(len(x), dtype=torch.bool)
    idx = fooled.nonzero().squeeze(1)
    if len(idx):
        robust[idx], _ = _ensemble(clf, x[idx], y[idx], idx, torch.ones(len(idx), dtype=torch.bool), attacks, eps)
    return pitfalls.noise_finding(robust, fooled, eps)


def _convergence_check(clf: Classifier, x: torch.Tensor, y: torch.Tensor, attack: Attack, budgets: list[float],
                       norm: str) -> Finding | None:
    positive = [e for e in budgets if e > 0]
    if not isinstance(attack, APGD) or not positive:
        return None
    steps = attack.steps
    e = positive[len(positive) // 2]
    longer = APGD(norm=norm, loss=attack.loss, targeted=attack.targeted, n_target_classes=attack.n_target_classes,
                  steps=2 * steps, restarts=attack.restarts, random_state=attack.random_state)
    acc = float(attack(clf, x, y, eps=e).robust_accuracy[e])
    acc2 = float(longer(clf, x, y, eps=e).robust_accuracy[e])
    return pitfalls.incomplete_finding(acc, acc2, steps, e)


def _curve(budgets: list[float], robust: dict[float, float], clean: float, norm: str) -> Figure:
    xs = [0.0] + [e for e in budgets if e > 0]
    ys = [clean] + [robust[e] for e in budgets if e > 0]
    return Figure.later(lambda: _draw_curve(xs, ys, norm), f"Robustness curve ({norm})",
                        "Accuracy under the strongest attack found at each budget (an upper bound).")


def _draw_curve(xs: list[float], ys: list[float], norm: str) -> Any:
    fig, ax = new_axes()
    ax.plot(xs, ys, "o-", color="tab:red", label="worst case over the attack ensemble")
    ax.set_xlabel(f"{norm} budget eps")
    ax.set_ylabel("robust accuracy")
    ax.set_ylim(-0.02, 1.02)
    ax.legend(fontsize=8)
    return fig
