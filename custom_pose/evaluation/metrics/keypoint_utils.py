"""What the package's top-down keypoint metrics share: collecting a packed
sample's predictions and ground truth, keypoint names, the per-keypoint
text table."""
from typing import Any, Dict, List, Mapping, Optional, Sequence

import numpy as np

__all__ = ['to_numpy', 'topdown_keypoints', 'keypoint_names',
           'format_table']


def to_numpy(x: Any) -> np.ndarray:
    """numpy view of an array or (CPU/GPU) tensor."""
    if hasattr(x, 'detach'):
        x = x.detach().cpu().numpy()
    return np.asarray(x)


def topdown_keypoints(sample: Mapping[str, Any],
                      metric: str) -> Dict[str, np.ndarray]:
    """Predictions and ground truth of one packed top-down sample.

    Args:
        sample (Mapping): A packed data sample (a dict, as the evaluator
            passes them) with ``pred_instances.keypoints`` ``(N, K, 2)``,
            ``gt_instances.keypoints`` ``(N, K, 2)``,
            ``gt_instances.keypoints_visible`` ``(N, K)`` (or ``(N, K, 2)``)
            and ``gt_instances.bboxes`` ``(N, 4)``.
        metric (str): The metric's name, for messages.

    Returns:
        dict: ``pred`` and ``gt`` ``(N, K, 2)`` float64, ``mask`` ``(N, K)``
        bool (visible ground truth), ``bboxes`` ``(N, 4)`` float64 xyxy.

    Raises:
        ValueError: Predictions and ground truth of different shapes.
    """
    pred = to_numpy(sample['pred_instances']['keypoints'])
    gt = sample['gt_instances']
    gt_kpts = to_numpy(gt['keypoints'])
    vis = to_numpy(gt['keypoints_visible'])
    if vis.ndim == 3:  # (N, K, 2): visibility and its weight
        vis = vis[..., 0]
    if pred.shape[:2] != gt_kpts.shape[:2]:
        raise ValueError(
            f'{metric}: sample {sample.get("id")} has predictions of shape '
            f'{pred.shape} but ground truth of shape {gt_kpts.shape} (a '
            'top-down metric: one prediction per ground-truth instance with '
            'the same keypoints)')
    return dict(
        pred=pred[..., :2].astype(np.float64),
        gt=gt_kpts[..., :2].astype(np.float64),
        mask=vis.reshape(gt_kpts.shape[:2]) > 0,
        bboxes=to_numpy(gt['bboxes']).reshape(-1, 4).astype(np.float64))


def keypoint_names(dataset_meta: Optional[Mapping[str, Any]],
                   num_kpts: int) -> List[str]:
    """Names from ``dataset_meta['keypoint_id2name']``, else ``kpt_<i>``."""
    id2name = (dataset_meta or {}).get('keypoint_id2name', {})
    return [str(id2name.get(k, f'kpt_{k}')) for k in range(num_kpts)]


def format_table(title: str, cols: Sequence[str],
                 rows: Sequence[Sequence[str]],
                 footer: Optional[Sequence[str]] = None) -> str:
    """A text table: first column left-aligned, the others right-aligned,
    the footer row (if any) below a rule."""
    widths = [
        max(len(r[c]) for r in list(rows) + [cols] + ([footer] if footer
                                                        else []))
        for c in range(len(cols))
    ]

    def line(r: Sequence[str]) -> str:
        return '| ' + ' | '.join(
            (v.ljust(w) if c == 0 else v.rjust(w))
            for c, (v, w) in enumerate(zip(r, widths))) + ' |'

    sep = '+' + '+'.join('-' * (w + 2) for w in widths) + '+'
    out = [title, sep, line(cols), sep]
    out += [line(r) for r in rows]
    out += [sep, line(footer), sep] if footer else [sep]
    return '\n'.join(out)
