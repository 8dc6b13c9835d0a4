"""Detectors that look at the input itself: reconstruction error, feature squeezing, density."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from mathguard.detect.base import Detector
from mathguard.detect.forward import INPUT, Forward
from mathguard.errors import InputError, UnsupportedError
from mathguard.params import COUNT, Choice, INT_SEED, Int, NON_NEGATIVE, POSITIVE, declare


class Reconstruction(Detector):
    """Mean squared reconstruction error of an autoencoder trained on clean inputs.

    Give your own ``autoencoder`` (an ``nn.Module`` mapping an input batch to a batch of
    the same shape, used as it is), or let ``fit`` train a small one: standardised
    flattened inputs → ``hidden`` units → back, Adam, seeded. Works for tabular and
    image inputs alike.
    """

    name = "reconstruction"
    needs_fit = True

    @declare(hidden=COUNT, epochs=COUNT, lr=POSITIVE, random_state=INT_SEED)
    def __init__(self, clf: Any, autoencoder: nn.Module | None = None, *, hidden: int = 32, epochs: int = 30,
                 lr: float = 3e-3, random_state: int = 0) -> None:
        super().__init__(clf)
        if autoencoder is not None and not isinstance(autoencoder, nn.Module):
            raise InputError("autoencoder must be a torch nn.Module")
        self.autoencoder, self.hidden, self.epochs, self.lr = autoencoder, hidden, epochs, lr
        self.random_state = random_state
        self.layers = frozenset({INPUT})
        self._fitted = autoencoder is not None

    def _fit(self, x: torch.Tensor, y: torch.Tensor | None) -> None:
        if self.autoencoder is not None:
            return  # the user's autoencoder is used as given
        if len(x) < 2:
            raise InputError("fitting the default autoencoder needs at least 2 training inputs")
        flat = x.flatten(1)
        std = flat.std(0)
        # A feature constant in training (a blank border pixel) gets a floor, not a 1/0 weight.
        self._mean, self._std = flat.mean(0), std.clamp_min(0.1 * float(std.mean()) + 1e-12)
        z = (flat - self._mean) / self._std
        gen = torch.Generator().manual_seed(self.random_state)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(self.random_state)
            d = z.shape[1]
            ae = nn.Sequential(nn.Linear(d, self.hidden), nn.ReLU(), nn.Linear(self.hidden, d))
        opt = torch.optim.Adam(ae.parameters(), lr=self.lr)
        with torch.enable_grad():
            for _ in range(self.epochs):
                for idx in torch.randperm(len(z), generator=gen).split(256):
                    opt.zero_grad()
                    F.mse_loss(ae(z[idx]), z[idx]).backward()
                    opt.step()
        self._default = ae.eval()

    def _score_forward(self, out: Forward) -> torch.Tensor:
        if self.autoencoder is not None:
            rec = self.autoencoder(out.x)
            if rec.shape != out.x.shape:
                raise InputError(f"the autoencoder returned shape {tuple(rec.shape)} for {tuple(out.x.shape)}")
            return (rec - out.x).flatten(1).pow(2).mean(1)
        z = (out.features[INPUT] - self._mean) / self._std
        return (self._default(z) - z).pow(2).mean(1)


def _median_filter(x: torch.Tensor, size: int) -> torch.Tensor:
    """size×size median over the last two axes (reflect-padded, lower median for even sizes)."""
    lo, hi = (size - 1) // 2, size // 2
    padded = F.pad(x, (lo, hi, lo, hi), mode="reflect")
    windows = padded.unfold(-2, size, 1).unfold(-2, size, 1)
    return windows.flatten(-2).median(dim=-1).values


class FeatureSqueezing(Detector):
    """Feature squeezing (Xu et al. 2018): how much the prediction moves when the input is coarsened.

    Squeezers: bit-depth reduction to ``bit_depth`` bits over the input bounds, and for
    images (C, H, W) a ``median_size`` × ``median_size`` median filter. Score = the largest
    L1 distance between the softmax of x and of a squeezed x. Squeezing is piecewise
    constant, so the adaptive attack sees it straight-through (BPDA).
    """

    name = "feature-squeezing"
    differentiable = False

    @declare(bit_depth=Int(1, 16), median_size=Int(0))
    def __init__(self, clf: Any, *, bit_depth: int = 4, median_size: int = 2) -> None:
        super().__init__(clf)
        if self.clf.bounds is None:
            raise UnsupportedError("feature squeezing needs input bounds: wrap the model with bounds=(low, high)")
        self.bit_depth, self.median_size = bit_depth, median_size
        self.use_median = median_size >= 2 and len(self.clf.input_shape) == 3 and min(
            self.clf.input_shape[1:]) >= median_size

    def squeezed(self, x: torch.Tensor) -> list[torch.Tensor]:
        lo, hi = self.clf.bounds
        levels = 2 ** self.bit_depth - 1
        out = [lo + torch.round((x - lo) / (hi - lo) * levels) / levels * (hi - lo)]
        if self.use_median:
            out.append(_median_filter(x, self.median_size))
        # Straight-through: the value of the squeezed input, the gradient of the identity.
        return [x + (s - x).detach() for s in out]

    def _score_forward(self, out: Forward) -> torch.Tensor:
        p = torch.softmax(out.logits, dim=-1)
        dists = [(torch.softmax(self.clf.logits(s), dim=-1) - p).abs().sum(1) for s in self.squeezed(out.x)]
        return torch.stack(dists).amax(dim=0)


class GaussianMixture(Detector):
    """Negative log-likelihood under a Gaussian mixture fitted to clean features (tabular density).

    Fitted by scikit-learn (EM, seeded); scored in torch from the fitted means and
    precision Cholesky factors, so it is differentiable and equals ``-score_samples``.
    ``layer`` defaults to the input itself.
    """

    name = "gaussian-mixture"
    needs_fit = True

    @declare(n_components=COUNT, covariance_type=Choice(("full", "diag")), reg_covar=NON_NEGATIVE,
             random_state=INT_SEED)
    def __init__(self, clf: Any, layer: str = INPUT, *, n_components: int = 5, covariance_type: str = "full",
                 reg_covar: float = 1e-6, random_state: int = 0) -> None:
        super().__init__(clf)
        self.layer = self._use_layer(layer)
        self.n_components, self.covariance_type = n_components, covariance_type
        self.reg_covar, self.random_state = reg_covar, random_state

    def _fit(self, x: torch.Tensor, y: torch.Tensor | None) -> None:
        from sklearn.mixture import GaussianMixture as SkGMM

        from mathguard.detect.forward import forward_batches

        f = torch.cat([o.features[self.layer] for o in forward_batches(self.clf, x, self.layer)])
        if len(f) < 2 * self.n_components:
            raise InputError(f"a {self.n_components}-component mixture needs at least {2 * self.n_components} "
                             f"training inputs, got {len(f)}")
        gmm = SkGMM(self.n_components, covariance_type=self.covariance_type, reg_covar=self.reg_covar,
                    random_state=self.random_state).fit(f.double().numpy())
        self.mixture_ = gmm
        chol = gmm.precisions_cholesky_
        if self.covariance_type == "diag":
            chol = np.stack([np.diag(c) for c in chol])
        self._means = torch.from_numpy(gmm.means_)
        self._chol = torch.from_numpy(chol)
        logdet = np.log(np.stack([np.diag(c) for c in chol])).sum(1)
        d = f.shape[1]
        self._const = torch.from_numpy(np.log(gmm.weights_) + logdet - 0.5 * d * math.log(2 * math.pi))

    def _score_forward(self, out: Forward) -> torch.Tensor:
        f = out.features[self.layer].double()
        # ‖(f − μ_k) L_k‖² for each component k, L_k the precision's Cholesky factor.
        z = torch.einsum("nd,kde->nke", f, self._chol) - torch.einsum("kd,kde->ke", self._means, self._chol)
        return -torch.logsumexp(self._const - 0.5 * z.pow(2).sum(-1), dim=1)
