from __future__ import annotations

import dataclasses

import pytest

from pipeline.domain.classify import ClassThresholds, classify


@pytest.mark.parametrize(
    ("citizen_messages", "agency_output", "expected"),
    [
        (9, 4, "insufficient_data"),  # both below their minimum
        (0, 0, "insufficient_data"),
        (10, 1, "dinner_party"),  # enough citizen messages alone
        (10, 0, "insufficient_data"),  # but an agency that said nothing has no style to judge
        (0, 5, "dinner_party"),  # enough agency output alone
    ],
)
def test_minimum_volume(citizen_messages: int, agency_output: int, expected: str) -> None:
    assert classify(0.5, 0.7, citizen_messages, agency_output) == expected


@pytest.mark.parametrize(
    ("two_way", "reply_rate", "expected"),
    [
        (0.4, 0.6, "dinner_party"),  # both exactly at the dinner thresholds
        (1.0, 1.0, "dinner_party"),
        (0.39, 0.6, "mixed"),  # just below the two-way threshold
        (0.4, 0.59, "mixed"),  # just below the reply-rate threshold
        (0.1, 0.9, "soapbox"),  # two-way exactly at the soapbox maximum
        (0.11, 0.9, "mixed"),
        (0.9, 0.2, "soapbox"),  # reply rate exactly at the soapbox maximum
        (0.9, 0.21, "mixed"),
        (0.0, 0.0, "soapbox"),
        (0.25, 0.4, "mixed"),
    ],
)
def test_boundaries(two_way: float, reply_rate: float, expected: str) -> None:
    assert classify(two_way, reply_rate, 50, 50) == expected


def test_none_two_way_counts_as_zero() -> None:
    assert classify(None, 0.9, 50, 50) == "soapbox"


def test_none_reply_rate_never_dinner_and_not_soapbox_by_itself() -> None:
    assert classify(0.9, None, 50, 50) == "mixed"
    assert classify(0.05, None, 50, 50) == "soapbox"


def test_both_none_is_soapbox_when_volume_is_enough() -> None:
    assert classify(None, None, 50, 1) == "soapbox"
    assert classify(None, None, 50, 0) == "insufficient_data"  # no output: silent, not a soapbox
    assert classify(None, None, 1, 0) == "insufficient_data"


def test_custom_thresholds() -> None:
    strict = ClassThresholds(min_messages=100, min_output=100, dinner_min_two_way=0.8, dinner_min_reply_rate=0.9)
    assert classify(0.5, 0.7, 50, 50, thresholds=strict) == "insufficient_data"
    assert classify(0.5, 0.7, 100, 1, thresholds=strict) == "mixed"
    assert classify(0.8, 0.9, 100, 1, thresholds=strict) == "dinner_party"


def test_thresholds_are_frozen() -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        ClassThresholds().min_messages = 1  # type: ignore[misc]
