"""White-box and black-box attacks on the Classifier protocol; every one returns an AttackResult."""

from mathguard.attacks.base import Attack
from mathguard.attacks.pgd import FGSM, PGD
from mathguard.attacks.result import AttackResult

__all__ = ["Attack", "AttackResult", "FGSM", "PGD"]
