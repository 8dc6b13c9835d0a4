"""Detector score formulas in torch, so the adaptive attack can differentiate them.

The numpy versions of entropy and mutual information live in ``mathguard.info``;
the tests check that these agree with them (bits throughout).
"""

from __future__ import annotations

import math

import torch

LN2 = math.log(2.0)


def energy(logits: torch.Tensor, temperature: float = 1.0) -> torch.Tensor:
    """Free energy −T·logsumexp(z/T) (Liu et al. 2020): low for in-distribution inputs."""
    return -temperature * torch.logsumexp(logits / temperature, dim=-1)


def max_softmax(logits: torch.Tensor, temperature: float = 1.0) -> torch.Tensor:
    """Largest softmax probability of z/T (Hendrycks & Gimpel 2017)."""
    return torch.softmax(logits / temperature, dim=-1).amax(dim=-1)


def entropy_bits(p: torch.Tensor) -> torch.Tensor:
    """Shannon entropy in bits along the last axis, with 0·log 0 = 0."""
    return -torch.special.xlogy(p, p).sum(dim=-1) / LN2


def predictive_entropy(stack: torch.Tensor) -> torch.Tensor:
    """H(mean_s p_s) of an (S, N, C) stack of probabilities: total uncertainty, bits."""
    return entropy_bits(stack.mean(dim=0))


def mutual_information(stack: torch.Tensor) -> torch.Tensor:
    """I(y; model) = H(mean p) − mean H(p) (BALD): the disagreement between members, bits."""
    return predictive_entropy(stack) - entropy_bits(stack).mean(dim=0)


def min_whitened_distance(f: torch.Tensor, centers: torch.Tensor, whiten: torch.Tensor) -> torch.Tensor:
    """min_c ‖(f − μ_c) W‖² with W Wᵀ = Σ⁻¹: the Mahalanobis distance to the closest class."""
    fw = f.to(whiten.dtype) @ whiten
    # Few centres: the direct difference form is cheap and free of the ‖a‖² + ‖b‖² − 2ab cancellation.
    return (torch.cdist(fw, centers @ whiten, compute_mode="donot_use_mm_for_euclid_dist") ** 2).amin(dim=1)


def kth_neighbour_distance(f: torch.Tensor, bank: torch.Tensor, k: int, chunk: int = 4096) -> torch.Tensor:
    """Distance from each unit-norm row of ``f`` to its k-th nearest unit-norm row of ``bank``.

    For unit vectors ‖a − b‖² = 2 − 2·a·b, so one matrix product and a top-k of the
    similarities replace a distance matrix (no square roots but the k-th).
    """
    best = [(f @ bank[i : i + chunk].T).topk(min(k, len(bank[i : i + chunk])), dim=1).values
            for i in range(0, len(bank), chunk)]
    kth = torch.cat(best, dim=1).topk(k, dim=1).values[:, -1]
    return (2 - 2 * kth).clamp_min(0).sqrt()
