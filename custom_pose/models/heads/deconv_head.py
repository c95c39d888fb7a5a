# Copyright (c) custom_pose contributors. All rights reserved.
"""Deconvolution heatmap head of Simple Baselines (Xiao et al., 2018) and the
shared heatmap prediction/loss logic of the custom_pose heads."""
from typing import List, Optional, Sequence, Tuple, Union

import torch
from mmengine.structures import PixelData
from torch import Tensor, nn

from mmpose.models.heads.base_head import BaseHead
from mmpose.models.utils.tta import flip_heatmaps
from mmpose.registry import KEYPOINT_CODECS, MODELS
from mmpose.utils.typing import (Features, OptConfigType, OptSampleList,
                                 Predictions)
from ..utils.pck_accuracy import heatmap_pck_accuracy

#: deconv kernel size -> (padding, output_padding) giving an exact 2x upsample
DECONV_KERNEL_PADDINGS = {4: (1, 0), 3: (1, 1), 2: (0, 0)}
#: final conv kernel size -> padding
FINAL_CONV_PADDINGS = {1: 0, 3: 1}
#: loss config used when ``loss=None``
DEFAULT_LOSS = dict(type='CustomPoseJointsMSELoss', use_target_weight=True)


class BaseHeatmapPredictHead(BaseHead):
    """Shared test/train logic of heads whose output (or last-stage output)
    is a (N, K, H, W) heatmap tensor.

    Subclasses implement :meth:`forward` and :meth:`_final_heatmaps`, and
    set ``self.decoder`` (a codec, or ``None``) and ``self.loss_module``.

    ``predict`` implements the flip test of mmpose's heatmap heads
    (``test_cfg``: ``flip_test``, ``flip_mode``, ``shift_heatmap``,
    ``output_heatmaps``) and decodes with the codec;
    :meth:`_pck_accuracy` is the ``acc_pose`` that mmpose's ``HeatmapHead``
    logs.
    """

    decoder = None

    def _final_heatmaps(self, feats: Tuple[Tensor, ...]) -> Tensor:
        """The heatmaps to decode, in shape (N, K, H, W)."""
        raise NotImplementedError

    def predict(self,
                feats: Features,
                batch_data_samples: OptSampleList,
                test_cfg: OptConfigType = None) -> Predictions:
        """Predict keypoints from features.

        Args:
            feats (tuple[Tensor] | list[tuple[Tensor]]): The backbone
                features, or with ``test_cfg['flip_test']`` the list
                ``[feats, feats_of_the_horizontally_flipped_input]`` that
                :class:`mmpose.models.TopdownPoseEstimator` passes.
            batch_data_samples (list[PoseDataSample]): The batch data
                samples; with flip test, ``metainfo['flip_indices']`` of the
                first one gives the symmetric keypoint of each keypoint.
            test_cfg (dict, optional): ``flip_test`` (bool, default ``False``),
                ``flip_mode`` (default ``'heatmap'``), ``shift_heatmap``
                (default ``False``), ``output_heatmaps`` (default ``False``).

        Returns:
            list[InstanceData] | tuple[list[InstanceData], list[PixelData]]:
            Per sample, ``keypoints`` (1, K, 2) in model-input pixels
            (``TopdownPoseEstimator`` maps them back to the image) and
            ``keypoint_scores`` (1, K); with ``output_heatmaps`` also the
            (K, H, W) ``heatmaps`` per sample.
        """
        test_cfg = test_cfg or {}
        if test_cfg.get('flip_test', False):
            if not (isinstance(feats, list) and len(feats) == 2):
                raise ValueError(
                    'test_cfg.flip_test=True expects `feats` to be a list '
                    '[feats, flipped_feats] (as TopdownPoseEstimator.predict '
                    f'passes), got {type(feats).__name__}')
            flip_indices = batch_data_samples[0].metainfo['flip_indices']
            _feats, _feats_flip = feats
            # fp32 from here on (reduced-precision autocast ends at the
            # heatmaps: averaging and decoding need the full precision)
            heatmaps = self._final_heatmaps(_feats).float()
            heatmaps_flip = flip_heatmaps(
                self._final_heatmaps(_feats_flip).float(),
                flip_mode=test_cfg.get('flip_mode', 'heatmap'),
                flip_indices=flip_indices,
                shift_heatmap=test_cfg.get('shift_heatmap', False))
            batch_heatmaps = (heatmaps + heatmaps_flip) * 0.5
        else:
            batch_heatmaps = self._final_heatmaps(feats).float()

        preds = self.decode(batch_heatmaps)

        if test_cfg.get('output_heatmaps', False):
            pred_fields = [
                PixelData(heatmaps=hm) for hm in batch_heatmaps.detach()
            ]
            return preds, pred_fields
        return preds

    @staticmethod
    def _gather_targets(
            batch_data_samples: OptSampleList) -> Tuple[Tensor, Tensor]:
        """Stack the target heatmaps (N, K, H, W) and keypoint weights
        (N, K) of a batch."""
        gt_heatmaps = torch.stack(
            [d.gt_fields.heatmaps for d in batch_data_samples])
        keypoint_weights = torch.cat([
            d.gt_instance_labels.keypoint_weights for d in batch_data_samples
        ])
        return gt_heatmaps, keypoint_weights

    @staticmethod
    def _pck_accuracy(pred_heatmaps: Tensor, gt_heatmaps: Tensor,
                      keypoint_weights: Tensor) -> Tensor:
        """mmpose's heatmap PCK accuracy (threshold 0.05 of the heatmap
        size) over visible keypoints, as a scalar tensor computed on the
        heatmaps' device: no copy to the host, so no sync in the training
        step (bf16/fp16 heatmaps of mixed-precision training are compared
        in fp32)."""
        return heatmap_pck_accuracy(pred_heatmaps, gt_heatmaps,
                                    keypoint_weights > 0)


@MODELS.register_module()
class CustomPoseDeconvHead(BaseHeatmapPredictHead):
    """Top-down heatmap head of `Simple Baselines`_ (Xiao et al., 2018).

    ``num_deconv_layers`` blocks of ConvTranspose2d (stride 2, no bias) + BN
    + ReLU upsample the last backbone feature map, optional conv blocks
    (conv + BN + ReLU) follow, and a final conv produces K heatmaps. With the
    defaults, a (N, 2048, 8, 8) input gives (N, 256, 16, 16),
    (N, 256, 32, 32), (N, 256, 64, 64) and finally (N, K, 64, 64).

    Args:
        in_channels (int): Channels of the input feature map.
        out_channels (int): Number of heatmaps K.
        num_deconv_layers (int): Number of deconv blocks (0 allowed: then
            ``num_deconv_filters``/``num_deconv_kernels`` are ignored).
            Defaults to 3.
        num_deconv_filters (Sequence[int]): Output channels of each deconv
            block. Defaults to ``(256, 256, 256)``.
        num_deconv_kernels (Sequence[int]): Kernel size of each deconv block:
            4 (padding 1, output_padding 0), 3 (1, 1) or 2 (0, 0).
            Defaults to ``(4, 4, 4)``.
        conv_out_channels (Sequence[int], optional): Output channels of the
            extra conv blocks after the deconvs. Defaults to ``None`` (none).
        conv_kernel_sizes (Sequence[int], optional): Odd kernel size of each
            extra conv block. Defaults to ``None``.
        final_conv_kernel (int): Kernel of the final conv, 1 (padding 0) or
            3 (padding 1). Defaults to 1.
        loss (dict, optional): Config of the heatmap loss. ``None`` means
            ``dict(type='CustomPoseJointsMSELoss', use_target_weight=True)``.
        decoder (dict, optional): Codec config (e.g. ``MSRAHeatmap`` or
            ``UDPHeatmap``), built with mmpose's ``KEYPOINT_CODECS``, used to
            decode keypoints in :meth:`predict`. Defaults to ``None``.
        channels_last (bool): Keep the (de)conv weights in channels-last
            (NHWC) memory format and convert the input to it, as
            :class:`~custom_pose.models.backbones.CustomPoseResNet` does
            (faster on CPU, same results up to float summation order).
            Defaults to ``False``.
        init_cfg (dict | list[dict], optional): Initialization config.
            ``None`` means normal (std 0.001) init for convs and deconvs and
            constant 1 for BN, as mmpose's ``HeatmapHead``.

    .. _`Simple Baselines`: https://arxiv.org/abs/1804.06208
    """

    def __init__(self,
                 in_channels: int,
                 out_channels: int,
                 num_deconv_layers: int = 3,
                 num_deconv_filters: Sequence[int] = (256, 256, 256),
                 num_deconv_kernels: Sequence[int] = (4, 4, 4),
                 conv_out_channels: Optional[Sequence[int]] = None,
                 conv_kernel_sizes: Optional[Sequence[int]] = None,
                 final_conv_kernel: int = 1,
                 loss: OptConfigType = None,
                 decoder: OptConfigType = None,
                 channels_last: bool = False,
                 init_cfg: OptConfigType = None) -> None:
        if init_cfg is None:
            init_cfg = self.default_init_cfg
        super().__init__(init_cfg)

        if not isinstance(in_channels, int) or in_channels < 1:
            raise ValueError(
                f'`in_channels` must be a positive int, got {in_channels!r}')
        if not isinstance(out_channels, int) or out_channels < 1:
            raise ValueError(
                f'`out_channels` must be a positive int, got {out_channels!r}')
        if not isinstance(num_deconv_layers, int) or num_deconv_layers < 0:
            raise ValueError('`num_deconv_layers` must be an int >= 0, got '
                             f'{num_deconv_layers!r}')
        if num_deconv_layers > 0:
            num_deconv_filters = tuple(num_deconv_filters or ())
            num_deconv_kernels = tuple(num_deconv_kernels or ())
            if len(num_deconv_filters) != num_deconv_layers:
                raise ValueError(
                    f'`num_deconv_filters` {num_deconv_filters!r} must have '
                    f'num_deconv_layers={num_deconv_layers} entries')
            if len(num_deconv_kernels) != num_deconv_layers:
                raise ValueError(
                    f'`num_deconv_kernels` {num_deconv_kernels!r} must have '
                    f'num_deconv_layers={num_deconv_layers} entries')
            for kernel in num_deconv_kernels:
                if kernel not in DECONV_KERNEL_PADDINGS:
                    raise ValueError(
                        f'Unsupported deconv kernel {kernel!r} in '
                        f'`num_deconv_kernels`; allowed: '
                        f'{sorted(DECONV_KERNEL_PADDINGS)}')
        else:
            num_deconv_filters, num_deconv_kernels = (), ()
        conv_out_channels = tuple(conv_out_channels or ())
        conv_kernel_sizes = tuple(conv_kernel_sizes or ())
        if len(conv_out_channels) != len(conv_kernel_sizes):
            raise ValueError(
                f'`conv_out_channels` {conv_out_channels!r} and '
                f'`conv_kernel_sizes` {conv_kernel_sizes!r} must have the '
                'same length')
        for kernel in conv_kernel_sizes:
            if not isinstance(kernel, int) or kernel < 1 or kernel % 2 == 0:
                raise ValueError(
                    f'`conv_kernel_sizes` entries must be odd positive ints, '
                    f'got {kernel!r}')
        if final_conv_kernel not in FINAL_CONV_PADDINGS:
            raise ValueError(
                f'Unsupported `final_conv_kernel` {final_conv_kernel!r}; '
                f'allowed: {sorted(FINAL_CONV_PADDINGS)}')

        self.in_channels = in_channels
        self.out_channels = out_channels
        self.num_deconv_layers = num_deconv_layers
        self.loss_module = MODELS.build(
            DEFAULT_LOSS if loss is None else loss)
        self.decoder = (
            KEYPOINT_CODECS.build(decoder) if decoder is not None else None)

        channels = in_channels
        if num_deconv_layers > 0:
            self.deconv_layers = self._make_deconv_layers(
                channels, num_deconv_filters, num_deconv_kernels)
            channels = num_deconv_filters[-1]
        else:
            self.deconv_layers = nn.Identity()
        if conv_out_channels:
            self.conv_layers = self._make_conv_layers(channels,
                                                      conv_out_channels,
                                                      conv_kernel_sizes)
            channels = conv_out_channels[-1]
        else:
            self.conv_layers = nn.Identity()
        self.final_layer = nn.Conv2d(
            channels,
            out_channels,
            kernel_size=final_conv_kernel,
            padding=FINAL_CONV_PADDINGS[final_conv_kernel])
        self.channels_last = bool(channels_last)
        if self.channels_last:
            self.to(memory_format=torch.channels_last)

    @property
    def default_init_cfg(self) -> List[dict]:
        """Normal (std 0.001) convs/deconvs, constant 1 BN (as HeatmapHead)."""
        return [
            dict(
                type='Normal', layer=['Conv2d', 'ConvTranspose2d'], std=0.001),
            dict(type='Constant', layer='BatchNorm2d', val=1)
        ]

    @staticmethod
    def _make_deconv_layers(in_channels: int, filters: Sequence[int],
                            kernels: Sequence[int]) -> nn.Sequential:
        """ConvTranspose2d(stride 2, no bias) + BN + ReLU blocks."""
        layers: List[nn.Module] = []
        for out_channels, kernel in zip(filters, kernels):
            padding, output_padding = DECONV_KERNEL_PADDINGS[kernel]
            layers += [
                nn.ConvTranspose2d(
                    in_channels,
                    out_channels,
                    kernel_size=kernel,
                    stride=2,
                    padding=padding,
                    output_padding=output_padding,
                    bias=False),
                nn.BatchNorm2d(out_channels),
                nn.ReLU(inplace=True)
            ]
            in_channels = out_channels
        return nn.Sequential(*layers)

    @staticmethod
    def _make_conv_layers(in_channels: int, out_channels_seq: Sequence[int],
                          kernels: Sequence[int]) -> nn.Sequential:
        """Conv2d (same padding) + BN + ReLU blocks."""
        layers: List[nn.Module] = []
        for out_channels, kernel in zip(out_channels_seq, kernels):
            layers += [
                nn.Conv2d(
                    in_channels,
                    out_channels,
                    kernel_size=kernel,
                    padding=(kernel - 1) // 2),
                nn.BatchNorm2d(out_channels),
                nn.ReLU(inplace=True)
            ]
            in_channels = out_channels
        return nn.Sequential(*layers)

    def forward(self, feats: Union[Tuple[Tensor, ...], Tensor]) -> Tensor:
        """Forward the head.

        Args:
            feats (tuple[Tensor]): Backbone features; the last one,
                (N, in_channels, h, w), is used.

        Returns:
            Tensor: Heatmaps in shape (N, K, h * 2**num_deconv_layers,
            w * 2**num_deconv_layers) (channels-last memory format with
            ``channels_last``).
        """
        x = feats[-1] if isinstance(feats, (tuple, list)) else feats
        if self.channels_last and x.dim() == 4:
            x = x.contiguous(memory_format=torch.channels_last)
        x = self.deconv_layers(x)
        x = self.conv_layers(x)
        return self.final_layer(x)

    def _final_heatmaps(self, feats: Tuple[Tensor, ...]) -> Tensor:
        return self.forward(feats)

    def loss(self,
             feats: Tuple[Tensor, ...],
             batch_data_samples: OptSampleList,
             train_cfg: OptConfigType = None) -> dict:
        """Compute the heatmap loss and the PCK accuracy of a batch.

        Args:
            feats (tuple[Tensor]): Backbone features.
            batch_data_samples (list[PoseDataSample]): Samples with
                ``gt_fields.heatmaps`` (K, H, W) and
                ``gt_instance_labels.keypoint_weights`` (1, K).
            train_cfg (dict, optional): ``compute_acc`` (default ``True``).

        Returns:
            dict: ``loss_kpt`` (scalar tensor) and ``acc_pose`` (mmpose's
            ``pose_pck_accuracy`` at 0.05 of the heatmap size).
        """
        pred_heatmaps = self.forward(feats)
        gt_heatmaps, keypoint_weights = self._gather_targets(
            batch_data_samples)
        losses = dict(
            loss_kpt=self.loss_module(pred_heatmaps, gt_heatmaps,
                                      keypoint_weights))
        if (train_cfg or {}).get('compute_acc', True):
            losses['acc_pose'] = self._pck_accuracy(pred_heatmaps,
                                                    gt_heatmaps,
                                                    keypoint_weights)
        return losses


__all__ = ['CustomPoseDeconvHead', 'BaseHeatmapPredictHead']
