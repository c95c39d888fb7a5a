"""PCK at several bbox-relative thresholds, per keypoint, plus mean EPE."""
import logging
from typing import Any, Dict, List, Optional, Sequence

import numpy as np
from mmengine.evaluator import BaseMetric
from mmengine.logging import print_log

from mmpose.registry import METRICS
from .keypoint_utils import format_table, keypoint_names, topdown_keypoints

__all__ = ['CustomPosePCKMetric']


def _fmt_thr(thr: float) -> str:
    return f'{thr:g}'


@METRICS.register_module()
class CustomPosePCKMetric(BaseMetric):
    """Percentage of Correct Keypoints normalised by the bbox size, and EPE.

    For every ground-truth instance the normaliser is the size of its GT box,
    ``max(w, h)`` of ``gt_instances.bboxes`` (xyxy). A keypoint is correct at
    threshold ``t`` when ``||pred - gt|| / size < t`` (strictly, like
    mmpose's ``keypoint_pck_accuracy``). Distances are measured in the
    original image coordinates: mmpose's top-down models return
    ``pred_instances.keypoints`` in image coordinates, and ``PackPoseInputs``
    packs the untransformed ``keypoints`` / ``bbox`` into ``gt_instances``.

    Only visible joints count (``gt_instances.keypoints_visible > 0``), and
    all of them are pooled: ``PCK@t`` = correct visible joints / visible
    joints over the whole evaluation set, and ``EPE`` = mean Euclidean
    distance in pixels over the same joints. A per-keypoint table (count,
    PCK at each threshold, EPE; names from ``dataset_meta``) is written to
    the ``current`` mmengine logger.

    Returned keys (no default prefix, like mmpose's ``PCKAccuracy``):

        - ``'PCK@<t>'`` for each threshold ``t`` formatted with ``:g``,
          e.g. ``'PCK@0.05'``, ``'PCK@0.1'``, ``'PCK@0.2'``: fraction in
          ``[0, 1]``.
        - ``'EPE'``: mean end-point error in pixels.

    Both are NaN (with a warning) when no visible joint was evaluated.

    Args:
        thresholds (Sequence[float]): PCK thresholds as fractions of the
            bbox size. Defaults to ``(0.05, 0.1, 0.2)``.
        collect_device (str): ``'cpu'`` or ``'gpu'``. Defaults to ``'cpu'``.
        prefix (str, optional): Prefix of the metric names. Defaults to None.
    """
    default_prefix: Optional[str] = None

    def __init__(self,
                 thresholds: Sequence[float] = (0.05, 0.1, 0.2),
                 collect_device: str = 'cpu',
                 prefix: Optional[str] = None) -> None:
        if isinstance(thresholds, (int, float)):
            thresholds = (thresholds, )
        thresholds = tuple(thresholds)
        if not thresholds or not all(
                isinstance(t, (int, float)) and not isinstance(t, bool)
                and t > 0 for t in thresholds):
            raise ValueError('thresholds: expected positive numbers, got '
                             f'{thresholds!r}')
        if len({_fmt_thr(t) for t in thresholds}) != len(thresholds):
            raise ValueError(f'thresholds: repeated values in {thresholds!r}')
        super().__init__(collect_device=collect_device, prefix=prefix)
        self.thresholds = tuple(float(t) for t in thresholds)
        #: Filled by :meth:`compute_metrics`: ``{keypoint name: {'count',
        #: 'PCK@<t>'..., 'EPE'}}`` (NaN where a keypoint was never visible).
        self.per_keypoint_results: Dict[str, Dict[str, float]] = {}

    def process(self, data_batch: Any, data_samples: Sequence[dict]) -> None:
        """Collect ``(pred, gt, mask, size)`` of each sample's instances.

        Args:
            data_batch: Unused.
            data_samples (Sequence[dict]): Packed data samples (dicts, as the
                evaluator passes them) with ``pred_instances.keypoints``
                ``(N, K, 2)``, ``gt_instances.keypoints`` ``(N, K, 2)``,
                ``gt_instances.keypoints_visible`` ``(N, K)`` and
                ``gt_instances.bboxes`` ``(N, 4)``.
        """
        for sample in data_samples:
            res = topdown_keypoints(sample, self.__class__.__name__)
            bboxes = res.pop('bboxes')
            wh = bboxes[:, 2:4] - bboxes[:, 0:2]
            # one result per sample: the evaluator counts results per sample
            self.results.append(dict(res, size=wh.max(axis=1)))

    def compute_metrics(self, results: List[dict]) -> Dict[str, float]:
        """PCK at each threshold and EPE over all visible joints.

        Returns:
            dict: ``{'PCK@<t>': float, ..., 'EPE': float}``.
        """
        keys = [f'PCK@{_fmt_thr(t)}' for t in self.thresholds]
        if not results:
            print_log(f'{self.__class__.__name__}: no samples to evaluate',
                      logger='current', level=logging.WARNING)
            return {**{k: float('nan') for k in keys}, 'EPE': float('nan')}
        # M instances in all
        pred = np.concatenate([r['pred'] for r in results])  # (M, K, 2)
        gt = np.concatenate([r['gt'] for r in results])  # (M, K, 2)
        mask = np.concatenate([r['mask'] for r in results])  # (M, K)
        size = np.concatenate([r['size'] for r in results])  # (M,)
        bad = size <= 0
        if bad.any():
            print_log(
                f'{self.__class__.__name__}: {int(bad.sum())} instance(s) '
                'with an empty ground-truth box are left out',
                logger='current',
                level=logging.WARNING)
            mask = mask & ~bad[:, None]
        dist = np.linalg.norm(pred - gt, axis=-1)  # (M, K) pixels
        norm = dist / np.where(bad, 1.0, size)[:, None]

        counts = mask.sum(axis=0)  # (K,)
        total = int(counts.sum())
        metrics: Dict[str, float] = {}
        per_kpt: Dict[str, np.ndarray] = {}
        for key, thr in zip(keys, self.thresholds):
            correct = (norm < thr) & mask
            metrics[key] = (float(correct.sum()) / total if total else
                            float('nan'))
            with np.errstate(invalid='ignore', divide='ignore'):
                per_kpt[key] = correct.sum(axis=0) / counts
        metrics['EPE'] = float(dist[mask].mean()) if total else float('nan')
        with np.errstate(invalid='ignore', divide='ignore'):
            per_kpt['EPE'] = np.where(mask, dist, 0.0).sum(axis=0) / counts
        if not total:
            print_log(f'{self.__class__.__name__}: no visible ground-truth '
                      'keypoint to evaluate', logger='current',
                      level=logging.WARNING)

        names = self._keypoint_names(len(counts))
        self.per_keypoint_results = {
            name: {
                'count': int(counts[k]),
                **{key: float(per_kpt[key][k])
                   for key in keys + ['EPE']}
            }
            for k, name in enumerate(names)
        }
        print_log(
            self._table(keys, counts, per_kpt, metrics, total),
            logger='current')
        return metrics

    def _keypoint_names(self, num_kpts: int) -> List[str]:
        return keypoint_names(self.dataset_meta, num_kpts)

    def _table(self, keys: List[str], counts: np.ndarray,
               per_kpt: Dict[str, np.ndarray], metrics: Dict[str, float],
               total: int) -> str:
        """Per-keypoint results as a text table."""
        num_kpts = len(counts)
        names = self._keypoint_names(num_kpts)
        cols = ['Keypoint', 'Count'] + keys + ['EPE(px)']

        def cell(v: float, pct: bool) -> str:
            if np.isnan(v):
                return '-'
            return f'{100 * v:.2f}' if pct else f'{v:.2f}'

        rows = []
        for k in range(num_kpts):
            rows.append([names[k], str(int(counts[k]))] +
                        [cell(per_kpt[key][k], True) for key in keys] +
                        [cell(per_kpt['EPE'][k], False)])
        footer = (['all', str(total)] +
                  [cell(metrics[key], True) for key in keys] +
                  [cell(metrics['EPE'], False)])
        return format_table(
            f'{self.__class__.__name__} (PCK in %, normalised by the GT bbox '
            'size max(w, h); visible joints only):', cols, rows, footer)
