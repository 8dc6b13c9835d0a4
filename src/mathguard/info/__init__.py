"""Information lens: the one implementation of entropy, divergences and mutual information."""

from mathguard.info.divergence import cross_entropy, entropy, js, kl, mutual_information, perplexity, psi

__all__ = ["cross_entropy", "entropy", "js", "kl", "mutual_information", "perplexity", "psi"]
