"""What an attack returns: per sample and per budget, what it found and what it cost."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch


def snr_db(x: torch.Tensor, delta: torch.Tensor) -> torch.Tensor:
    """Per-sample 10·log10(‖x‖² / ‖δ‖²) in dB for (N, *shape) batches (∞ where δ = 0): audio's loudness ratio."""
    signal = x.flatten(1).double().pow(2).sum(1)
    noise = delta.flatten(1).double().pow(2).sum(1)
    return 10 * torch.log10(signal / noise)


@dataclass
class AttackResult:
    """Outcome of one attack run over a batch and a list of budgets.

    Shapes: E budgets, N samples.

    - ``eps``: the budgets, length E. A minimal-norm attack run without budgets has
      ``eps == (inf,)`` and answers any budget afterwards through :meth:`at`.
    - ``adversarial``: (E, N, *input_shape), always inside the budget and the bounds.
    - ``success``: (E, N) bool; a sample misclassified before any perturbation counts
      as a success with norm 0 (the attacker needs to do nothing).
    - ``norms``: (E, N) norm of ``adversarial - x`` in ``norm``.
    - ``queries``: (E, N) model evaluations spent on each sample (forward passes;
      a forward+backward counts once).
    - ``params``: every hyper-parameter, so reports can show exactly what ran.
    - ``clean``: the inputs attacked; :meth:`at` returns them where a perturbation is too big.
    """

    attack: str
    norm: str
    eps: tuple[float, ...]
    adversarial: torch.Tensor
    success: torch.Tensor
    norms: torch.Tensor
    queries: torch.Tensor
    params: dict[str, Any] = field(default_factory=dict)
    minimal: bool = False
    clean: torch.Tensor | None = None  # (N, *input_shape) the attacked inputs, for :meth:`at`

    def snr_db(self) -> torch.Tensor:
        """(E, N) signal-to-noise ratio of each perturbation in dB (∞ where nothing was changed)."""
        if self.clean is None:
            raise ValueError("this result does not hold the clean inputs the SNR is measured against")
        clean = self.clean.unsqueeze(0).expand_as(self.adversarial)
        return snr_db(clean.flatten(0, 1), (self.adversarial - clean).flatten(0, 1)).view(self.success.shape)

    @property
    def success_rate(self) -> torch.Tensor:
        """(E,) fraction of samples fooled at each budget."""
        return self.success.float().mean(dim=1)

    @property
    def robust_accuracy(self) -> dict[float, float]:
        """eps → fraction of samples still correctly classified after the attack."""
        return {e: float(1.0 - r) for e, r in zip(self.eps, self.success_rate.tolist())}

    def at(self, eps: "float | list[float]") -> "AttackResult":
        """Re-read a minimal-norm result at given budgets: success iff the norm found fits.

        Where the perturbation found does not fit a budget the clean input is returned,
        so ``adversarial`` always lies inside the budget.
        """
        if not self.minimal:
            raise ValueError("only minimal-norm results can be re-read at other budgets")
        budgets = [float(eps)] if isinstance(eps, (int, float)) else [float(e) for e in eps]
        fits = torch.stack([self.norms[0] <= e * (1 + 1e-6) for e in budgets])
        success = self.success[0].unsqueeze(0) & fits
        adv = self.adversarial.expand(len(budgets), *self.adversarial.shape[1:])
        norms = self.norms.expand(len(budgets), -1)
        if self.clean is not None:
            keep = success.view(*success.shape, *([1] * (adv.ndim - 2)))
            adv = torch.where(keep, adv, self.clean.unsqueeze(0))
            norms = torch.where(success, norms, torch.zeros_like(norms))
        return AttackResult(
            attack=self.attack,
            norm=self.norm,
            eps=tuple(budgets),
            adversarial=adv,
            success=success,
            norms=norms,
            queries=self.queries.expand(len(budgets), -1),
            params=dict(self.params),
            minimal=False,
            clean=self.clean,
        )
