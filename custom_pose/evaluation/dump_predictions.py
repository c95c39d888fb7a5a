"""A metric that writes the predictions of an evaluation run to JSON."""
import os.path as osp
from typing import Any, Dict, List, Optional, Sequence

import numpy as np
from mmengine.evaluator import BaseMetric
from mmengine.logging import print_log
from mmpose.registry import METRICS

from custom_pose.utils.atomic_io import write_json_atomic


@METRICS.register_module()
class CustomPoseDumpPredictions(BaseMetric):
    """Write every instance's predicted keypoints to a JSON file.

    One record per instance: ``img_id``, ``img_path``, ``id``,
    ``category_id``, ``bbox`` (xyxy), ``keypoints`` (K x 2, original image
    pixels) and ``keypoint_scores`` (K). Computes no metric. The file is
    written all-or-nothing (a temporary file renamed over it).

    Args:
        out_file (str): Path of the JSON file to write (``.json``).
        collect_device (str): Device for collecting results across ranks.
    """

    default_prefix = 'dump'

    def __init__(self,
                 out_file: str,
                 collect_device: str = 'cpu',
                 prefix: Optional[str] = None) -> None:
        if not str(out_file).endswith('.json'):
            raise ValueError(f'out_file must end with .json, got {out_file!r}')
        super().__init__(collect_device=collect_device, prefix=prefix)
        self.out_file = out_file

    def process(self, data_batch: Any, data_samples: Sequence[dict]) -> None:
        for sample in data_samples:
            pred = sample['pred_instances']
            kpts = np.asarray(pred['keypoints'], dtype=float)
            scores = np.asarray(pred['keypoint_scores'], dtype=float)
            bboxes = pred.get('bboxes')
            for i in range(kpts.shape[0]):
                self.results.append(
                    dict(
                        img_id=sample.get('img_id'),
                        img_path=sample.get('img_path'),
                        id=sample.get('id'),
                        category_id=sample.get('category_id'),
                        bbox=None if bboxes is None else
                        np.asarray(bboxes[i], dtype=float).tolist(),
                        keypoints=kpts[i].tolist(),
                        keypoint_scores=scores[i].tolist()))

    def compute_metrics(self, results: List[dict]) -> Dict[str, float]:
        # all-or-nothing: a failed write leaves no truncated file
        write_json_atomic(self.out_file, _to_builtin(results))
        print_log(
            f'Wrote {len(results)} predictions to {osp.abspath(self.out_file)}',
            logger='current')
        return {}


def _to_builtin(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {k: _to_builtin(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_to_builtin(v) for v in obj]
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    return obj
