"""One call that certifies a model by randomized smoothing and reports it (what `mathguard certify` runs)."""

from __future__ import annotations

from typing import Any, Sequence

from mathguard.certify.smoothing import smoothing
from mathguard.report import Finding, Report, Severity


def certify_report(clf: Any, x: Any, y: Any, *, sigma: float = 0.25, n0: int = 100, n: int = 100_000,
                   alpha: float = 0.001, radii: Sequence[float] = (0.0, 0.25, 0.5, 0.75, 1.0),
                   batch_size: int = 1000, client: Any = None) -> Report:
    """Smoothing certificates for every input, certified accuracy per radius, and what limits them.

    ``client``: a dask.distributed Client to shard the inputs over (same certificates).
    """
    cert = smoothing(clf, x, y, sigma=sigma, n0=n0, n=n, alpha=alpha, batch_size=batch_size, client=client)
    acc = cert.certified_accuracy(radii)
    abstain = float(cert.abstained.mean())
    report = Report(
        title="Randomized smoothing certificate",
        summary=f"Certified L2 robustness of the Gaussian-smoothed classifier (σ={sigma}, n0={n0}, n={n}, "
                f"α={alpha}); each radius holds with probability ≥ 1 − α.",
        metrics={"sigma": sigma, "n0": n0, "n": n, "alpha": alpha, "certified_accuracy": acc,
                 "abstain_rate": abstain, "median_radius": float(sorted(cert.radius)[len(cert.radius) // 2]),
                 "max_certifiable_radius": cert.max_radius, "samples": len(cert.radius)},
    )
    if abstain > 0.2:
        report.add(Finding(
            id="adversarial.smoothing-abstains", lens="adversarial", severity=Severity.MEDIUM,
            title=f"The smoothed classifier abstains on {abstain:.0%} of inputs",
            detail="Under σ-noise the base model's top class wins less than half the draws (with confidence), "
                   "so nothing can be certified there.",
            evidence={"abstain_rate": abstain, "sigma": sigma},
            fix="Train the base model with Gaussian augmentation at the same σ "
                "(mathguard.defend.gaussian_augmentation), or lower σ.",
        ))
    top = max(radii)
    if top > cert.max_radius:
        report.add(Finding(
            id="adversarial.smoothing-ceiling", lens="adversarial", severity=Severity.INFO,
            title=f"Radii above {cert.max_radius:.3f} cannot be certified with n={n}",
            detail="Even unanimous draws bound p̲ by α^(1/n); the ceiling grows only with log n.",
            evidence={"ceiling": cert.max_radius, "n": n},
            fix="Increase n to certify larger radii.",
        ))
    return report
