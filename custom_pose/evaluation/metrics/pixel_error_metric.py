"""Keypoint error in image pixels: DeepLabCut's train/test error, RMSE and
PCK at absolute pixel thresholds."""
import logging
from typing import Any, Dict, List, Optional, Sequence

import numpy as np
from mmengine.evaluator import BaseMetric
from mmengine.logging import print_log

from mmpose.registry import METRICS
from .keypoint_utils import format_table, keypoint_names, topdown_keypoints

__all__ = ['CustomPosePixelErrorMetric']


@METRICS.register_module()
class CustomPosePixelErrorMetric(BaseMetric):
    """Distance between predicted and labelled keypoints in image pixels.

    For every visible ground-truth keypoint (``keypoints_visible > 0``) the
    error is the Euclidean distance ``d`` between prediction and label in
    the original image (mmpose's top-down models return
    ``pred_instances.keypoints`` in image coordinates). Over all of them:

    - ``px/mean``: mean of ``d``. This is DeepLabCut's "train / test error
      (px)" (which DeepLabCut's code calls RMSE).
    - ``px/rmse``: root of the mean of ``d**2`` (the root-mean-square
      distance; at least ``px/mean``, and more so when a few keypoints are
      far off).
    - ``px/PCK@<t>``: fraction of keypoints with ``d < t`` pixels, for each
      threshold ``t`` (strictly below, like mmpose's PCK).
    - with ``per_keypoint=True`` also ``px/mean/<name>`` and
      ``px/rmse/<name>`` per keypoint (names from the dataset's metainfo).

    Keypoints are pooled over instances (each labelled keypoint counts once).
    A per-keypoint table (count, mean, RMSE, PCK at each threshold) goes to
    the ``current`` logger; :attr:`per_keypoint_results` keeps it. Values are
    NaN (with a warning) when no visible keypoint was evaluated; a keypoint
    never visible has NaN entries.

    Args:
        thresholds (Sequence[float]): PCK thresholds in pixels. Defaults to
            ``(5, 10)``.
        per_keypoint (bool): Return the per-keypoint mean and RMSE too.
            Defaults to True.
        collect_device (str): ``'cpu'`` or ``'gpu'``. Defaults to ``'cpu'``.
        prefix (str, optional): Prefix of the metric names. Defaults to
            ``'px'``.
    """
    default_prefix: Optional[str] = 'px'

    def __init__(self,
                 thresholds: Sequence[float] = (5, 10),
                 per_keypoint: bool = True,
                 collect_device: str = 'cpu',
                 prefix: Optional[str] = None) -> None:
        if isinstance(thresholds, (int, float)):
            thresholds = (thresholds, )
        thresholds = tuple(thresholds)
        if not all(
                isinstance(t, (int, float)) and not isinstance(t, bool)
                and t > 0 for t in thresholds):
            raise ValueError('thresholds: expected positive numbers of '
                             f'pixels, got {thresholds!r}')
        if len({f'{t:g}' for t in thresholds}) != len(thresholds):
            raise ValueError(f'thresholds: repeated values in {thresholds!r}')
        super().__init__(collect_device=collect_device, prefix=prefix)
        self.thresholds = tuple(float(t) for t in thresholds)
        self.per_keypoint = bool(per_keypoint)
        #: Filled by :meth:`compute_metrics`: ``{keypoint name: {'count',
        #: 'mean', 'rmse', 'PCK@<t>'...}}``.
        self.per_keypoint_results: Dict[str, Dict[str, float]] = {}

    def process(self, data_batch: Any, data_samples: Sequence[dict]) -> None:
        """Collect the pixel distances and visibility of each sample."""
        for sample in data_samples:
            res = topdown_keypoints(sample, self.__class__.__name__)
            self.results.append(
                dict(
                    dist=np.linalg.norm(res['pred'] - res['gt'], axis=-1),
                    mask=res['mask']))

    def compute_metrics(self, results: List[dict]) -> Dict[str, float]:
        """Pooled and per-keypoint errors (keys without the ``px/``
        prefix, which the evaluator adds)."""
        pck_keys = [f'PCK@{t:g}' for t in self.thresholds]
        nan = float('nan')
        if not results:
            print_log(f'{self.__class__.__name__}: no samples to evaluate',
                      logger='current', level=logging.WARNING)
            return {'mean': nan, 'rmse': nan, **{k: nan for k in pck_keys}}
        dist = np.concatenate([r['dist'] for r in results])  # (M, K)
        mask = np.concatenate([r['mask'] for r in results])  # (M, K)
        names = keypoint_names(self.dataset_meta, dist.shape[1])

        def summary(d: np.ndarray) -> Dict[str, float]:
            if not len(d):
                return {'mean': nan, 'rmse': nan, **{k: nan
                                                      for k in pck_keys}}
            return {
                'mean': float(d.mean()),
                'rmse': float(np.sqrt((d**2).mean())),
                **{k: float((d < t).mean())
                   for k, t in zip(pck_keys, self.thresholds)}
            }

        overall = summary(dist[mask])
        if not mask.any():
            print_log(f'{self.__class__.__name__}: no visible ground-truth '
                      'keypoint to evaluate', logger='current',
                      level=logging.WARNING)
        self.per_keypoint_results = {
            name: {'count': int(mask[:, k].sum()),
                   **summary(dist[mask[:, k], k])}
            for k, name in enumerate(names)
        }
        metrics = dict(overall)
        if self.per_keypoint:
            for name, res in self.per_keypoint_results.items():
                metrics[f'mean/{name}'] = res['mean']
                metrics[f'rmse/{name}'] = res['rmse']

        def cell(v: float, pct: bool = False) -> str:
            return '-' if np.isnan(v) else (f'{100 * v:.1f}'
                                            if pct else f'{v:.2f}')

        cols = ['Keypoint', 'Count', 'mean(px)', 'RMSE(px)'] + [
            f'{k}(%)' for k in pck_keys
        ]
        rows = [[name, str(r['count']), cell(r['mean']), cell(r['rmse'])] +
                [cell(r[k], True) for k in pck_keys]
                for name, r in self.per_keypoint_results.items()]
        footer = ['all', str(int(mask.sum())), cell(overall['mean']),
                  cell(overall['rmse'])] + [cell(overall[k], True)
                                            for k in pck_keys]
        print_log(
            format_table(
                f'{self.__class__.__name__} (errors in image pixels; '
                'visible keypoints only):', cols, rows, footer),
            logger='current')
        return metrics
