"""#26: one policy for taking a model. A Classifier as it is, or a raw model with wrap's options; a typo in an
option, or options next to a model already wrapped (which they would silently miss), is an InputError naming it."""

import pytest
import torch
from torch import nn

import mathguard as mg
from mathguard.errors import InputError
from mathguard.models.wrap import MODEL_OPTIONS, as_classifier


def _net() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(4, 3))


def test_a_raw_model_takes_wraps_options_and_a_classifier_passes_through() -> None:
    clf = as_classifier(_net(), input_shape=(4,), bounds=(0, 1))
    assert clf.bounds == (0, 1) and as_classifier(clf) is clf


@pytest.mark.parametrize("call", [
    lambda net, x, y: mg.evaluate_robustness(net, x, y, eps=[0.1], steps=2, input_shap=(4,)),
    lambda net, x, y: mg.robustness_bracket(net, x, y, eps=[0.1], imput_shape=(4,)),
    lambda net, x, y: mg.defend.Ensemble([net, net], input_shape=(4,), bound=(0, 1)),
])
def test_a_typo_in_a_model_option_is_named(call) -> None:
    x = torch.rand(6, 4)
    with pytest.raises(InputError, match="unknown model option"):
        call(_net(), x, torch.zeros(6, dtype=torch.long))


def test_options_next_to_a_wrapped_model_are_refused_not_ignored() -> None:
    clf = mg.wrap(_net(), input_shape=(4,))
    x = torch.rand(6, 4)
    with pytest.raises(InputError, match="already a Classifier: bounds would be ignored"):
        mg.evaluate_robustness(clf, x, clf.predict(x), eps=[0.1], steps=2, bounds=(0, 1))
    assert set(MODEL_OPTIONS) == set(mg.wrap.__kwdefaults__)  # the policy knows exactly wrap's options
