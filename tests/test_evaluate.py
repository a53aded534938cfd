"""`flywheel eval`'s arithmetic: the 95% Wilson interval and what counts as an episode."""
import pytest

from flywheel.collectors.learning.evaluate import EvalError, _tasks, wilson_interval


def test_wilson_interval_matches_known_values_and_is_sane_at_the_edges():
    lo, hi = wilson_interval(8, 10)
    assert (round(lo, 4), round(hi, 4)) == (0.4902, 0.9433)  # textbook value for 8/10
    lo, hi = wilson_interval(0, 100)
    assert lo == 0.0 and 0.03 < hi < 0.04  # a perfect failure still has an upper bound
    lo, hi = wilson_interval(100, 100)
    assert hi == 1.0 and 0.96 < lo < 0.97
    assert wilson_interval(0, 0) == (0.0, 1.0)
    narrow, wide = wilson_interval(80, 100), wilson_interval(8, 10)
    assert narrow[1] - narrow[0] < wide[1] - wide[0]


def test_tasks_come_from_the_option_or_the_policy():
    assert _tasks("reach, pick_place", None) == ["reach", "pick_place"]
    assert _tasks(None, {"task": "reach"}) == ["reach"]
    with pytest.raises(EvalError, match="--task is required"):
        _tasks(None, {"task": None})
    with pytest.raises(EvalError, match="each once"):
        _tasks("reach,reach", None)
