"""Classify an agency's conversation style: soapbox, mixed or dinner party.

The SQL twin, ``class_sql`` in :mod:`pipeline.storage.sql.fragments`, is generated from the same
:class:`ClassThresholds`; a test holds both to the same answers on a grid of inputs.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

__all__ = ["AgencyClass", "ClassThresholds", "classify"]

AgencyClass = Literal["soapbox", "mixed", "dinner_party", "insufficient_data"]


@dataclass(frozen=True, slots=True)
class ClassThresholds:
    """Configurable limits for :func:`classify`.

    Args:
        min_messages: citizen messages needed (default 10) unless ``min_output`` is reached.
        min_output: agency posts + replies needed (default 5) unless ``min_messages`` is reached.
        min_style_output: posts + replies needed in any case (default 1): an agency that said nothing has no
            conversation style to judge (its silence shows in its reply rate), so it is no soapbox.
        soapbox_max_two_way: a two-way ratio at or below this is a soapbox (default 0.1).
        soapbox_max_reply_rate: a known reply rate at or below this is a soapbox (default 0.2).
        dinner_min_two_way: a dinner party needs at least this two-way ratio (default 0.4).
        dinner_min_reply_rate: and at least this reply rate (default 0.6).
    """

    min_messages: int = 10
    min_output: int = 5
    min_style_output: int = 1
    soapbox_max_two_way: float = 0.1
    soapbox_max_reply_rate: float = 0.2
    dinner_min_two_way: float = 0.4
    dinner_min_reply_rate: float = 0.6


def classify(
    two_way_ratio: float | None,
    reply_rate: float | None,
    citizen_messages: int,
    agency_output: int,
    *,
    thresholds: ClassThresholds = ClassThresholds(),
) -> AgencyClass:
    """Class of an agency over a window from its two-way ratio and reply rate.

    ``insufficient_data`` when both volumes are below their minimums, or the agency's output is below
    ``min_style_output`` (by default: it posted and replied nothing); else ``dinner_party`` when both
    ratios reach the dinner thresholds; else ``soapbox`` when the two-way ratio, or a known reply rate, is
    at or below its soapbox threshold; else ``mixed``. A ``None`` ratio counts as 0, except that an unknown
    reply rate alone never makes a soapbox.

    Example: ``classify(0.5, 0.7, 40, 20) == "dinner_party"``.
    """
    if agency_output < thresholds.min_style_output or (
        citizen_messages < thresholds.min_messages and agency_output < thresholds.min_output
    ):
        return "insufficient_data"
    two_way = two_way_ratio or 0.0
    replied = reply_rate or 0.0
    if two_way >= thresholds.dinner_min_two_way and replied >= thresholds.dinner_min_reply_rate:
        return "dinner_party"
    if two_way <= thresholds.soapbox_max_two_way or (
        reply_rate is not None and reply_rate <= thresholds.soapbox_max_reply_rate
    ):
        return "soapbox"
    return "mixed"
