"""Demo data beyond images: synthetic tones for a 1-D signal classifier, and a small loan table.

Both are generated and trained on the spot (about a second each on a 2-core CPU), so the
adversary section can attack a signal model (perturbation read as SNR in dB) and a tabular
model with an immutable feature, per-feature bounds and a one-hot categorical group.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from mathguard.attacks import APGD, PGD
from mathguard.models import wrap
from mathguard.report import Finding, Severity

#: Tone classes: fundamental frequencies in cycles per signal (each tone adds its octave at half amplitude).
FREQS = (3.0, 5.0, 8.0, 12.0)
LENGTH = 128
#: Loan table columns: three mutable amounts, an immutable age, then the one-hot housing group.
LOAN_COLUMNS = ("income", "debt", "savings", "age", "housing=rent", "housing=own", "housing=mortgage")
IMMUTABLE = (3,)
HOUSING = (4, 5, 6)
#: Per-feature bounds of the loan table: amounts within 3 standard deviations, age scaled to [-1, 1].
LOW = (-3.0, -3.0, -3.0, -1.0, 0.0, 0.0, 0.0)
HIGH = (3.0, 3.0, 3.0, 1.0, 1.0, 1.0, 1.0)


def tones(n: int, *, random_state: int = 0, noise: float = 0.3) -> tuple[torch.Tensor, torch.Tensor]:
    """(n, 1, LENGTH) noisy sums of two sinusoids (a class's tone and its octave), random phases and gains."""
    gen = torch.Generator().manual_seed(random_state)
    y = torch.randint(len(FREQS), (n,), generator=gen)
    t = torch.arange(LENGTH) / LENGTH
    f = torch.tensor(FREQS)[y, None]
    phase = torch.rand(n, 2, generator=gen) * 2 * math.pi
    gain = 0.5 + torch.rand(n, 1, generator=gen)
    x = gain * (torch.sin(2 * math.pi * f * t + phase[:, :1]) + 0.5 * torch.sin(4 * math.pi * f * t + phase[:, 1:]))
    x = x + noise * torch.randn(n, LENGTH, generator=gen)
    return x.unsqueeze(1).float(), y


def tone_net() -> nn.Module:
    """A tiny 1-D CNN: two convolutions, global average pooling, one linear layer."""
    return nn.Sequential(nn.Conv1d(1, 8, 9, padding=4), nn.ReLU(), nn.MaxPool1d(4),
                         nn.Conv1d(8, 16, 9, padding=4), nn.ReLU(), nn.AdaptiveAvgPool1d(1), nn.Flatten(),
                         nn.Linear(16, len(FREQS)))


def loans(n: int, *, random_state: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """(n, 7) standardised amounts, age, one-hot housing; approved when a score (housing weighs most) is positive."""
    gen = torch.Generator().manual_seed(random_state)
    amounts = torch.randn(n, 3, generator=gen).clamp(-3, 3)
    age = torch.rand(n, 1, generator=gen) * 2 - 1
    housing = torch.randint(3, (n,), generator=gen)
    onehot = torch.nn.functional.one_hot(housing, 3).float()
    score = (amounts[:, 0] - amounts[:, 1] + 0.5 * amounts[:, 2] + 0.5 * age[:, 0]
             + torch.tensor([-1.5, 1.0, 0.5])[housing] + 0.3 * torch.randn(n, generator=gen))
    return torch.cat([amounts, age, onehot], 1), (score > 0).long()


def loan_net() -> nn.Module:
    return nn.Sequential(nn.Linear(len(LOAN_COLUMNS), 32), nn.ReLU(), nn.Linear(32, 2))


def fit(net: nn.Module, x: torch.Tensor, y: torch.Tensor, *, steps: int = 200, random_state: int = 0) -> nn.Module:
    """Full-batch Adam on cross-entropy; returns the net in eval mode."""
    torch.manual_seed(random_state)
    opt = torch.optim.Adam(net.parameters(), lr=1e-2)
    for _ in range(steps):
        opt.zero_grad()
        nn.functional.cross_entropy(net(x), y).backward()
        opt.step()
    return net.eval()


def signal_finding(quick: bool, random_state: int = 0) -> Finding:
    """The tone CNN under minimal-norm PGD (L2): the smallest perturbations that fool it, as SNR in dB."""
    x, y = tones(256, random_state=random_state)
    clf = wrap(fit(tone_net(), x, y, steps=60 if quick else 120, random_state=random_state), input_shape=(1, LENGTH))
    xt, yt = tones(32 if quick else 100, random_state=random_state + 1)
    search = PGD(norm="l2", mode="minimal", steps=10 if quick else 20)  # largest budget: the loudest signal's norm
    res = search(clf, xt, yt, eps=float(xt.flatten(1).norm(dim=1).max()))
    moved = res.success[0] & (res.norms[0] > 0)
    snr = res.snr_db()[0][moved]
    median = float(snr.median()) if moved.any() else float("nan")
    clean = float((clf.predict(xt) == yt).float().mean())
    return Finding(
        id="adversarial.signal-snr", lens="adversarial", severity=Severity.HIGH if median >= 20 else Severity.MEDIUM,
        title=f"The tone classifier is fooled by perturbations at a median SNR of {median:.1f} dB",
        detail=f"A small 1-D CNN tells {len(FREQS)} noisy tones apart ({clean:.0%} clean accuracy); PGD in L2, "
               f"bisecting the budget per signal, fooled {int(res.success[0].sum())} of {len(xt)} with a "
               f"perturbation {median:.1f} dB quieter than the signal (median; best {float(snr.max()):.1f} dB).",
        evidence={"median_snr_db": median, "max_snr_db": float(snr.max()) if moved.any() else float("nan"),
                  "fooled": int(res.success[0].sum()), "n": len(xt), "clean_accuracy": clean},
        fix="Train with L2 adversarial examples (or noise) at the SNR the deployment must withstand.")


def tabular_finding(quick: bool, random_state: int = 0) -> Finding:
    """APGD-L2 on the loan model with age immutable, per-feature bounds and housing kept one-hot."""
    x, y = loans(1000, random_state=random_state)
    clf = wrap(fit(loan_net(), x, y, steps=150, random_state=random_state), input_shape=(len(LOAN_COLUMNS),))
    xt, yt = loans(200 if quick else 500, random_state=random_state + 1)
    mutable = [i not in IMMUTABLE for i in range(len(LOAN_COLUMNS))]
    eps, steps, cols = 1.5, 20 if quick else 50, list(HOUSING)
    free = APGD(norm="l2", steps=steps)(clf, xt, yt, eps=eps)
    kept = APGD(norm="l2", steps=steps, low=LOW, high=HIGH, mutable=mutable, onehot=[cols])(clf, xt, yt, eps=eps)
    invalid = float((free.adversarial[0][:, cols].sum(1) != 1).float().mean())
    switched = float((kept.adversarial[0][:, cols] != xt[:, cols]).any(1).float().mean())
    acc_free, acc_kept = free.robust_accuracy[eps], kept.robust_accuracy[eps]
    return Finding(
        id="adversarial.tabular-constraints", lens="adversarial", severity=Severity.MEDIUM,
        title=f"Valid loan applications: {acc_kept:.0%} robust at L2 {eps:g} with age fixed and housing one-hot "
              f"(unconstrained: {acc_free:.0%})",
        detail=f"Unconstrained APGD leaves {invalid:.0%} of its adversarial rows with a fractional housing category, "
               f"which no applicant can submit. Constrained, age never changes, amounts stay within their bounds and "
               f"{switched:.0%} of rows switch housing category (a switch costs √2 of the budget).",
        evidence={"eps": eps, "robust_accuracy_constrained": acc_kept, "robust_accuracy_unconstrained": acc_free,
                  "invalid_unconstrained": invalid, "housing_switched": switched, "n": len(xt)},
        fix="Evaluate tabular robustness only on inputs that could really occur: declare immutable features, "
            "bounds and one-hot groups.")
