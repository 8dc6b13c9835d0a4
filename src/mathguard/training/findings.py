"""What a recorded training run says: one finding builder per failure, each returning None when healthy.

The builders read plain recorded numbers (losses, per-layer gradient norms, update
ratios, unit shares), not the ``Monitor``, so each rule is visible in one place and can be
checked on a hand-made history. "Start" and "end" of a run are its first and last fifth
of records, medians taken so one noisy step does not decide.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from mathguard.report import Finding, Severity


def _calculus(name: str, severity: Severity, title: str, detail: str, evidence: dict[str, Any],
              fix: str) -> Finding:
    """A finding of the calculus lens, named ``calculus.<name>``."""
    return Finding(id=f"calculus.{name}", lens="calculus", severity=severity, title=title, detail=detail,
                   evidence=evidence, fix=fix)


def _fifth(records: Any) -> int:
    """How many records make the start (or the end) of a run: a fifth of them, at least one."""
    return max(1, len(records) // 5)


def _tenth(lr: float) -> float:
    """The learning rate to suggest when steps overshoot: a tenth of the current one (NaN if unknown)."""
    return lr / 10 if math.isfinite(lr) else math.nan


def non_finite(first: tuple[int, str] | None) -> Finding | None:
    """The first step and place where a NaN/Inf appeared, if one did."""
    if first is None:
        return None
    step, where = first
    return _calculus(
        "non-finite", Severity.CRITICAL,
        title=f"NaN/Inf first appeared in the {where} at step {step}",
        detail="Once a NaN enters the weights every later step is lost.",
        evidence={"step": step, "where": where},
        fix="Lower the learning rate, clip gradients (torch.nn.utils.clip_grad_norm_), and check the inputs "
            "and the loss for log(0) or division by zero.")


def divergence(losses: list[float], lr: float) -> Finding | None:
    """The loss ended 1.5× above where it started, or became NaN/Inf."""
    loss = np.array(losses)
    finite = loss[np.isfinite(loss)]
    k = _fifth(loss)
    start = float(np.median(finite[:k])) if len(finite) else math.nan
    if len(finite) == len(loss):
        end = float(np.median(finite[-k:]))
        if not end > 1.5 * start:
            return None
        title = f"Training diverged: loss went from {start:.3g} to {end:.3g}"
    else:
        end = math.inf
        title = "Training diverged: the loss became NaN/Inf"
    suggested = _tenth(lr)
    return _calculus(
        "divergence", Severity.HIGH, title=title,
        detail="A loss that rises over training means steps overshoot the minimum: the learning rate is too "
               "high for the curvature of the loss.",
        evidence={"loss_start": start, "loss_end": end, "lr": lr, "suggested_lr": suggested},
        fix=f"Lower the learning rate to about {suggested:.3g} (a tenth of the current one) or add warmup.")


def exploding(grads: np.ndarray, lr: float) -> Finding | None:
    """The total gradient norm peaked over 100× its level at the start."""
    total = np.sqrt(np.nansum(np.where(np.isfinite(grads), grads, np.nan) ** 2, axis=1))
    k = _fifth(total)
    early = np.median(total[:k])
    peak = np.nanmax(total)
    if not (peak > 100 * max(early, 1e-12)):
        return None
    clip = float(np.nanpercentile(total[:k], 90))
    suggested = _tenth(lr)
    return _calculus(
        "exploding-gradients", Severity.HIGH,
        title=f"Gradient norm grew {peak / max(early, 1e-12):.3g}× over training",
        detail="Exploding gradients make single steps large enough to throw the weights far away.",
        evidence={"early_norm": float(early), "peak_norm": float(peak), "suggested_clip": clip,
                  "lr": lr, "suggested_lr": suggested},
        fix=f"Clip the gradient norm at about {clip:.3g} (the 90th percentile seen early on) and lower the "
            f"learning rate to about {suggested:.3g}, or warm it up over the first few hundred steps.")


def vanishing(grads: np.ndarray, names: list[str]) -> Finding | None:
    """In three or more layers, the first gets under a thousandth of the last layer's gradient."""
    if len(names) < 3:
        return None
    med = np.nanmedian(grads, axis=0)
    first, last = float(med[0]), float(med[-1])
    if not last > 1e-12:
        return None  # no gradient reaches even the last layer: dead units, not depth, are the story
    ratio = first / last
    if ratio >= 1e-3:
        return None
    return _calculus(
        "vanishing-gradients", Severity.HIGH,
        title=f"Gradients vanish with depth: the first layer gets {ratio:.2g}× the last layer's gradient",
        detail=f"Across {len(names)} layers the gradient shrinks by a factor per layer (the chain rule multiplies "
               "Jacobians; saturating activations such as sigmoid contribute at most 1/4 each), so early layers "
               "barely learn.",
        evidence={"first_layer": names[0], "last_layer": names[-1], "ratio": ratio, "depth": len(names)},
        fix="Use ReLU-family activations with He initialisation, add residual connections and normalisation "
            "layers.")


def plateau(losses: list[float], n_steps: int, lr: float, n_outputs: int | None) -> Finding | None:
    """No progress: the loss late in the run is within 2 % of where it started (over ≥ 50 steps)."""
    loss = np.array(losses)
    if n_steps < 50 or len(loss) < 10 or not np.isfinite(loss).all():
        return None
    k = _fifth(loss)
    early, late = float(np.median(loss[:k])), float(np.median(loss[-k:]))
    if early - late > 0.02 * abs(early):
        return None
    chance = math.log(n_outputs) if n_outputs and n_outputs > 1 else None
    at_chance = chance is not None and abs(late - chance) < 0.05 * chance
    return _calculus(
        "plateau", Severity.HIGH if at_chance else Severity.MEDIUM,
        title=f"The loss made no progress in {n_steps} steps ({early:.3g} → {late:.3g})"
              + (f", which is chance level for {n_outputs} classes (ln {n_outputs} = {chance:.3g})"
                 if at_chance else ""),
        detail="The optimiser is not descending: steps too large bounce around (or kill units), steps too "
               "small do not move, and a target unrelated to the inputs looks exactly the same.",
        evidence={"loss_start": early, "loss_end": late, "steps": n_steps, "lr": lr, "chance_loss": chance},
        fix="Run a learning-rate range test (try 10× lower and 10× higher), add a schedule with warmup, and "
            "check that the labels match the inputs (shuffle bugs, wrong column).")


def idle_units(shares: dict[str, float], kinds: dict[str, str], lr: float) -> list[Finding]:
    """Dead ReLU and saturated sigmoid/tanh units: at most one finding per kind, for the worst layer."""
    out = []
    for kind in ("dead", "saturated"):
        layer_shares = {n: v for n, v in shares.items() if kinds[n] == kind and math.isfinite(v)}
        if not layer_shares:
            continue
        worst = max(layer_shares, key=layer_shares.get)
        share = layer_shares[worst]
        if share < 0.25:
            continue
        # Trained ReLU nets commonly carry a quarter to a half of idle units (wasted capacity, LOW);
        # past half the layer is crippled, and near all of it nothing can learn any more.
        severity = Severity.HIGH if share >= 0.9 else Severity.MEDIUM if share >= 0.5 else Severity.LOW
        if kind == "dead":
            out.append(_calculus(
                "dead-units", severity,
                title=f"{share:.0%} of the ReLU units after layer {worst!r} are dead (zero for every input)",
                detail="A dead ReLU passes no gradient, so it never recovers; a large step that pushed its "
                       "pre-activation negative for all inputs is the usual cause.",
                evidence={"layer": worst, "share": share, "shares": layer_shares, "lr": lr},
                fix="Lower the learning rate (start around a tenth), use LeakyReLU/GELU, He initialisation, "
                    "or normalisation before the activation."))
        else:
            out.append(_calculus(
                "saturated-units", severity,
                title=f"{share:.0%} of the sigmoid/tanh units after layer {worst!r} are saturated",
                detail="On the flat tails the derivative is below 0.01, so these units learn a hundred times "
                       "slower and starve the layers before them of gradient.",
                evidence={"layer": worst, "share": share, "shares": layer_shares},
                fix="Standardise the inputs, use Xavier initialisation and a lower learning rate, or switch "
                    "to ReLU-family activations with normalisation."))
    return out


def update_size(update_ratios: list[list[float]]) -> Finding | None:
    """The weights' median per-step change, relative to their norm, is far from the healthy ~1e-3."""
    ratios = np.array(update_ratios, dtype=float)[1:]
    if ratios.size == 0 or not np.isfinite(ratios).any():
        return None
    med = float(np.nanmedian(ratios))
    if 1e-5 <= med <= 1e-1 or med == 0:  # exactly 0: no gradient at all, reported as dead units/plateau
        return None
    return _calculus(
        "update-ratio", Severity.MEDIUM,
        title=f"Weights change by {med:.2g} of their norm per step (healthy is around 1e-3)",
        detail="Much smaller and training crawls; much larger and it thrashes.",
        evidence={"median_update_ratio": med},
        fix="Raise the learning rate" if med < 1e-5 else "Lower the learning rate")


def stream_failed(run: str, sent: int, error: str) -> Finding:
    """The service refused or could not be reached: the run's record there stops at ``sent`` steps."""
    return Finding(
        id="monitor.training.stream-failed", lens="monitor", severity=Severity.MEDIUM,
        title=f"Streaming run {run!r} to the monitor stopped after {sent} steps: {error}",
        detail="Training went on and the local report is complete; the service holds only the steps before this.",
        evidence={"run": run, "sent_steps": sent, "error": error},
        fix="Check the service URL and the ingest key (mathguard keys), then stream the next run again.")
