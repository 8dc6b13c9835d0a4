"""Watch a PyTorch training loop through its gradients: two calls in the user's loop, findings at the end.

``Monitor.step(loss)`` goes after ``loss.backward()`` and before ``optimizer.step()``: it
reads per-layer gradient and weight norms, the update each layer received since the last
call, the loss and the learning rate. History is bounded by decimation (keep every other
record and halve the sampling rate when full), so memory is flat over any run length.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import nn

from mathguard.errors import InputError
from mathguard.report import Figure, Finding, Report, Severity

_WEIGHTED = (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d)


@dataclass
class History:
    """Decimated records: ``steps[i]`` is the step of row i of every per-layer array."""

    capacity: int
    stride: int = 1
    steps: list[int] = field(default_factory=list)
    loss: list[float] = field(default_factory=list)
    lr: list[float] = field(default_factory=list)
    grad_norm: list[list[float]] = field(default_factory=list)
    weight_norm: list[list[float]] = field(default_factory=list)
    update_ratio: list[list[float]] = field(default_factory=list)

    def append(self, step: int, **row: Any) -> None:
        if step % self.stride:
            return
        self.steps.append(step)
        for key, value in row.items():
            getattr(self, key).append(value)
        if len(self.steps) > self.capacity:
            self.stride *= 2
            for key in ("steps", "loss", "lr", "grad_norm", "weight_norm", "update_ratio"):
                values = getattr(self, key)
                setattr(self, key, [v for s, v in zip(self.steps, values) if s % self.stride == 0])

    def __len__(self) -> int:
        return len(self.steps)


class Monitor:
    """Per-layer gradient health of ``model`` during training, turned into findings with fixes."""

    def __init__(self, model: nn.Module, optimizer: torch.optim.Optimizer | None = None, *,
                 max_history: int = 1000) -> None:
        if max_history < 10:
            raise InputError(f"max_history must be at least 10, got {max_history}")
        self.layers = [(name, m) for name, m in model.named_modules() if isinstance(m, _WEIGHTED)]
        if not self.layers:
            raise InputError("the model has no Linear or Conv layers to monitor")
        self.optimizer = optimizer
        self.history = History(max_history)
        self.n_steps = 0
        self.non_finite: tuple[int, str] | None = None  # first step and place where NaN/Inf appeared
        self._previous: list[torch.Tensor] | None = None

    @torch.no_grad()
    def step(self, loss: torch.Tensor) -> None:
        """Record one training step; call after backward() and before optimizer.step()."""
        if not isinstance(loss, torch.Tensor) or loss.numel() != 1:
            raise InputError("step() needs the scalar loss tensor of this batch")
        grads = [m.weight.grad for _, m in self.layers]
        if any(g is None for g in grads):
            missing = next(n for (n, _), g in zip(self.layers, grads) if g is None)
            raise InputError(f"layer {missing!r} has no gradient: call step(loss) after loss.backward()")
        weights = [m.weight.detach() for _, m in self.layers]
        value = float(loss.detach())
        g_norms = [float(g.norm()) for g in grads]
        w_norms = [float(w.norm()) for w in weights]
        if self._previous is None:
            ratios = [math.nan] * len(weights)
        else:
            ratios = [float((w - p).norm() / p.norm().clamp_min(1e-12)) for w, p in zip(weights, self._previous)]
        self._previous = [w.clone() for w in weights]
        if self.non_finite is None:
            if not math.isfinite(value):
                self.non_finite = (self.n_steps, "loss")
            else:
                bad = next((n for (n, _), g in zip(self.layers, g_norms) if not math.isfinite(g)), None)
                if bad is not None:
                    self.non_finite = (self.n_steps, f"gradient of {bad}")
        lr = float(self.optimizer.param_groups[0]["lr"]) if self.optimizer is not None else math.nan
        self.history.append(self.n_steps, loss=value, lr=lr, grad_norm=g_norms, weight_norm=w_norms,
                            update_ratio=ratios)
        self.n_steps += 1

    # ------------------------------------------------------------------ diagnosis
    def report(self) -> Report:
        """Findings (vanishing / exploding gradients, NaN, divergence, update size) and the gradient-flow plot."""
        if len(self.history) < 2:
            raise InputError("record at least two steps before asking for a report")
        h = self.history
        names = [n for n, _ in self.layers]
        grads = np.array(h.grad_norm)
        report = Report(title="Training dynamics (calculus lens)",
                        metrics={"steps": self.n_steps, "layers": names,
                                 "final_loss": h.loss[-1], "lr": h.lr[-1],
                                 "median_grad_norm": dict(zip(names, np.nanmedian(grads, axis=0).tolist()))})
        for finding in (self._non_finite(), self._divergence(), self._exploding(grads), self._vanishing(grads, names),
                        self._update_size(names)):
            if finding is not None:
                report.add(finding)
        report.figures.append(self._figure(grads, names))
        return report

    def _non_finite(self) -> Finding | None:
        if self.non_finite is None:
            return None
        step, where = self.non_finite
        return Finding(
            id="calculus.non-finite", lens="calculus", severity=Severity.CRITICAL,
            title=f"NaN/Inf first appeared in the {where} at step {step}",
            detail="Once a NaN enters the weights every later step is lost.",
            evidence={"step": step, "where": where},
            fix="Lower the learning rate, clip gradients (torch.nn.utils.clip_grad_norm_), and check the inputs "
                "and the loss for log(0) or division by zero.")

    def _divergence(self) -> Finding | None:
        loss = np.array(self.history.loss)
        finite = loss[np.isfinite(loss)]
        k = max(1, len(loss) // 5)
        start = float(np.median(finite[:k])) if len(finite) else math.nan
        if len(finite) == len(loss):
            end = float(np.median(finite[-k:]))
            if not end > 1.5 * start:
                return None
            title = f"Training diverged: loss went from {start:.3g} to {end:.3g}"
        else:
            end = math.inf
            title = "Training diverged: the loss became NaN/Inf"
        lr = self.history.lr[-1]
        suggested = lr / 10 if math.isfinite(lr) else math.nan
        return Finding(
            id="calculus.divergence", lens="calculus", severity=Severity.HIGH, title=title,
            detail="A loss that rises over training means steps overshoot the minimum: the learning rate is too "
                   "high for the curvature of the loss.",
            evidence={"loss_start": start, "loss_end": end, "lr": lr, "suggested_lr": suggested},
            fix=f"Lower the learning rate to about {suggested:.3g} (a tenth of the current one) or add warmup.")

    def _exploding(self, grads: np.ndarray) -> Finding | None:
        total = np.sqrt(np.nansum(np.where(np.isfinite(grads), grads, np.nan) ** 2, axis=1))
        k = max(1, len(total) // 5)
        early = np.median(total[:k])
        peak = np.nanmax(total)
        if not (peak > 100 * max(early, 1e-12)):
            return None
        clip = float(np.nanpercentile(total[:k], 90))
        lr = self.history.lr[-1]
        suggested = lr / 10 if math.isfinite(lr) else math.nan
        return Finding(
            id="calculus.exploding-gradients", lens="calculus", severity=Severity.HIGH,
            title=f"Gradient norm grew {peak / max(early, 1e-12):.3g}× over training",
            detail="Exploding gradients make single steps large enough to throw the weights far away.",
            evidence={"early_norm": float(early), "peak_norm": float(peak), "suggested_clip": clip,
                      "lr": lr, "suggested_lr": suggested},
            fix=f"Clip the gradient norm at about {clip:.3g} (the 90th percentile seen early on) and lower the "
                f"learning rate to about {suggested:.3g}.")

    def _vanishing(self, grads: np.ndarray, names: list[str]) -> Finding | None:
        if len(names) < 3:
            return None
        med = np.nanmedian(grads, axis=0)
        first, last = float(med[0]), float(med[-1])
        ratio = first / max(last, 1e-30)
        if ratio >= 1e-3:
            return None
        return Finding(
            id="calculus.vanishing-gradients", lens="calculus", severity=Severity.HIGH,
            title=f"Gradients vanish with depth: the first layer gets {ratio:.2g}× the last layer's gradient",
            detail=f"Across {len(names)} layers the gradient shrinks by a factor per layer (the chain rule multiplies "
                   "Jacobians; saturating activations such as sigmoid contribute at most 1/4 each), so early layers "
                   "barely learn.",
            evidence={"first_layer": names[0], "last_layer": names[-1], "ratio": ratio, "depth": len(names)},
            fix="Use ReLU-family activations with He initialisation, add residual connections and normalisation "
                "layers.")

    def _update_size(self, names: list[str]) -> Finding | None:
        ratios = np.array(self.history.update_ratio, dtype=float)[1:]
        if ratios.size == 0 or not np.isfinite(ratios).any():
            return None
        med = float(np.nanmedian(ratios))
        if 1e-5 <= med <= 1e-1:
            return None
        return Finding(
            id="calculus.update-ratio", lens="calculus", severity=Severity.MEDIUM,
            title=f"Weights change by {med:.2g} of their norm per step (healthy is around 1e-3)",
            detail="Much smaller and training crawls; much larger and it thrashes.",
            evidence={"median_update_ratio": med},
            fix="Raise the learning rate" if med < 1e-5 else "Lower the learning rate")

    def _figure(self, grads: np.ndarray, names: list[str]) -> Figure:
        import matplotlib.pyplot as plt  # Agg backend, set by mathguard.report

        fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 3.6))
        for j, name in enumerate(names):
            ax1.plot(self.history.steps, np.clip(grads[:, j], 1e-30, None), label=name, lw=1)
        ax1.set_yscale("log")
        ax1.set_xlabel("step")
        ax1.set_ylabel("gradient norm")
        if len(names) <= 10:
            ax1.legend(fontsize=6)
        ax2.plot(self.history.steps, self.history.loss, color="tab:red")
        ax2.set_xlabel("step")
        ax2.set_ylabel("loss")
        for ax in (ax1, ax2):
            ax.grid(True, alpha=0.3)
        return Figure.from_matplotlib(fig, "Gradient flow and loss",
                                      "Per-layer gradient norm over training (log scale) and the loss; lines "
                                      "far below the others are layers that stopped learning.")
