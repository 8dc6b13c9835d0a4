"""Demo section: what can be proved about digits classifiers, and how training changes it."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from mathguard.certify.ibp import ibp
from mathguard.certify.lipschitz import lipschitz
from mathguard.certify.smoothing import max_certifiable_radius, smoothing
from mathguard.defend.loop import batches
from mathguard.defend.training import gaussian_augmentation, ibp_training
from mathguard.demo.context import DemoContext
from mathguard.models import wrap
from mathguard.report import Figure, Finding, Report, Severity, new_axes
from mathguard.robustness.bracket import robustness_bracket


def _mlp(random_state: int) -> nn.Module:
    torch.manual_seed(random_state)
    return nn.Sequential(nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 10))


def demo_section(ctx: DemoContext) -> Report:
    d = ctx.digits
    xtr, ytr = torch.tensor(d.X_train), torch.tensor(d.y_train)
    n_test = 100 if ctx.quick else 300
    xte, yte = torch.tensor(d.X_test[:n_test]), torch.tensor(d.y_test[:n_test])
    eps_linf = [0.0, 0.025, 0.05, 0.1, 0.15]

    report = Report(title="Certified robustness and defenses",
                    summary="Lower bounds that are proved, not estimated: interval bound propagation (L∞), "
                            "Lipschitz margins and randomized smoothing (L2), next to attacked accuracy.")

    # The demo CNN was trained plainly: certificates prove almost nothing for it.
    cnn_lip = lipschitz(ctx.classifier)
    cnn_ibp = ibp(ctx.classifier, torch.tensor(ctx.digits_images[1][:n_test]), yte, eps=0.05).verified_accuracy
    ibp_net = ibp_training(_mlp(ctx.random_state), batches(xtr, ytr), eps=0.1, epochs=10 if ctx.quick else 20, lr=3e-3)
    robust = wrap(ibp_net, input_shape=(64,), bounds=(0.0, 1.0))
    bracket = robustness_bracket(robust, xte, yte, norm="linf", eps=eps_linf)
    bracket.title = "Bracket of the IBP-trained MLP (L∞)"
    report.add_section(bracket)

    sigma = 0.25
    n_draws = 2_000 if ctx.quick else 10_000
    noisy = gaussian_augmentation(_mlp(ctx.random_state + 1), batches(xtr, ytr), sigma=sigma, epochs=10 if ctx.quick else 20)
    n_cert = 40 if ctx.quick else 100
    cert = smoothing(wrap(noisy, input_shape=(64,)), xte[:n_cert], yte[:n_cert], sigma=sigma, n0=100, n=n_draws,
                     alpha=0.001, batch_size=n_draws)
    radii = [0.0, 0.1, 0.25, 0.5, 0.75]
    cert_acc = cert.certified_accuracy(radii)
    ceiling = max_certifiable_radius(sigma, n_draws, alpha=0.001)

    report.metrics.update({
        "cnn_lipschitz_bound": cnn_lip.bound,
        "cnn_ibp_verified_accuracy_eps_0.05": cnn_ibp,
        "ibp_trained_verified_accuracy": bracket.metrics["certified_accuracy"],
        "smoothing_sigma": sigma, "smoothing_n": n_draws, "smoothing_alpha": 0.001,
        "smoothing_certified_accuracy": cert_acc,
        "smoothing_abstain_rate": float(cert.abstained.mean()),
        "smoothing_max_certifiable_radius": ceiling,
    })
    report.add(Finding(
        id="adversarial.plain-model-uncertified", lens="adversarial", severity=Severity.INFO,
        title=f"The plainly trained CNN is IBP-verified on {cnn_ibp:.0%} of points at L∞ eps=0.05",
        detail=f"Its global L2 Lipschitz bound is {cnn_lip.bound:.3g}: products of layer norms are loose for "
               "networks not trained to keep them small, so certificates need certifiable training.",
        evidence={"verified": cnn_ibp, "lipschitz_bound": cnn_lip.bound},
        fix="Train with mathguard.defend.ibp_training or lipschitz_layers when guarantees matter.",
    ))
    report.add(Finding(
        id="adversarial.smoothing-ceiling", lens="adversarial", severity=Severity.INFO,
        title=f"With n={n_draws} draws no radius above {ceiling:.3f} can be certified (σ={sigma}, α=0.001)",
        detail="Even if every noisy draw agrees, the Clopper–Pearson bound caps p̲ at α^(1/n); more draws "
               "raise the ceiling logarithmically. The certificate is for the smoothed classifier.",
        evidence={"n": n_draws, "sigma": sigma, "ceiling": ceiling},
    ))
    accuracy = [cert_acc[r] for r in radii]
    report.figures.append(Figure.later(
        lambda: _draw_certified(radii, accuracy, ceiling, sigma, n_draws),
        "Randomized smoothing: certified accuracy vs radius",
        "Fraction of test points predicted correctly and certified at least that far (Cohen et al. CERTIFY)."))
    return report


def _draw_certified(radii: list[float], accuracy: list[float], ceiling: float, sigma: float, n_draws: int) -> Any:
    fig, ax = new_axes()
    ax.plot(radii, accuracy, "o-", label=f"smoothed MLP, σ={sigma}")
    ax.axvline(ceiling, ls="--", color="gray", label=f"ceiling for n={n_draws}")
    ax.set_xlabel("L2 radius")
    ax.set_ylabel("certified accuracy")
    ax.set_ylim(-0.02, 1.02)
    ax.legend(fontsize=8)
    return fig
