"""A static look at a network's weights: spectra, conditioning and initialisation scale.

Each Linear/Conv weight is read as the matrix (out, in·kernel) that multiplies an
input patch. Its singular values give the spectral norm σ₁ (how much the layer can
stretch a signal), the stable rank ‖W‖_F²/σ₁² (how many directions carry real weight)
and the condition number σ₁/σ_min. The weights' standard deviation is compared with the
two standard initialisations — He, √(2/fan_in), for ReLU nets and Xavier,
√(2/(fan_in+fan_out)), for tanh/sigmoid — because a layer far above both blows signals
up with depth and one far below both lets them die out.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch
from torch import nn

from mathguard.certify.lipschitz import lipschitz
from mathguard.errors import InputError, MathguardError
from mathguard.models.torch_model import check_module
from mathguard.report import Figure, Finding, Report, Severity, new_axes

WEIGHTED = (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d)  # the layers whose weights are watched
TOO_LARGE, TOO_SMALL = 3.0, 0.2  # std relative to He (above) and to Xavier (below) that is flagged


def layer_spectrum(weight: torch.Tensor) -> np.ndarray:
    """Singular values (descending, float64) of a weight read as (out, in·kernel)."""
    return torch.linalg.svdvals(weight.detach().reshape(weight.shape[0], -1).double()).cpu().numpy()


def scale_stats(module: nn.Module) -> dict[str, float]:
    """Fans and weight spread of one layer next to the He and Xavier scales (cheap: no SVD)."""
    w = module.weight.detach()
    fan_out, fan_in = w.shape[0], int(np.prod(w.shape[1:]))
    if isinstance(module, (nn.Conv1d, nn.Conv2d, nn.Conv3d)):
        fan_out = w.shape[0] * int(np.prod(w.shape[2:]))  # PyTorch's convention for conv fan_out
    std = float(w.double().std())
    he, xavier = math.sqrt(2 / fan_in), math.sqrt(2 / (fan_in + fan_out))
    return {"shape": list(w.shape), "fan_in": fan_in, "fan_out": fan_out, "std": std, "he_std": he,
            "xavier_std": xavier, "std_over_he": std / he, "std_over_xavier": std / xavier}


def _layer_stats(module: nn.Module) -> dict[str, float]:
    sv = layer_spectrum(module.weight)
    smallest = float(sv[-1])
    return {**scale_stats(module), "spectral_norm": float(sv[0]), "smallest_singular_value": smallest,
            "stable_rank": float((sv**2).sum()) / float(sv[0]) ** 2 if sv[0] > 0 else 0.0,
            "condition_number": float(sv[0]) / smallest if smallest > 0 else math.inf}


def inspect(model: nn.Module) -> Report:
    """Per-layer singular values, spectral norm, stable rank, condition number and init scale, with findings."""
    check_module(model)
    layers = [(name, m) for name, m in model.named_modules() if isinstance(m, WEIGHTED)]
    if not layers:
        raise InputError("the model has no Linear or Conv layers to inspect")
    layers = [(name or type(m).__name__, m) for name, m in layers]  # a bare layer has the empty name
    stats = {name: _layer_stats(m) for name, m in layers}
    worst = max(stats, key=lambda n: stats[n]["condition_number"])
    bound, why = _lipschitz(model)
    report = Report(title="Weights: spectra, conditioning and initialisation scale",
                    metrics={"layers": stats, "lipschitz_bound": bound},
                    summary=f"{len(stats)} weighted layers; the worst conditioned is {worst!r} "
                            f"(σ₁/σ_min = {stats[worst]['condition_number']:.3g}). " + why)
    for name, s in stats.items():
        finding = init_scale_finding(name, s)
        if finding is not None:
            report.add(finding)
    report.figures.append(_spectrum_figure({name: layer_spectrum(m.weight) for name, m in layers}))
    return report


def _lipschitz(model: nn.Module) -> tuple[float | None, str]:
    """The network's global L2 Lipschitz bound and a sentence saying it, or None and why there is none."""
    try:
        bound = lipschitz(model).bound
    except MathguardError as exc:
        return None, f"No global Lipschitz bound: {str(exc).splitlines()[0]}."
    return bound, f"Its global L2 Lipschitz bound (product of the layers' operator norms) is {bound:.3g}."


def init_scale_finding(name: str, s: dict[str, float]) -> Finding | None:
    """A finding when the weights' spread is far above He's scale or far below Xavier's."""
    if s["std_over_he"] > TOO_LARGE:
        ratio, scheme, effect = s["std_over_he"], "He", ("multiplies the signal's size, so activations and "
                                                         "gradients grow geometrically with depth")
    elif s["std_over_xavier"] < TOO_SMALL:
        ratio, scheme, effect = s["std_over_xavier"], "Xavier", ("shrinks the signal, so activations and "
                                                                 "gradients fade geometrically with depth")
    else:
        return None
    expected = s["he_std"] if scheme == "He" else s["xavier_std"]
    return Finding(
        id="calculus.init-scale", lens="calculus", severity=Severity.MEDIUM,
        title=f"layer {name!r} weights are {ratio:.2g}× the {scheme} scale (std {s['std']:.3g}, {scheme} "
              f"{expected:.3g})",
        detail=f"Each such layer {effect}.",
        evidence={"layer": name, "std": s["std"], "he_std": s["he_std"], "xavier_std": s["xavier_std"],
                  "ratio": ratio, "reference": scheme},
        fix="Initialise with nn.init.kaiming_normal_ (ReLU) or nn.init.xavier_uniform_ (tanh/sigmoid).")


def _spectrum_figure(spectra: dict[str, np.ndarray]) -> Figure:
    return Figure.later(lambda: _draw_spectra(spectra), "Singular value spectra",
                        "Each layer's singular values, largest first (x normalised by the rank); a steep drop "
                        "means few directions carry the layer.")


def _draw_spectra(spectra: dict[str, np.ndarray]) -> Any:
    fig, ax = new_axes(6, 3.4)
    for name, sv in spectra.items():
        ax.plot(np.arange(1, len(sv) + 1) / len(sv), np.clip(sv, 1e-12, None), label=name, lw=1)
    ax.set_yscale("log")
    ax.set_xlabel("singular value index / rank")
    ax.set_ylabel("singular value")
    if len(spectra) <= 10:
        ax.legend(fontsize=6)
    fig.tight_layout()
    return fig
