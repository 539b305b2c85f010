"""An agency that said nothing in a window is ``insufficient_data``, never a soapbox (issue 8, item 3)."""

from __future__ import annotations

import pytest

from pipeline.domain.classify import ClassThresholds, classify
from pipeline.storage.sql.fragments import class_sql, float_sql


@pytest.mark.parametrize("citizen_messages", [0, 9, 10, 500])
def test_no_post_and_no_reply_is_insufficient_data(citizen_messages: int) -> None:
    # Its silence shows in its reply rate; a soapbox is an agency that broadcasts.
    assert classify(None, 0.0, citizen_messages, 0) == "insufficient_data"
    assert classify(None, None, citizen_messages, 0) == "insufficient_data"


def test_one_post_is_enough_to_be_judged_with_enough_messages() -> None:
    assert classify(0.0, 0.0, 50, 1) == "soapbox"


def test_the_minimum_output_for_a_style_is_a_threshold_and_its_sql_twin_uses_it() -> None:
    strict = ClassThresholds(min_style_output=3)
    assert classify(0.0, 0.0, 50, 2, thresholds=strict) == "insufficient_data"
    assert classify(0.0, 0.0, 50, 3, thresholds=strict) == "soapbox"
    assert f"(out) < {float_sql(3)}" in class_sql(strict, output="out")
