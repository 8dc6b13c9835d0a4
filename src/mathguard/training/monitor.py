"""Watch a PyTorch training loop through its gradients: two calls in the user's loop, findings at the end.

``Monitor.step(loss)`` goes after ``loss.backward()`` and before ``optimizer.step()``: it
reads per-layer gradient and weight norms, the update each layer received since the last
call, the loss and the learning rate. Gradient norms and the loss are read every step
(a NaN is caught at the step it appears); every ``sample_every``-th step also reads the
weight norms, the size of the update the optimizer just made, and — through forward
hooks on the ReLU / sigmoid / tanh modules — the share of dead and saturated units in
that step's batch (the hooks exist only for that step and hold no tensors). History is
bounded by decimation (keep every other record and halve the sampling rate when full),
so memory is flat over any run length.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import nn

from mathguard.errors import InputError
from mathguard.models.torch_model import check_module
from mathguard.report import Figure, Finding, Report, Severity, new_figure
from mathguard.training.weights import WEIGHTED, init_scale_finding, scale_stats

_SATURATION = {nn.Sigmoid: (0.01, 0.99), nn.Tanh: (-0.99, 0.99)}  # outputs beyond these are on a flat tail


@dataclass
class History:
    """Decimated records: row i of every column was recorded at ``steps[i]``.

    When more than ``capacity`` rows are held, every other row is dropped and the
    sampling stride doubles, so memory is bounded for any run length.
    """

    capacity: int
    stride: int = 1
    steps: list[int] = field(default_factory=list)
    columns: dict[str, list[Any]] = field(default_factory=dict)

    def append(self, step: int, **row: Any) -> None:
        if step % self.stride:
            return
        self.steps.append(step)
        for key, value in row.items():
            self.columns.setdefault(key, []).append(value)
        if len(self.steps) > self.capacity:
            self.stride *= 2
            keep = [i for i, s in enumerate(self.steps) if s % self.stride == 0]
            self.steps = [self.steps[i] for i in keep]
            self.columns = {k: [v[i] for i in keep] for k, v in self.columns.items()}

    def __getattr__(self, name: str) -> list[Any]:
        columns = self.__dict__.get("columns", {})
        if name in columns:
            return columns[name]
        raise AttributeError(name)

    def __len__(self) -> int:
        return len(self.steps)


class ActivationProbe:
    """Forward hooks that record the share of dead ReLU and saturated sigmoid/tanh units in one batch.

    A ReLU unit (a feature, or a channel of a convolution) is dead in a batch when it
    outputs 0 for every example and position; a sigmoid/tanh unit is saturated when
    ≥ 90 % of its outputs sit on a flat tail, where its derivative is below ~0.01.
    Hooks exist only while armed (from ``arm()`` to the next ``take()``): a module with
    any hook takes PyTorch's slower call path, so unsampled steps run hook-free.
    """

    def __init__(self, model: nn.Module) -> None:
        self.modules: list[tuple[str, str, nn.Module]] = []
        for name, module in model.named_modules():
            kind = "dead" if isinstance(module, nn.ReLU) else "saturated" if type(module) in _SATURATION else None
            if kind is not None:
                self.modules.append((name, kind, module))
        self.names = [n for n, _, _ in self.modules]
        self.kinds = [k for _, k, _ in self.modules]
        self.latest: dict[str, float] = {}
        self._handles: list[Any] = []

    def arm(self) -> None:
        if not self._handles:
            self._handles = [m.register_forward_hook(self._hook(n, k)) for n, k, m in self.modules]

    def _hook(self, name: str, kind: str) -> Any:
        def record(module: nn.Module, _inputs: Any, output: torch.Tensor) -> None:
            if not module.training or output.dim() < 2:
                return
            with torch.no_grad():
                units = output.detach().transpose(0, 1).reshape(output.shape[1], -1)  # (units, batch·positions)
                if kind == "dead":
                    share = (units <= 0).all(dim=1).float().mean()
                else:
                    lo, hi = _SATURATION[type(module)]
                    share = (((units <= lo) | (units >= hi)).float().mean(dim=1) >= 0.9).float().mean()
            self.latest[name] = float(share)
        return record

    def take(self) -> dict[str, float]:
        """The shares recorded since arming; the hooks are removed until the next ``arm()``."""
        self.close()
        out, self.latest = self.latest, {}
        return out

    def close(self) -> None:
        for handle in self._handles:
            handle.remove()
        self._handles = []


class Monitor:
    """Per-layer gradient health of ``model`` during training, turned into findings with fixes."""

    def __init__(self, model: nn.Module, optimizer: torch.optim.Optimizer | None = None, *,
                 max_history: int = 1000, sample_every: int = 10, activations: bool = True) -> None:
        if max_history < 10:
            raise InputError(f"max_history must be at least 10, got {max_history}")
        if sample_every < 1:
            raise InputError(f"sample_every must be at least 1, got {sample_every}")
        check_module(model)
        # Frozen layers (fine-tuning) have no gradient to watch.
        self.layers = [(name, m) for name, m in model.named_modules()
                       if isinstance(m, WEIGHTED) and m.weight.requires_grad]
        if not self.layers:
            raise InputError("the model has no trainable Linear or Conv layers to monitor")
        self.optimizer = optimizer
        # The starting weights' scale, checked once: a bad initialisation explains much of what follows.
        self.init_findings = [f for name, m in self.layers
                              if (f := init_scale_finding(name or type(m).__name__, scale_stats(m))) is not None]
        self.history = History(max_history)
        self.activations = History(max_history)
        self.sample_every = sample_every
        self.probe = ActivationProbe(model) if activations else None
        if self.probe is not None:
            self.probe.arm()  # the first step is always sampled
        linears = [m for _, m in self.layers if isinstance(m, nn.Linear)]
        self.n_outputs = linears[-1].out_features if linears and linears[-1] is self.layers[-1][1] else None
        self.n_steps = 0
        self.non_finite: tuple[int, str] | None = None  # first step and place where NaN/Inf appeared
        self._previous: list[torch.Tensor] | None = None  # weights before the optimizer step being sampled

    @torch.no_grad()
    def step(self, loss: torch.Tensor) -> None:
        """Record one training step; call after backward() and before optimizer.step()."""
        if not isinstance(loss, torch.Tensor) or loss.numel() != 1:
            raise InputError("step() needs the scalar loss tensor of this batch")
        grads = [m.weight.grad for _, m in self.layers]
        if all(g is None for g in grads):
            raise InputError("no layer has a gradient yet: call step(loss) after loss.backward()")
        weights = [m.weight.detach() for _, m in self.layers]
        # A layer this batch did not reach (a branch not taken) received no gradient: norm 0.
        grads = [torch.zeros(1, device=w.device, dtype=w.dtype) if g is None else g for g, w in zip(grads, weights)]
        value = float(loss.detach())
        # Fused multi-tensor kernels and one conversion to Python: the per-step cost is a few
        # kernel launches, not a few per layer (the bench keeps this under 10 % of a small CNN's step).
        sampled = self.n_steps % self.sample_every == 0
        tensors = grads + weights if sampled else list(grads)
        if self._previous is not None:
            tensors += torch._foreach_sub(weights, self._previous)
        norms = torch._foreach_norm(tensors)
        try:
            flat = torch.stack(norms).tolist()
        except RuntimeError:  # layers on different devices or in different dtypes
            flat = [float(n) for n in norms]
        k = len(weights)
        g_norms = flat[:k]
        w_norms = flat[k : 2 * k] if sampled else [math.nan] * k
        ratios = [math.nan] * k
        if self._previous is not None:
            ratios = [d / max(w, 1e-12) for d, w in zip(flat[-k:], w_norms)]
            self._previous = None
        if (self.n_steps + 1) % self.sample_every == 0:  # keep the weights to measure the next update
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
        if self.probe is not None:
            seen = self.probe.take()
            if seen:
                self.activations.append(self.n_steps, share=[seen.get(n, math.nan) for n in self.probe.names])
            if (self.n_steps + 1) % self.sample_every == 0:
                self.probe.arm()
        self.n_steps += 1

    def close(self) -> None:
        """Remove the forward hooks (the history and the report stay available)."""
        if self.probe is not None:
            self.probe.close()

    def __enter__(self) -> "Monitor":
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ diagnosis
    def report(self) -> Report:
        """Findings (NaN, divergence, exploding / vanishing gradients, plateau, dead or saturated units,
        update size) and the gradient-flow, loss and learning-rate plots."""
        if len(self.history) < 2:
            raise InputError("record at least two steps before asking for a report")
        h = self.history
        names = [n for n, _ in self.layers]
        grads = np.array(h.grad_norm)
        report = Report(title="Training dynamics (calculus lens)",
                        metrics={"steps": self.n_steps, "layers": names,
                                 "final_loss": h.loss[-1], "lr": h.lr[-1],
                                 "median_grad_norm": dict(zip(names, np.nanmedian(grads, axis=0).tolist()))})
        shares = self._recent_activation_shares()
        if shares:
            report.metrics["dead_or_saturated_share"] = shares
        divergence = self._divergence()
        for finding in (*self.init_findings, self._non_finite(), divergence, self._exploding(grads), self._vanishing(grads, names),
                        None if divergence else self._plateau(), *self._unit_findings(shares),
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
                f"learning rate to about {suggested:.3g}, or warm it up over the first few hundred steps.")

    def _vanishing(self, grads: np.ndarray, names: list[str]) -> Finding | None:
        if len(names) < 3:
            return None
        med = np.nanmedian(grads, axis=0)
        first, last = float(med[0]), float(med[-1])
        if not last > 1e-12:
            return None  # no gradient reaches even the last layer: dead units, not depth, are the story
        ratio = first / last
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

    def _plateau(self) -> Finding | None:
        """No progress: the loss late in the run is within 2 % of where it started (over ≥ 50 steps)."""
        loss = np.array(self.history.loss)
        if self.n_steps < 50 or len(loss) < 10 or not np.isfinite(loss).all():
            return None
        k = max(1, len(loss) // 5)
        early, late = float(np.median(loss[:k])), float(np.median(loss[-k:]))
        if early - late > 0.02 * abs(early):
            return None
        chance = math.log(self.n_outputs) if self.n_outputs and self.n_outputs > 1 else None
        at_chance = chance is not None and abs(late - chance) < 0.05 * chance
        return Finding(
            id="calculus.plateau", lens="calculus", severity=Severity.HIGH if at_chance else Severity.MEDIUM,
            title=f"The loss made no progress in {self.n_steps} steps ({early:.3g} → {late:.3g})"
                  + (f", which is chance level for {self.n_outputs} classes (ln {self.n_outputs} = {chance:.3g})"
                     if at_chance else ""),
            detail="The optimiser is not descending: steps too large bounce around (or kill units), steps too "
                   "small do not move, and a target unrelated to the inputs looks exactly the same.",
            evidence={"loss_start": early, "loss_end": late, "steps": self.n_steps, "lr": self.history.lr[-1],
                      "chance_loss": chance},
            fix="Run a learning-rate range test (try 10× lower and 10× higher), add a schedule with warmup, and "
                "check that the labels match the inputs (shuffle bugs, wrong column).")

    def _recent_activation_shares(self) -> dict[str, float]:
        """Median share of dead/saturated units per activation layer over the last three samples."""
        if self.probe is None or not self.activations.steps:
            return {}
        recent = np.array(self.activations.share[-3:], dtype=float)
        return dict(zip(self.probe.names, np.nanmedian(recent, axis=0).tolist()))

    def _unit_findings(self, shares: dict[str, float]) -> list[Finding]:
        if not shares or self.probe is None:
            return []
        out = []
        kinds = dict(zip(self.probe.names, self.probe.kinds))
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
                out.append(Finding(
                    id="calculus.dead-units", lens="calculus", severity=severity,
                    title=f"{share:.0%} of the ReLU units after layer {worst!r} are dead (zero for every input)",
                    detail="A dead ReLU passes no gradient, so it never recovers; a large step that pushed its "
                           "pre-activation negative for all inputs is the usual cause.",
                    evidence={"layer": worst, "share": share, "shares": layer_shares, "lr": self.history.lr[-1]},
                    fix="Lower the learning rate (start around a tenth), use LeakyReLU/GELU, He initialisation, "
                        "or normalisation before the activation."))
            else:
                out.append(Finding(
                    id="calculus.saturated-units", lens="calculus", severity=severity,
                    title=f"{share:.0%} of the sigmoid/tanh units after layer {worst!r} are saturated",
                    detail="On the flat tails the derivative is below 0.01, so these units learn a hundred times "
                           "slower and starve the layers before them of gradient.",
                    evidence={"layer": worst, "share": share, "shares": layer_shares},
                    fix="Standardise the inputs, use Xavier initialisation and a lower learning rate, or switch "
                        "to ReLU-family activations with normalisation."))
        return out

    def _update_size(self, names: list[str]) -> Finding | None:
        ratios = np.array(self.history.update_ratio, dtype=float)[1:]
        if ratios.size == 0 or not np.isfinite(ratios).any():
            return None
        med = float(np.nanmedian(ratios))
        if 1e-5 <= med <= 1e-1 or med == 0:  # exactly 0: no gradient at all, reported as dead units/plateau
            return None
        return Finding(
            id="calculus.update-ratio", lens="calculus", severity=Severity.MEDIUM,
            title=f"Weights change by {med:.2g} of their norm per step (healthy is around 1e-3)",
            detail="Much smaller and training crawls; much larger and it thrashes.",
            evidence={"median_update_ratio": med},
            fix="Raise the learning rate" if med < 1e-5 else "Lower the learning rate")

    def _figure(self, grads: np.ndarray, names: list[str]) -> Figure:
        """The curves as they stand now (copied: training may go on before the report is drawn)."""
        h = self.history
        curves = (list(h.steps), grads.copy(), list(names), list(h.loss), list(h.lr))
        return Figure.later(lambda: _draw_training(*curves), "Gradient flow, loss and learning rate",
                            "Per-layer gradient norm over training (log scale; lines far below the "
                            "others are layers that stopped learning), the loss, and the learning rate "
                            "read from the optimizer at every step.")


def _draw_training(steps: list[int], grads: np.ndarray, names: list[str], loss: list[float],
                   lr: list[float]) -> Any:
    fig = new_figure(13, 3.6)
    ax1, ax2, ax3 = fig.subplots(1, 3)
    for j, name in enumerate(names):
        ax1.plot(steps, np.clip(grads[:, j], 1e-30, None), label=name, lw=1)
    ax1.set_yscale("log")
    ax1.set_ylabel("gradient norm")
    if len(names) <= 10:
        ax1.legend(fontsize=6)
    ax2.plot(steps, loss, color="tab:red")
    ax2.set_ylabel("loss")
    ax3.plot(steps, lr, color="tab:green")
    ax3.set_ylabel("learning rate")
    for ax in (ax1, ax2, ax3):
        ax.set_xlabel("step")
        ax.grid(True, alpha=0.3)
    fig.tight_layout()
    return fig
