"""Randomized smoothing (Cohen, Rosenfeld & Kolter, 2019): CERTIFY and PREDICT.

The smoothed classifier g(x) = argmax_c P(f(x + δ) = c), δ ~ N(0, σ²I), is provably
constant inside an L2 ball of radius σ·Φ⁻¹(p̲_A), where p̲_A is a lower confidence
bound on the top-class probability. The certificate is about g, not the base model f.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Iterator, Sequence

import numpy as np
import torch
from scipy.stats import beta, binomtest, norm

from mathguard.errors import InputError
from mathguard.attacks.base import point_ids
from mathguard.report import Figure, Finding, Report, Severity, new_axes
from mathguard.models.base import ABSTAIN, Classifier
from mathguard.models.torch_model import eval_mode
from mathguard.models.wrap import as_classifier
from mathguard.partitioned import check_client, run_shards
from mathguard.params import COUNT, Int, OPEN_UNIT, POSITIVE, SEED, declare

#: Most Gaussian draws per input: counts are streamed, but 10⁹ draws already take hours on any model.
MAX_DRAWS = 10**9
#: Most bytes one noise batch may take (batch_size × input size × 4): larger batches are refused, not swapped.
MAX_BATCH_BYTES = 2 * 1024**3


def _check_noise_memory(batch_size: int, input_size: int) -> None:
    """Refuse a noise batch that cannot be afforded (the declarations check sigma, alpha, n, n0 and batch_size)."""
    if batch_size * input_size * 4 > MAX_BATCH_BYTES:
        raise InputError(f"batch_size={batch_size} of inputs with {input_size} values needs "
                         f"{batch_size * input_size * 4 / 1024**3:.1f} GiB of noise; lower batch_size")


@declare(alpha=OPEN_UNIT)
def lower_confidence_bound(k: "np.ndarray | int", n: int, *, alpha: float) -> np.ndarray:
    """One-sided (1 - alpha) Clopper–Pearson lower bound on a binomial proportion k/n."""
    k = np.asarray(k, dtype=float)
    with np.errstate(invalid="ignore"):
        lb = beta.ppf(alpha, k, n - k + 1)
    return np.where(k > 0, lb, 0.0)


@declare(sigma=POSITIVE, n=Int(1, MAX_DRAWS), alpha=OPEN_UNIT)
def max_certifiable_radius(sigma: float, n: int, *, alpha: float) -> float:
    """Largest radius any point can get with n draws: all n agree, p̲ = α^(1/n)."""
    return float(sigma * norm.ppf(alpha ** (1.0 / n)))


@torch.inference_mode()
def _labels_in_batches(clf: Classifier, x: torch.Tensor, sigma: float, num: int, batch_size: int,
                       generator: torch.Generator | None) -> Iterator[torch.Tensor]:
    """Base-classifier labels of `num` fresh Gaussian draws around one input, one full batch at a time."""
    # One buffer reused for every batch: noise is drawn, scaled and shifted in place.
    buf = torch.empty((min(batch_size, num), *x.shape), dtype=x.dtype)
    for start in range(0, num, batch_size):
        noisy = buf[: min(batch_size, num - start)]
        torch.randn(noisy.shape, generator=generator, out=noisy)
        noisy.mul_(sigma).add_(x)
        yield clf.logits(noisy).argmax(dim=-1).cpu()


def sample_counts(clf: Classifier, x: torch.Tensor, sigma: float, num: int, batch_size: int,
                  generator: torch.Generator | None = None, *, split: int = 0) -> torch.Tensor:
    """Class counts of the base classifier under `num` fresh Gaussian draws around one input.

    With ``split`` > 0 it returns two rows: counts of the first ``split`` draws and of the rest
    (independent noise, so CERTIFY's selection and estimation samples share forward batches).
    Memory stays one batch whatever `num` is.
    """
    counts = torch.zeros(2, clf.n_classes, dtype=torch.long)
    seen = 0
    for labels in _labels_in_batches(clf, x, sigma, num, batch_size, generator):
        head = labels[: max(0, split - seen)]
        counts[0] += torch.bincount(head, minlength=clf.n_classes)
        counts[1] += torch.bincount(labels[len(head):], minlength=clf.n_classes)
        seen += len(labels)
    return counts if split else counts[1]


@dataclass
class SmoothingCertificate:
    """Per-input outcome of CERTIFY: predicted class (or -1 = abstain) and certified L2 radius."""

    predictions: np.ndarray
    radius: np.ndarray
    p_lower: np.ndarray
    labels: np.ndarray | None
    sigma: float
    n0: int
    n: int
    alpha: float

    @property
    def abstained(self) -> np.ndarray:
        return self.predictions == ABSTAIN

    @property
    def max_radius(self) -> float:
        """The radius ceiling set by n and α alone (see :func:`max_certifiable_radius`)."""
        return max_certifiable_radius(self.sigma, self.n, alpha=self.alpha)

    def certified_accuracy(self, radii: Sequence[float]) -> dict[float, float]:
        """radius → fraction of inputs predicted correctly *and* certified at least that far."""
        if self.labels is None:
            raise InputError("certified accuracy needs the true labels: pass y to smoothing()")
        correct = (self.predictions == self.labels) & ~self.abstained
        return {float(r): float(np.mean(correct & (self.radius >= r))) for r in radii}

    def report(self, radii: Sequence[float] = (0.0, 0.25, 0.5, 0.75, 1.0)) -> Report:
        """Certified accuracy per radius (needs labels), abstentions, and what limits the certificates."""
        abstain = float(self.abstained.mean()) if len(self.radius) else 0.0
        metrics: dict[str, Any] = {
            "sigma": self.sigma, "n0": self.n0, "n": self.n, "alpha": self.alpha, "abstain_rate": abstain,
            "median_radius": float(np.sort(self.radius)[len(self.radius) // 2]) if len(self.radius) else 0.0,
            "max_certifiable_radius": self.max_radius, "samples": len(self.radius)}
        if self.labels is not None:
            metrics["certified_accuracy"] = self.certified_accuracy(radii)
        report = Report(
            title="Randomized smoothing certificate",
            summary=f"Certified L2 robustness of the Gaussian-smoothed classifier (σ={self.sigma}, n0={self.n0}, "
                    f"n={self.n}, α={self.alpha}); each radius holds with probability ≥ 1 − α.",
            metrics=metrics)
        if abstain > 0.2:
            report.add(Finding(
                id="adversarial.smoothing-abstains", lens="adversarial", severity=Severity.MEDIUM,
                title=f"The smoothed classifier abstains on {abstain:.0%} of inputs",
                detail="Under σ-noise the base model's top class wins less than half the draws (with confidence), "
                       "so nothing can be certified there.",
                evidence={"abstain_rate": abstain, "sigma": self.sigma},
                fix="Train the base model with Gaussian augmentation at the same σ "
                    "(mathguard.defend.gaussian_augmentation), or lower σ."))
        if radii and max(radii) > self.max_radius:
            report.add(Finding(
                id="adversarial.smoothing-ceiling", lens="adversarial", severity=Severity.INFO,
                title=f"Radii above {self.max_radius:.3f} cannot be certified with n={self.n}",
                detail="Even unanimous draws bound p̲ by α^(1/n); the ceiling grows only with log n.",
                evidence={"ceiling": self.max_radius, "n": self.n},
                fix="Increase n to certify larger radii."))
        if self.labels is not None and len(self.radius):
            report.figures.append(self._curve())
        return report

    def _curve(self) -> Figure:
        """Certified accuracy as a step function of the radius, up to the ceiling n and α allow."""
        correct = np.sort(self.radius[(self.predictions == self.labels) & ~self.abstained])
        n = len(self.radius)

        def draw() -> Any:
            fig, ax = new_axes()
            top = max(self.max_radius, float(correct.max()) if len(correct) else 0.0)
            grid = np.linspace(0.0, top * 1.05 if top > 0 else 1.0, 200)
            ax.step(grid, [(correct >= r).sum() / n for r in grid], where="post", color="tab:blue",
                    label="certified accuracy (holds with prob. ≥ 1 − α each)")
            ax.axvline(self.max_radius, color="grey", ls="--", lw=1, label=f"ceiling for n={self.n}")
            ax.set_xlabel("L2 radius")
            ax.set_ylabel("certified accuracy")
            ax.set_ylim(-0.02, 1.02)
            ax.legend(fontsize=8)
            return fig

        return Figure.later(draw, "Certified accuracy vs radius",
                            f"Fraction of the {n} inputs predicted correctly and certified at least that far "
                            f"(σ={self.sigma}).")


@declare(sigma=POSITIVE, n0=Int(1, MAX_DRAWS), n=Int(1, MAX_DRAWS), alpha=OPEN_UNIT, batch_size=COUNT,
         random_state=SEED, shard_size=COUNT)
def smoothing(clf: Any, x: Any, y: Any = None, *, sigma: float = 0.25, n0: int = 100, n: int = 100_000,
              alpha: float = 0.001, batch_size: int = 1000, random_state: int | None = 0, client: Any = None,
              shard_size: int = 16, ids: Any = None) -> SmoothingCertificate:
    """CERTIFY each input: guess the top class from n0 draws, bound its probability from n fresh draws.

    Abstains (prediction -1, radius 0) when the lower bound p̲_A is not above ½. Input i draws its
    noise from its own generator, seeded from (random_state, its id): ``ids`` names the points
    (default 0..n-1, as for the attacks), so a certificate depends on the point, its id and the seed
    only, never on the batch around it or the order of the rows. With a ``dask.distributed.Client`` the inputs go
    to the workers in tasks of ``shard_size`` points (the model scattered once) and the result
    is identical to the single-process one, whatever the split or a retried task.
    """
    check_client(client)
    clf = as_classifier(clf)
    _check_noise_memory(batch_size, math.prod(clf.input_shape))
    xt = clf.as_input(x)
    labels = None if y is None else clf.as_labels(y, len(xt)).numpy()
    entropy = np.random.SeedSequence(random_state).entropy  # None: fresh entropy, drawn once for every task
    size = max(len(xt), 1) if client is None else shard_size
    parts = run_shards(client, _certify_points, clf, (xt, point_ids(ids, len(xt))), size,
                       sigma, n0, n, alpha, batch_size, entropy)
    preds, radius, p_low = (np.concatenate([p[k] for p in parts]) if parts else np.zeros(0) for k in range(3))
    return SmoothingCertificate(preds.astype(int), radius, p_low, labels, sigma, n0, n, alpha)


def point_generator(entropy: int, index: int) -> torch.Generator:
    """The noise generator of input ``index``: independent streams per point, fixed by (entropy, index)."""
    state = np.random.SeedSequence(entropy, spawn_key=(int(index),)).generate_state(1, np.uint64)[0]
    return torch.Generator().manual_seed(int(state))


def _certify_points(clf: Classifier, x: torch.Tensor, index: torch.Tensor, sigma: float, n0: int, n: int,
                    alpha: float, batch_size: int, entropy: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """CERTIFY one shard: predictions, radii and lower bounds of inputs ``x`` (global positions ``index``)."""
    preds = np.full(len(x), ABSTAIN)
    radius = np.zeros(len(x))
    p_low = np.zeros(len(x))
    # Eval mode: a train-mode batch norm would couple the draws of a batch and void Clopper–Pearson.
    with eval_mode(clf):
        for i in range(len(x)):
            gen = point_generator(entropy, int(index[i]))
            select, estimate = sample_counts(clf, x[i], sigma, n0 + n, batch_size, gen, split=n0)
            c_a = int(select.argmax())
            p_low[i] = lower_confidence_bound(int(estimate[c_a]), n, alpha=alpha)
            if p_low[i] > 0.5:
                preds[i] = c_a
                radius[i] = sigma * norm.ppf(p_low[i])
    return preds, radius, p_low


@declare(sigma=POSITIVE, n=Int(1, MAX_DRAWS), alpha=OPEN_UNIT, batch_size=COUNT, random_state=SEED)
def smoothed_predict(clf: Any, x: Any, *, sigma: float = 0.25, n: int = 1000, alpha: float = 0.001,
                     batch_size: int = 1000, random_state: int | None = 0) -> np.ndarray:
    """PREDICT: the top class if a two-sided binomial test separates it from the runner-up at level α, else -1."""
    clf = as_classifier(clf)
    _check_noise_memory(batch_size, math.prod(clf.input_shape))
    xt = clf.as_input(x)
    gen = torch.Generator().manual_seed(random_state) if random_state is not None else None
    out = np.full(len(xt), ABSTAIN)
    with eval_mode(clf):
        out[:] = [_predict_one(clf, xt[i], sigma, n, alpha, batch_size, gen) for i in range(len(xt))]
    return out


def _predict_one(clf: Classifier, x: torch.Tensor, sigma: float, n: int, alpha: float, batch_size: int,
                 gen: torch.Generator | None) -> int:
    """The top class when a binomial test separates it from the runner-up at level α, else ABSTAIN."""
    top2 = torch.topk(sample_counts(clf, x, sigma, n, batch_size, gen), 2)  # every classifier has ≥ 2 classes
    n_a, n_b = int(top2.values[0]), int(top2.values[1])
    return int(top2.indices[0]) if binomtest(n_a, n_a + n_b, 0.5).pvalue <= alpha else ABSTAIN
