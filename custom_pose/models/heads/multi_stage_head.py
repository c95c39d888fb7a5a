# Copyright (c) custom_pose contributors. All rights reserved.
"""Parameter-free multi-stage heatmap head for stacked networks (e.g.
:class:`~custom_pose.models.backbones.CustomPoseHourglass`)."""
from typing import Optional, Sequence, Tuple

from torch import Tensor

from mmpose.registry import KEYPOINT_CODECS, MODELS
from mmpose.utils.typing import OptConfigType, OptSampleList
from .deconv_head import DEFAULT_LOSS, BaseHeatmapPredictHead


@MODELS.register_module()
class CustomPoseMultiStageHead(BaseHeatmapPredictHead):
    """Head for backbones that already output one heatmap tensor per stage.

    It has no parameters. The training loss is the SUM over every stage's
    prediction of ``loss`` against the same target (intermediate
    supervision, Newell et al. 2016), logged as ``loss_kpt``, plus
    ``acc_pose`` (mmpose's heatmap PCK accuracy) of the last stage.
    :meth:`predict` decodes the LAST stage, with the same flip test as
    :class:`~custom_pose.models.heads.CustomPoseDeconvHead` (shared code).

    Args:
        num_stages (int, optional): If given, the number of heatmap tensors
            expected from the backbone (checked in :meth:`forward`).
        out_channels (int, optional): If given, the expected number of
            heatmaps K per stage (checked in :meth:`forward`).
        loss (dict, optional): Config of the per-stage loss. ``None`` means
            ``dict(type='CustomPoseJointsMSELoss', use_target_weight=True)``.
        decoder (dict, optional): Codec config (e.g. ``MSRAHeatmap`` or
            ``UDPHeatmap``) used by :meth:`predict`. Defaults to ``None``.
        init_cfg (dict, optional): Unused (no parameters); kept for API
            compatibility. Defaults to ``None``.
    """

    def __init__(self,
                 num_stages: Optional[int] = None,
                 out_channels: Optional[int] = None,
                 loss: OptConfigType = None,
                 decoder: OptConfigType = None,
                 init_cfg: OptConfigType = None) -> None:
        super().__init__(init_cfg)
        if num_stages is not None and (not isinstance(num_stages, int)
                                       or num_stages < 1):
            raise ValueError(
                f'`num_stages` must be a positive int, got {num_stages!r}')
        if out_channels is not None and (not isinstance(out_channels, int)
                                         or out_channels < 1):
            raise ValueError(
                f'`out_channels` must be a positive int, got {out_channels!r}')
        self.num_stages = num_stages
        self.out_channels = out_channels
        self.loss_module = MODELS.build(
            DEFAULT_LOSS if loss is None else loss)
        self.decoder = (
            KEYPOINT_CODECS.build(decoder) if decoder is not None else None)

    def forward(self, feats: Sequence[Tensor]) -> Tuple[Tensor, ...]:
        """Return the per-stage heatmaps unchanged (after checks).

        Args:
            feats (Sequence[Tensor]): One heatmap tensor per stage, each in
                shape (N, K, H, W).

        Returns:
            tuple[Tensor]: The same tensors, first stage first.
        """
        feats = tuple(feats)
        if self.num_stages is not None and len(feats) != self.num_stages:
            raise ValueError(
                f'CustomPoseMultiStageHead(num_stages={self.num_stages}) got '
                f'{len(feats)} stage outputs; check `num_stages` against the '
                "backbone's num_stacks")
        if self.out_channels is not None:
            for i, heatmaps in enumerate(feats):
                if heatmaps.dim() != 4 or heatmaps.shape[1] != \
                        self.out_channels:
                    raise ValueError(
                        f'Stage {i} output has shape {tuple(heatmaps.shape)}'
                        f', expected (N, out_channels={self.out_channels}, '
                        'H, W)')
        return feats

    def _final_heatmaps(self, feats: Sequence[Tensor]) -> Tensor:
        return self.forward(feats)[-1]

    def loss(self,
             feats: Sequence[Tensor],
             batch_data_samples: OptSampleList,
             train_cfg: OptConfigType = None) -> dict:
        """Sum of the per-stage losses, and the last stage's accuracy.

        Args:
            feats (Sequence[Tensor]): One (N, K, H, W) heatmap tensor per
                stage.
            batch_data_samples (list[PoseDataSample]): Samples with
                ``gt_fields.heatmaps`` (K, H, W) and
                ``gt_instance_labels.keypoint_weights`` (1, K).
            train_cfg (dict, optional): ``compute_acc`` (default ``True``).

        Returns:
            dict: ``loss_kpt`` (sum over stages) and ``acc_pose``.
        """
        stage_heatmaps = self.forward(feats)
        gt_heatmaps, keypoint_weights = self._gather_targets(
            batch_data_samples)
        loss = sum(
            self.loss_module(heatmaps, gt_heatmaps, keypoint_weights)
            for heatmaps in stage_heatmaps)
        losses = dict(loss_kpt=loss)
        if (train_cfg or {}).get('compute_acc', True):
            losses['acc_pose'] = self._pck_accuracy(stage_heatmaps[-1],
                                                    gt_heatmaps,
                                                    keypoint_weights)
        return losses


__all__ = ['CustomPoseMultiStageHead']
