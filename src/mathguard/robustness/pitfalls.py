"""Checks that keep a robustness evaluation honest: each turns a known way to fool yourself into a Finding.

A defense that "survives" attacks because its gradients are broken, its forward pass is
random or its outputs are saturated probabilities is not robust; these checks look for
the symptoms (Carlini et al., "On Evaluating Adversarial Robustness", 2019).
"""

from __future__ import annotations

from typing import Any

import torch

from mathguard.attacks.geometry import clip_bounds, lp_norm, project
from mathguard.attacks.pgd import loss_and_grad
from mathguard.models.base import Classifier
from mathguard.report import Finding, Severity

ZERO_GRADIENT = 1e-12


def _finding(id_: str, severity: Severity, title: str, detail: str, fix: str, **evidence: Any) -> Finding:
    return Finding(id=f"adversarial.{id_}", lens="adversarial", severity=severity, title=title, detail=detail,
                   evidence=evidence, fix=fix)


def gradient_findings(clf: Classifier, x: torch.Tensor, y: torch.Tensor) -> list[Finding]:
    """NaN gradients, or zero gradients on correctly classified points: gradient masking/shattering."""
    _, grad, logits = loss_and_grad(clf, x, y)
    norms = lp_norm(grad, "l2")
    out = []
    if not torch.isfinite(grad).all():
        out.append(_finding(
            "nan-gradients", Severity.CRITICAL, "The input gradient contains NaN or Inf",
            "Gradient-based attacks cannot work and their failure says nothing about robustness.",
            "Remove non-differentiable or numerically unstable operations from the forward pass, or attack "
            "a differentiable approximation (BPDA).",
            fraction=float((~torch.isfinite(grad.flatten(1))).any(1).float().mean())))
        return out
    correct = logits.argmax(1) == y
    zero = (norms <= ZERO_GRADIENT) & correct
    if correct.any() and zero.float().sum() / correct.sum() > 0.05:
        frac = float(zero.float().sum() / correct.sum())
        out.append(_finding(
            "zero-gradients", Severity.HIGH,
            f"The loss gradient is exactly zero on {frac:.0%} of correctly classified inputs",
            "Zero gradients stop every gradient attack at its start: the usual cause is input quantisation, "
            "a non-differentiable pre-processing step or saturated outputs (shattered or masked gradients).",
            "Attack through a differentiable approximation of the blocking step (BPDA), use logits instead of "
            "probabilities, and confirm with a black-box attack (Square).",
            fraction=frac))
    return out


def single_step_finding(iterative_robust: torch.Tensor, fgsm_robust: torch.Tensor, eps: float) -> Finding | None:
    """FGSM fools points that the iterative ensemble did not: the iterative optimisation is broken."""
    beaten = iterative_robust & ~fgsm_robust
    if not beaten.any():
        return None
    return _finding(
        "single-step-beats-iterative", Severity.HIGH,
        f"FGSM fools {int(beaten.sum())} inputs that the iterative attacks could not (eps={eps:g})",
        "A single gradient step cannot be stronger than many; when it is, the loss surface is masked "
        "locally (gradient obfuscation) or the iterative step sizes are wrong.",
        "Treat the reported robustness as an overestimate: add random restarts, check step sizes, and use "
        "EoT/BPDA for stochastic or non-differentiable defenses.",
        eps=eps, count=int(beaten.sum()))


def blackbox_finding(count: int, eps: float) -> Finding:
    """The gradient-free attack found what the gradient attacks missed."""
    return _finding(
        "blackbox-beats-whitebox", Severity.HIGH,
        f"The black-box Square attack fools {count} inputs the gradient attacks could not (eps={eps:g})",
        "With full access to gradients, white-box attacks should find at least what random search finds; "
        "when they do not, the gradients are masked or misleading.",
        "Trust the ensemble's worst case (it includes Square), and investigate the gradients: use logits, "
        "BPDA for non-differentiable steps, EoT for randomness.", eps=eps, count=count)


def monotonicity_finding(robust_accuracy: dict[float, float]) -> Finding | None:
    """Robust accuracy must not grow with the budget: a larger ball contains the smaller one."""
    budgets = sorted(robust_accuracy)
    rises = [(a, b) for a, b in zip(budgets, budgets[1:]) if robust_accuracy[b] > robust_accuracy[a] + 1e-9]
    if not rises:
        return None
    a, b = rises[0]
    return _finding(
        "non-monotone-in-eps", Severity.HIGH,
        f"Robust accuracy rises from {robust_accuracy[a]:.1%} at eps={a:g} to {robust_accuracy[b]:.1%} at eps={b:g}",
        "Every adversarial example inside the smaller ball is also inside the larger one, so accuracy can only "
        "fall; a rise means the attack failed to find points it had already found.",
        "Increase steps and restarts; the figures per eps are reported as the worst case over all smaller "
        "budgets as well.", eps_low=a, eps_high=b)


def unbounded_finding(clf: Classifier, x: torch.Tensor, y: torch.Tensor, norm: str, *,
                      random_state: int = 0) -> Finding | None:
    """With an unlimited budget every input can be pushed to any class; an attack that fails is broken."""
    from mathguard.attacks import PGD

    if clf.bounds is not None:
        big = float(clf.bounds[1] - clf.bounds[0]) * (1.0 if norm == "linf" else float(x[0].numel()) ** 0.5)
    else:
        big = 1e3
    res = PGD(norm=norm, steps=100, restarts=1, random_state=random_state)(clf, x, y, eps=big)
    acc = float(res.robust_accuracy[big])
    if acc <= 0.05:
        return None
    return _finding(
        "unbounded-attack-fails", Severity.HIGH,
        f"An attack with an unlimited budget leaves {acc:.0%} of inputs correctly classified",
        "With the whole input space allowed, a working attack reaches (close to) 0 % accuracy; "
        "survivors point to gradient masking or a bug in the evaluation.",
        "Check gradients (use logits, remove non-differentiable steps), and confirm with a black-box attack.",
        accuracy=acc, eps=big)


NOISE_DRAWS = 16


def noise_fooled(clf: Classifier, x: torch.Tensor, y: torch.Tensor, eps: float, norm: str, draws: int = NOISE_DRAWS,
                 random_state: int = 0) -> torch.Tensor:
    """Which inputs one of ``draws`` random points of the eps-ball (uniform L∞, clipped Gaussian L2) misclassifies."""
    gen = torch.Generator().manual_seed(random_state)
    fooled = torch.zeros(len(x), dtype=torch.bool)
    e = torch.full((len(x),), eps)
    with torch.no_grad():
        for _ in range(draws):
            if norm == "linf":
                delta = (torch.rand(x.shape, generator=gen) * 2 - 1) * eps
            else:
                delta = project(torch.randn(x.shape, generator=gen) * eps, e, norm)
            xn = clip_bounds(x + delta, clf.bounds)
            fooled |= clf.predict(xn) != y  # labels suffice, so labels-only models are checked too
    return fooled


def noise_finding(attacked_robust: torch.Tensor, fooled: torch.Tensor, eps: float,
                  draws: int = NOISE_DRAWS) -> Finding | None:
    """Random points in the ball (``noise_fooled``) fool inputs the white-box attacks could not: gradients mislead.

    ``attacked_robust`` need only be right where ``fooled`` is set: the caller attacks just those inputs.
    """
    beaten = attacked_robust & fooled
    if not beaten.any():
        return None
    return _finding(
        "noise-beats-attack", Severity.HIGH,
        f"Random noise fools {int(beaten.sum())} inputs the white-box attacks could not (eps={eps:g})",
        "Gradient attacks should dominate random search; when noise wins, the gradients are misleading "
        "(masking) or the attack is misconfigured.",
        "Use EoT for randomised models, BPDA for non-differentiable steps, and a black-box attack such as Square.",
        eps=eps, count=int(beaten.sum()), draws=draws)


def eot_check(clf: Classifier, x: torch.Tensor, y: torch.Tensor, eps: float, norm: str, steps: int,
              samples: int = 16, *, random_state: int = 0) -> tuple[dict[str, float], Finding | None]:
    """Plain PGD and EOT-PGD on a random model, both judged by its expected prediction; a finding when EOT wins.

    One random query is a coin toss on such a model, so both attacks are judged by the
    prediction averaged over ``4 * samples`` fresh draws (what the defense answers on average).
    "Notably" is at least 5 points and 2 inputs.
    """
    from mathguard.attacks import EOT, PGD
    from mathguard.attacks.eot import ExpectedClassifier

    judge = ExpectedClassifier(clf, None, samples=4 * samples, random_state=random_state + 1)
    plain = PGD(norm=norm, steps=steps, random_state=random_state)(clf, x, y, eps=eps).adversarial[0]
    # Early stopping is off inside EOT: a stop decided on one noisy estimate is a lucky draw, not a success.
    eot = EOT(PGD(norm=norm, steps=steps, early_stop=False, random_state=random_state),
              samples=samples, random_state=random_state)(clf, x, y, eps=eps).adversarial[0]
    with torch.no_grad():
        plain_ok, eot_ok = judge.predict(plain) == y, judge.predict(eot) == y
    figures = {"eps": eps, "n": len(x), "samples": samples, "plain_robust_accuracy": float(plain_ok.float().mean()),
               "eot_robust_accuracy": float(eot_ok.float().mean())}
    extra = int((plain_ok & ~eot_ok).sum())
    if figures["plain_robust_accuracy"] - figures["eot_robust_accuracy"] < 0.05 or extra < 2:
        return figures, None
    return figures, _finding(
        "eot-beats-plain", Severity.HIGH,
        f"On this random model EOT-PGD leaves {figures['eot_robust_accuracy']:.0%} robust where plain PGD left "
        f"{figures['plain_robust_accuracy']:.0%} (eps={eps:g})",
        "Each plain query sees one random draw, so its gradient chases noise and the defense looks robust; "
        "attacking the prediction averaged over draws (expectation over transformation) removes that illusion.",
        "Report the EOT figure as the robust accuracy of a randomised defense, with more samples and steps.",
        count=extra, **figures)


def incomplete_finding(accuracy_at_steps: float, accuracy_at_double: float, steps: int, eps: float) -> Finding | None:
    """Doubling the iterations still lowers accuracy: the optimisation had not converged."""
    drop = accuracy_at_steps - accuracy_at_double
    if drop <= 0.01:
        return None
    return _finding(
        "incomplete-optimisation", Severity.MEDIUM,
        f"Doubling the attack steps ({steps} → {2 * steps}) lowers robust accuracy by {drop:.1%} at eps={eps:g}",
        "The loss was still moving when the attack stopped, so the reported accuracy is an overestimate.",
        "Run with more steps (and restarts) until the figure stops moving.",
        eps=eps, steps=steps, drop=drop)
