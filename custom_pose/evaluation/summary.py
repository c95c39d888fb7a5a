"""The closing summary of an evaluation: COCO AP, PCK and the error in
pixels side by side, and the pixel error per keypoint."""
import re
from typing import List, Mapping, Tuple

from .metrics.keypoint_utils import format_table

__all__ = ['format_metrics_summary']

#: ``(metric key, column)`` of the overall table, in this order; the
#: ``px/PCK@<t>`` keys follow ``px/rmse``.
_OVERALL: Tuple[Tuple[str, str], ...] = (
    ('coco/AP', 'AP'), ('coco/AR', 'AR'), ('PCK@0.05', 'PCK@0.05'),
    ('PCK@0.1', 'PCK@0.1'), ('PCK@0.2', 'PCK@0.2'), ('EPE', 'EPE(px)'),
    ('px/mean', 'mean(px)'), ('px/rmse', 'RMSE(px)'))
_PX_PCK = re.compile(r'^px/PCK@([0-9.eE+-]+)$')


def _cell(value: float) -> str:
    return '-' if value != value else f'{value:.3f}'  # NaN: '-'


def format_metrics_summary(metrics: Mapping[str, float]) -> str:
    """Text tables of an evaluation's metrics (``Runner.test()``'s dict).

    The first table holds, of ``coco/AP``, ``coco/AR``, ``PCK@0.05/0.1/0.2``,
    ``EPE``, ``px/mean``, ``px/rmse`` and ``px/PCK@<t>``, those present; the
    second (with :class:`~custom_pose.evaluation.CustomPosePixelErrorMetric`'s
    ``px/mean/<name>`` keys) the mean and RMSE pixel error of each keypoint.

    Returns:
        str: The tables, or ``''`` when no such metric is present.
    """
    cols: List[Tuple[str, str]] = [(k, c) for k, c in _OVERALL
                                   if k in metrics]
    cols += [(k, f'px/PCK@{_PX_PCK.match(k).group(1)}') for k in metrics
             if _PX_PCK.match(k)]
    parts = []
    if cols:
        parts.append(
            format_table('Evaluation summary:',
                         ['Keypoints'] + [c for _, c in cols],
                         [['all'] + [_cell(float(metrics[k]))
                                     for k, _ in cols]]))
    names = [k[len('px/mean/'):] for k in metrics if k.startswith('px/mean/')]
    if names:
        rows = [[n, _cell(float(metrics[f'px/mean/{n}'])),
                 _cell(float(metrics.get(f'px/rmse/{n}', float('nan'))))]
                for n in names]
        footer = ['all', _cell(float(metrics.get('px/mean', float('nan')))),
                  _cell(float(metrics.get('px/rmse', float('nan'))))]
        parts.append(
            format_table('Pixel error per keypoint (image pixels):',
                         ['Keypoint', 'mean(px)', 'RMSE(px)'], rows, footer))
    return '\n'.join(parts)
