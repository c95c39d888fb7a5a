# Copyright (c) custom_pose contributors. All rights reserved.
"""Per-joint heatmap MSE loss of Simple Baselines / Stacked Hourglass."""
from typing import Optional

import torch.nn as nn
from torch import Tensor

from mmpose.registry import MODELS


@MODELS.register_module()
class CustomPoseJointsMSELoss(nn.Module):
    r"""Mean squared error between predicted and target heatmaps, per joint.

    For a batch of ``N`` instances with ``K`` joints and heatmaps of size
    ``H x W`` the loss is

    .. math::

        L = \text{loss\_weight} \cdot \frac{1}{N K} \sum_{n=1}^{N}
            \sum_{k=1}^{K} w_{nk} \cdot \frac{1}{2} \cdot \frac{1}{H W}
            \sum_{y, x} \left(\hat{h}_{nk}(y, x) - h_{nk}(y, x)\right)^2

    i.e. for each joint ``0.5 * mean over pixels of (pred - gt) ** 2``,
    multiplied by the joint's target weight :math:`w_{nk}` (its visibility,
    ``0`` or ``1`` for most datasets) when ``use_target_weight=True``
    (:math:`w_{nk} = 1` otherwise), averaged over joints and batch. For
    binary visibility weights this equals the formulation of Xiao et al.
    (2018), which masks prediction and target by the weight before taking
    the squared error.

    Args:
        use_target_weight (bool): Multiply each joint's error by its target
            weight (visibility). Defaults to ``False``.
        loss_weight (float): Scalar factor applied to the final loss.
            Defaults to ``1.0``.
    """

    def __init__(self,
                 use_target_weight: bool = False,
                 loss_weight: float = 1.0) -> None:
        super().__init__()
        self.use_target_weight = use_target_weight
        self.loss_weight = loss_weight

    def forward(self,
                output: Tensor,
                target: Tensor,
                target_weights: Optional[Tensor] = None) -> Tensor:
        """Compute the loss.

        Args:
            output (Tensor): Predicted heatmaps in shape (N, K, H, W).
            target (Tensor): Target heatmaps in shape (N, K, H, W).
            target_weights (Tensor, optional): Per-joint weights in shape
                (N, K) (a trailing singleton dimension, (N, K, 1), is also
                accepted). Required when ``use_target_weight=True``, ignored
                otherwise.

        Returns:
            Tensor: The scalar loss.
        """
        if output.shape != target.shape or output.dim() != 4:
            raise ValueError(
                'CustomPoseJointsMSELoss expects `output` and `target` of the '
                'same shape (N, K, H, W), got '
                f'{tuple(output.shape)} and {tuple(target.shape)}')
        # (N, K): 0.5 * mean over pixels of the squared error, per joint
        per_joint = 0.5 * (output - target).pow(2).flatten(2).mean(dim=2)

        if self.use_target_weight:
            if target_weights is None:
                raise ValueError(
                    '`target_weights` is required by CustomPoseJointsMSELoss '
                    'when use_target_weight=True')
            weights = target_weights
            if weights.dim() == 3 and weights.shape[-1] == 1:
                weights = weights[..., 0]
            if weights.shape != per_joint.shape:
                raise ValueError(
                    '`target_weights` must have shape (N, K) = '
                    f'{tuple(per_joint.shape)}, got {tuple(target_weights.shape)}')
            per_joint = per_joint * weights.to(per_joint.dtype)

        return per_joint.mean() * self.loss_weight

    def extra_repr(self) -> str:
        return (f'use_target_weight={self.use_target_weight}, '
                f'loss_weight={self.loss_weight}')


__all__ = ['CustomPoseJointsMSELoss']

