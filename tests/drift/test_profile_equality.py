"""README's claim `profile(a) + profile(b) == profile(concatenation)` holds as written (issue #11)."""

import numpy as np
import pandas as pd

from mathguard.drift import profile


def test_merged_profiles_equal_the_profile_of_the_concatenation(frame):
    a, b = frame(700, 1), frame(500, 2, shift=1.0)
    whole = profile(pd.concat([a, b], ignore_index=True))
    assert profile(a) + profile(b) == whole
    assert profile(a) != whole
    assert (profile(a) == 3) is False


def test_profile_equals_itself_with_missing_and_infinite_values():
    x = np.array([[1.0, np.nan], [np.inf, 2.0], [3.0, 4.0]])
    assert profile(x) == profile(x.copy())
