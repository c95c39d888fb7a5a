# Copyright (c) custom_pose contributors. All rights reserved.
"""Checks of the numbers the tracking takes (smoother parameters, a region
of interest, search scales): finite and within bounds, or one
:class:`~custom_pose.errors.InputError` naming the parameter."""
import math
from numbers import Real
from typing import Any, Optional, Sequence, Tuple

import numpy as np

from custom_pose.errors import InputError

__all__ = ['MIN_SEARCH_SCALE', 'check_number', 'check_roi',
           'check_search_scales']

#: The smallest search window, as a fraction of the start box's shorter
#: side: at 0.1 a search of a 16:9 frame tries about 650 windows (twice
#: ``2 / scale`` windows per side, overlapping by half).
MIN_SEARCH_SCALE = 0.1


def check_number(name: str,
                 value: Any,
                 *,
                 minimum: Optional[float] = None,
                 above: Optional[float] = None,
                 maximum: Optional[float] = None,
                 integer: bool = False) -> float:
    """``value`` as a number, checked: finite, and within the bounds given.

    Args:
        name (str): The parameter, for the message (``'beta'``).
        value: The value given.
        minimum (float, optional): ``value >= minimum``.
        above (float, optional): ``value > above``.
        maximum (float, optional): ``value <= maximum``.
        integer (bool): ``value`` must be a whole number.

    Returns:
        float: ``value`` (an ``int`` with ``integer=True``).

    Raises:
        InputError: ``'beta=nan must be a finite number >= 0'``.
    """
    rules = [f'{op} {bound:g}' for op, bound in (
        ('>=', minimum), ('>', above), ('<=', maximum)) if bound is not None]
    kind = 'a whole number' if integer else 'a finite number'
    number = math.nan
    if isinstance(value, (Real, np.number)) and not isinstance(value, bool):
        number = float(value)
    if math.isfinite(number) and (not integer or number.is_integer()) and \
            (minimum is None or number >= minimum) and \
            (above is None or number > above) and \
            (maximum is None or number <= maximum):
        return int(number) if integer else value
    text = f'{number:g}' if isinstance(value, (float, np.floating)) else \
        str(value)
    raise InputError(f'{name}={text} must be {kind}' +
                     (' ' + ' and '.join(rules) if rules else ''))


def check_roi(roi: Sequence[float]) -> Tuple[float, float, float, float]:
    """``roi`` as ``(x1, y1, x2, y2)`` floats, checked: four finite numbers
    (image pixels) with ``0 <= x1 < x2`` and ``0 <= y1 < y2``.

    Raises:
        InputError: Where it is not.
    """
    try:
        values = tuple(float(v) for v in np.asarray(roi, np.float64).ravel())
    except (TypeError, ValueError):
        values = ()
    text = ', '.join(f'{v:g}' for v in values) if values else repr(roi)
    if len(values) != 4 or not all(math.isfinite(v) for v in values):
        raise InputError(f'roi=({text}) must be four finite numbers x1, y1, '
                         'x2, y2 (image pixels)')
    x1, y1, x2, y2 = values
    if not (0 <= x1 < x2 and 0 <= y1 < y2):
        raise InputError(f'roi=({text}): need 0 <= x1 < x2 and 0 <= y1 < y2 '
                         '(top-left corner, then bottom-right corner)')
    return values


def check_search_scales(scales: Sequence[float]) -> Tuple[float, ...]:
    """``scales`` as floats, each checked to lie in [:data:`MIN_SEARCH_SCALE`,
    1].

    Raises:
        InputError: Where one does not.
    """
    values = tuple(float(check_number('search_scales', v)) for v in scales)
    if any(not MIN_SEARCH_SCALE <= v <= 1 for v in values):
        raise InputError(
            'search_scales must lie in (0, 1] (fractions of the start box) '
            f'and be at least {MIN_SEARCH_SCALE:g}, got '
            f'{", ".join(f"{v:g}" for v in values)}')
    return values
