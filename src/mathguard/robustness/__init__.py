"""Robustness as an interval: attacked accuracy from above (evaluate), certified accuracy from below (bracket)."""

from mathguard.robustness.bracket import robustness_bracket
from mathguard.robustness.evaluate import default_attacks, evaluate_robustness

__all__ = ["default_attacks", "evaluate_robustness", "robustness_bracket"]
