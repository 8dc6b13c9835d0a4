"""Watch a PyTorch training loop through its gradients: two calls in the user's loop, findings at the end.

``Monitor.step(loss)`` goes after ``loss.backward()`` and before ``optimizer.step()``: it
reads per-layer gradient and weight norms, the update each layer received since the last
call, the loss and the learning rate. Gradient norms and the loss are read every step
(a NaN is caught at the step it appears); every ``sample_every``-th step also reads the
weight norms, the size of the update the optimizer just made, and — through forward
hooks on the ReLU / sigmoid / tanh modules — the share of dead and saturated units in
that step's batch (the hooks exist only for that step and hold no tensors). History is
bounded by decimation (keep every other record and halve the sampling rate when full),
so memory is flat over any run length. ``report()`` hands the records to the rules in
``findings`` and the curves to ``plots``.
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
from mathguard.report import Report
from mathguard.training import findings
from mathguard.training.plots import training_figure
from mathguard.training.stream import RunStream, step_metrics
from mathguard.training.weights import WEIGHTED, init_scale_finding, scale_stats
from mathguard.params import COUNT, Int, declare

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

    @declare(max_history=Int(10), sample_every=COUNT, flush_every=COUNT)
    def __init__(self, model: nn.Module, optimizer: torch.optim.Optimizer | None = None, *,
                 max_history: int = 1000, sample_every: int = 10, activations: bool = True,
                 client: Any = None, run: str | None = None, flush_every: int = 100) -> None:
        if (client is None) != (run is None):
            raise InputError("client= and run= go together: the service stores steps under a run name")
        if run is not None and (not isinstance(run, str) or not run.strip()):
            raise InputError(f"run must be a non-empty name, got {run!r}")
        if flush_every < 1:
            raise InputError(f"flush_every must be at least 1, got {flush_every}")
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
        self.stream = None if client is None else RunStream(
            client, run, flush_every=flush_every,
            first={} if self.n_outputs is None else {"n_outputs": float(self.n_outputs)})

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
        seen: dict[str, float] = {}
        if self.probe is not None:
            seen = self.probe.take()
            if seen:
                self.activations.append(self.n_steps, share=[seen.get(n, math.nan) for n in self.probe.names])
            if (self.n_steps + 1) % self.sample_every == 0:
                self.probe.arm()
        if self.stream is not None:
            self.stream.add(self.n_steps, step_metrics(value, lr, g_norms, [n for n, _ in self.layers], ratios, seen))
        self.n_steps += 1

    def close(self) -> None:
        """Remove the forward hooks and send the last streamed steps (the history and the report stay available)."""
        if self.probe is not None:
            self.probe.close()
        if self.stream is not None:
            self.stream.close()

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
        kinds = {} if self.probe is None else dict(zip(self.probe.names, self.probe.kinds))
        lr = h.lr[-1]
        diverged = findings.divergence(h.loss, lr)
        for finding in (*self.init_findings, findings.non_finite(self.non_finite), diverged,
                        findings.exploding(grads, lr), findings.vanishing(grads, names),
                        None if diverged else findings.plateau(h.loss, self.n_steps, lr, self.n_outputs),
                        *findings.idle_units(shares, kinds, lr), findings.update_size(h.update_ratio)):
            if finding is not None:
                report.add(finding)
        if self.stream is not None:
            self.stream.flush()
            report.metrics["streamed_run"] = self.stream.run
            if self.stream.error is not None:
                report.add(findings.stream_failed(self.stream.run, self.stream.sent, self.stream.error))
        report.figures.append(training_figure(h.steps, grads, names, h.loss, h.lr))
        return report

    def _recent_activation_shares(self) -> dict[str, float]:
        """Median share of dead/saturated units per activation layer over the last three samples."""
        if self.probe is None or not self.activations.steps:
            return {}
        recent = np.array(self.activations.share[-3:], dtype=float)
        return dict(zip(self.probe.names, np.nanmedian(recent, axis=0).tolist()))
