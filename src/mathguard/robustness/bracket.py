"""The robustness bracket: certified ≤ true robust accuracy ≤ empirical (attack) robust accuracy.

A certificate proves a lower bound, an attack shows an upper bound; the truth lies
between. Reporting both, per budget, is the honest answer to "how robust is it?".
"""

from __future__ import annotations

from typing import Any, Sequence

import torch

from mathguard.certify.ibp import ibp
from mathguard.certify.lipschitz import lipschitz
from mathguard.errors import InputError, MathguardError
from mathguard.models.base import Classifier
from mathguard.models.torch_model import eval_mode
from mathguard.models.wrap import as_classifier
from mathguard.report import Figure, Finding, Report, Severity, new_axes
from mathguard.params import INT_SEED, NORM, Budgets, declare

GAP_WARNING = 0.10  # a bracket wider than this many accuracy points leaves robustness unknown


def certified_correct(clf: Classifier, x: torch.Tensor, y: torch.Tensor, norm: str, eps: float) -> tuple[torch.Tensor, list[str]]:
    """Per-example proof that the prediction is correct everywhere in the eps-ball, and which certificates ran.

    L∞: interval bound propagation. L2: the Lipschitz margin radius, and IBP on the L∞
    ball of the same radius (which contains the L2 ball). Only sound certificates of
    *this* classifier count (randomized smoothing certifies a different, smoothed model).
    """
    if clf.module is None:
        return torch.zeros(len(x), dtype=torch.bool), []
    with eval_mode(clf):  # the bounds are of the eval-mode network, so its margins must be too
        return _certified_correct(clf, x, y, norm, eps)


def _certified_correct(clf: Classifier, x: torch.Tensor, y: torch.Tensor, norm: str,
                       eps: float) -> tuple[torch.Tensor, list[str]]:
    proved = torch.zeros(len(x), dtype=torch.bool)
    used = []
    try:
        proved |= ibp(clf, x, y, eps=eps).verified
        used.append("ibp")
    except MathguardError:
        pass
    if norm == "l2":
        try:
            lip = lipschitz(clf)
        except MathguardError:
            lip = None
        if lip is not None:
            with torch.no_grad():
                logits = clf.logits(x)
            top2 = logits.topk(2, dim=1).values
            correct = logits.argmax(1) == y
            radius = torch.as_tensor(lip.radius(top2[:, 0] - top2[:, 1]))
            proved |= correct & (radius >= eps)
            used.append("lipschitz")
    return proved, used


@declare(norm=NORM, eps=Budgets(), random_state=INT_SEED)
def robustness_bracket(clf: Any, x: Any, y: Any, *, norm: str = "linf", eps: Sequence[float] = (0.01, 0.03, 0.1),
                       attack: Any = None, random_state: int = 0, **model_options: Any) -> Report:
    """Per budget: certified accuracy (lower bound) and attacked accuracy (upper bound), charted together.

    ``attack`` defaults to PGD with 50 steps and 2 restarts; pass a stronger one (or use
    :func:`mathguard.evaluate_robustness`) to tighten the upper bound.
    """
    from mathguard.attacks import PGD

    if norm not in ("linf", "l2"):
        raise InputError(f"norm must be 'linf' or 'l2', got {norm!r}")
    clf = as_classifier(clf, **model_options)
    xt = clf.as_input(x)
    yt = clf.as_labels(y, len(xt))
    budgets = sorted(float(e) for e in eps)
    if not budgets or budgets[0] < 0:
        raise InputError("eps must be a non-empty list of non-negative budgets")
    attack = attack or PGD(norm=norm, steps=50, restarts=2, random_state=random_state)
    with eval_mode(clf):
        clean = float((clf.predict(xt) == yt).float().mean())
    res = attack(clf, xt, yt, eps=budgets)
    n = len(xt)
    # exact fractions from counts, so certified ≤ empirical compares without float noise
    empirical = {e: int((~res.success[i]).sum()) / n for i, e in enumerate(budgets)}
    certified, methods = {}, set()
    for e in budgets:
        proved, used = certified_correct(clf, xt, yt, norm, e)
        certified[e] = int(proved.sum()) / n
        methods.update(used)
        # A proof and a successful attack on the same point would mean a bug in one of them.
        contradiction = proved & res.success[budgets.index(e)]
        if contradiction.any():
            raise MathguardError(f"internal inconsistency: {int(contradiction.sum())} certified points were attacked "
                                 f"successfully at eps={e}; please report this")
    report = Report(
        title=f"Robustness bracket ({norm})",
        summary=f"Certified accuracy (lower bound, {', '.join(sorted(methods)) or 'no certificate applies'}) and "
                f"attacked accuracy (upper bound, {res.attack}) per budget; true robust accuracy lies between.",
        metrics={"norm": norm, "clean_accuracy": clean, "certified_accuracy": certified,
                 "empirical_robust_accuracy": empirical, "certificates": sorted(methods),
                 "attack": res.attack, "attack_params": res.params, "n": n},
    )
    for e in budgets:
        lo, hi = certified[e], empirical[e]
        if hi - lo > GAP_WARNING:
            report.add(Finding(
                id="adversarial.bracket-gap", lens="adversarial", severity=Severity.MEDIUM,
                title=f"True robustness unknown between {lo:.0%} and {hi:.0%} at {norm} eps={e:g}",
                detail="The certificate proves the lower figure, the attack shows the upper one; the gap is what "
                       "neither can settle.",
                evidence={"eps": e, "certified": lo, "empirical": hi, "gap": hi - lo},
                fix="Tighten from below with certifiable training (IBP, Lipschitz layers) or from above with a "
                    "stronger attack ensemble (mathguard.evaluate_robustness).",
            ))
    if not methods:
        report.add(Finding(
            id="adversarial.no-certificate", lens="adversarial", severity=Severity.LOW,
            title="No certificate applies to this model",
            detail="Only the attacked (upper-bound) accuracy is known: the model has no layers to bound "
                   "(black box) or uses layers the certificates do not support.",
            fix="Use randomized smoothing (mathguard.certify.smoothing) to certify a smoothed version instead.",
        ))
    report.figures.append(_figure(budgets, certified, empirical, clean, norm))
    return report


def _figure(budgets: list[float], certified: dict[float, float], empirical: dict[float, float], clean: float,
            norm: str) -> Figure:
    xs = [0.0] + budgets
    lo = [clean] + [certified[e] for e in budgets]
    hi = [clean] + [empirical[e] for e in budgets]
    if budgets[0] == 0.0:
        xs, lo, hi = xs[1:], lo[1:], hi[1:]
    return Figure.later(lambda: _draw_bracket(xs, lo, hi, norm), f"Robustness bracket ({norm})",
                        "Accuracy vs budget: the attack gives an upper bound, the certificate a lower "
                        "bound; a wide band means robustness is not settled.")


def _draw_bracket(xs: list[float], lo: list[float], hi: list[float], norm: str) -> Any:
    fig, ax = new_axes()
    ax.fill_between(xs, lo, hi, alpha=0.2, color="tab:orange", label="true robust accuracy lies here")
    ax.plot(xs, hi, "o-", color="tab:red", label="empirical (attack): upper bound")
    ax.plot(xs, lo, "s-", color="tab:blue", label="certified: lower bound")
    ax.set_xlabel(f"{norm} budget eps")
    ax.set_ylabel("accuracy")
    ax.set_ylim(-0.02, 1.02)
    ax.legend(loc="upper right", fontsize=8)
    return fig
