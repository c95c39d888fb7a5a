# Copyright (c) custom_pose contributors. All rights reserved.
"""mmpose's heatmap PCK accuracy (the ``acc_pose`` heads log in training)
computed on the heatmaps' device, without a copy to the host."""
import torch
from torch import Tensor


def heatmap_argmax(heatmaps: Tensor) -> Tensor:
    """Locations (x, y) of the maxima of (N, K, H, W) heatmaps as (N, K, 2)
    float32, -1 where the maximum is <= 0 (mmpose's
    ``get_heatmap_maximum``; the first maximum wins ties, as numpy's
    ``argmax``)."""
    n, k, _, w = heatmaps.shape
    flat = heatmaps.reshape(n, k, -1)
    index = flat.argmax(dim=-1)
    value = flat.gather(-1, index[..., None])[..., 0]
    locs = torch.stack([index % w, torch.div(index, w, rounding_mode='floor')],
                       dim=-1).to(torch.float32)
    return torch.where((value > 0)[..., None], locs, -1.0)


def heatmap_pck_accuracy(output: Tensor,
                         target: Tensor,
                         mask: Tensor,
                         thr: float = 0.05) -> Tensor:
    """mmpose's ``pose_pck_accuracy(output, target, mask, thr)[1]`` on the
    device.

    The maxima of predicted and target heatmaps are compared; their distance
    divided by the heatmap size (``[H, W]`` applied to ``(x, y)``, as mmpose
    does) is a hit below ``thr``. Each keypoint's accuracy is its hit rate
    over the samples where ``mask`` is set; the result is the mean over
    keypoints with at least one such sample (0 when there is none).

    Args:
        output (Tensor): (N, K, H, W) predicted heatmaps.
        target (Tensor): (N, K, H, W) target heatmaps.
        mask (Tensor): (N, K) bool, keypoints to count.
        thr (float): Threshold of the normalised distance. Defaults to 0.05.

    Returns:
        Tensor: Scalar float64 accuracy, on the heatmaps' device.
    """
    _, _, h, w = output.shape
    pred = heatmap_argmax(output.detach().float())
    gt = heatmap_argmax(target.float())
    # mmpose normalises (x, y) by [H, W]; Python scalars: no host copy
    diff = (pred - gt).double()
    dx, dy = diff[..., 0] / h, diff[..., 1] / w
    distance = torch.sqrt(dx * dx + dy * dy)
    mask = mask.bool()
    hits = ((distance < thr) & mask).sum(0).double()
    counts = mask.sum(0).double()
    per_keypoint = hits / counts.clamp(min=1)
    valid = counts > 0
    num_valid = valid.sum()
    return torch.where(valid, per_keypoint, 0).sum() / num_valid.clamp(min=1)
