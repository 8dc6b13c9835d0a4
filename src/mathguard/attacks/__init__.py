"""White-box and black-box attacks on the Classifier protocol; every one returns an AttackResult."""

from mathguard.attacks.apgd import APGD
from mathguard.attacks.base import Attack
from mathguard.attacks.blackbox import ZeroOrderPGD, estimate_gradient
from mathguard.attacks.cw import CW
from mathguard.attacks.deepfool import DeepFool
from mathguard.attacks.eot import EOT, RandomTransform
from mathguard.attacks.hopskipjump import HopSkipJump
from mathguard.attacks.linear import classifier_minimal_perturbation, minimal_perturbation
from mathguard.attacks.pgd import FGSM, PGD
from mathguard.attacks.result import AttackResult
from mathguard.attacks.square import Square
from mathguard.attacks.transfer import TransferResult, transfer

__all__ = ["APGD", "Attack", "AttackResult", "CW", "DeepFool", "EOT", "FGSM", "HopSkipJump", "PGD", "RandomTransform", "Square", "ZeroOrderPGD",
           "TransferResult", "classifier_minimal_perturbation", "estimate_gradient", "minimal_perturbation", "transfer"]
