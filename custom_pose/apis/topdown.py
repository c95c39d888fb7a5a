# Copyright (c) custom_pose contributors. All rights reserved.
"""Batched top-down inference: many boxes (or frames) per forward pass.

:class:`TopdownBatchInferencer` runs a top-down pose estimator on many
boxes at once: each box is cropped to the model input with the affine warp
of mmpose's ``GetBBoxCenterScale`` + ``TopdownAffine`` (OpenCV, straight
into one preallocated batch buffer), the batch is normalised on the model's
device, the flip test runs as a single forward pass of ``2N`` images, and
heatmaps are decoded for the whole batch at once with torch
(:func:`decode_msra_heatmaps`, identical to mmpose's ``MSRAHeatmap``).
Models whose head is not a heatmap head go through mmpose's own
``model.predict`` with the same batch.
"""
from typing import Dict, Optional, Sequence, Tuple

import cv2
import numpy as np
import torch
from torch import Tensor, nn

from custom_pose.errors import ModelConfigError

__all__ = ['decode_msra_heatmaps', 'TopdownBatchInferencer']


def decode_msra_heatmaps(heatmaps: Tensor) -> Tuple[Tensor, Tensor]:
    """Decode a batch of heatmaps like mmpose's ``MSRAHeatmap`` (with
    ``unbiased=False``): the arg-max, moved a quarter pixel towards the
    higher neighbour, in heatmap pixels.

    Vectorised over the batch; the result equals ``get_heatmap_maximum`` +
    ``refine_keypoints`` of ``mmpose.codecs.utils``, including their border
    rules (a shift in x only where ``1 < x < W - 1`` and ``y > 0``, in y
    only where ``1 < y < H - 1`` and ``x > 0``) and ``-1`` for maps
    without a positive value.

    Args:
        heatmaps (Tensor): (N, K, H, W) heatmaps.

    Returns:
        tuple: ``keypoints`` (N, K, 2) float (x, y) in heatmap pixels and
        ``scores`` (N, K), the maximum values.
    """
    n, k, h, w = heatmaps.shape
    flat = heatmaps.reshape(n, k, h * w)
    scores, idx = flat.max(dim=-1)
    x = idx % w
    y = torch.div(idx, w, rounding_mode='floor')
    # neighbour differences at the maximum (indices clamped; masked below)
    xr = (x + 1).clamp(max=w - 1)
    xl = (x - 1).clamp(min=0)
    yd = (y + 1).clamp(max=h - 1)
    yu = (y - 1).clamp(min=0)
    dx = flat.gather(-1, (y * w + xr)[..., None])[..., 0] - \
        flat.gather(-1, (y * w + xl)[..., None])[..., 0]
    dy = flat.gather(-1, (yd * w + x)[..., None])[..., 0] - \
        flat.gather(-1, (yu * w + x)[..., None])[..., 0]
    dx = torch.where((x > 1) & (x < w - 1) & (y > 0), torch.sign(dx),
                     torch.zeros_like(dx))
    dy = torch.where((y > 1) & (y < h - 1) & (x > 0), torch.sign(dy),
                     torch.zeros_like(dy))
    keypoints = torch.stack([x, y], dim=-1).to(heatmaps.dtype)
    keypoints = keypoints + torch.stack([dx, dy], dim=-1) * 0.25
    keypoints = torch.where((scores <= 0)[..., None],
                            torch.full_like(keypoints, -1.), keypoints)
    return keypoints, scores


def _find_transform(pipeline: Sequence[dict], name: str) -> Optional[dict]:
    for t in pipeline or ():
        ttype = t.get('type') if isinstance(t, dict) else None
        if isinstance(ttype, str) and ttype.split('.')[-1] == name:
            return t
    return None


class TopdownBatchInferencer:
    """Batched inference of an mmpose top-down estimator on boxes.

    The crops, their normalisation, the flip test and the decoding match
    mmpose's ``inference_topdown`` (``GetBBoxCenterScale``,
    ``TopdownAffine``, ``PoseDataPreprocessor``, the model's ``test_cfg``
    and codec), computed for the whole batch at once.

    Args:
        model (nn.Module): A top-down estimator from :func:`init_pose_model`
            (or mmpose's ``init_model``): with ``cfg`` and ``dataset_meta``.
        batch_size (int, optional): Largest number of crops per forward pass;
            ``None`` puts all boxes of a call into one batch.
        fast (bool, optional): Use the vectorised heatmap path (``None``:
            where the head is a heatmap head). ``False`` always calls mmpose's
            ``model.predict`` on the batch.

    Raises:
        ModelConfigError: If the config's test pipeline has no
            ``TopdownAffine``.
    """

    def __init__(self,
                 model: nn.Module,
                 batch_size: Optional[int] = None,
                 fast: Optional[bool] = None) -> None:
        if batch_size is not None and batch_size < 1:
            raise ValueError(f'batch_size must be >= 1, got {batch_size}')
        self.model = model
        self.batch_size = batch_size
        cfg = model.cfg
        pipeline = None
        for key in ('test_dataloader', 'val_dataloader'):
            loader = cfg.get(key)
            if loader and loader.get('dataset', {}).get('pipeline'):
                pipeline = loader.dataset.pipeline
                break
        affine = _find_transform(pipeline, 'TopdownAffine')
        if affine is None:
            raise ModelConfigError(
                'the pose config has no TopdownAffine in '
                'test_dataloader.dataset.pipeline: not a top-down model?')
        center_scale = _find_transform(pipeline, 'GetBBoxCenterScale') or {}
        self.padding = float(center_scale.get('padding', 1.25))
        size = affine['input_size']
        self.input_size = (int(size[0]), int(size[1]))  # (w, h)
        self.use_udp = bool(affine.get('use_udp', False))

        meta = model.dataset_meta
        self.num_keypoints = int(meta['num_keypoints'])
        self.flip_indices = list(meta.get('flip_indices') or
                                 range(self.num_keypoints))
        self.test_cfg = dict(getattr(model, 'test_cfg', None) or {})
        self.device = next(model.parameters()).device

        head = getattr(model, 'head', None)
        decoder = getattr(head, 'decoder', None)
        is_heatmap_head = self._is_heatmap_head(head)
        can_fast = (is_heatmap_head and decoder is not None
                    and 'output_keypoint_indices' not in self.test_cfg)
        if fast and not can_fast:
            raise ValueError(
                'fast=True needs a heatmap head with a decoder and no '
                'test_cfg.output_keypoint_indices')
        self.fast = can_fast if fast is None else bool(fast)
        from mmpose.codecs import MSRAHeatmap
        self.vector_decode = (isinstance(decoder, MSRAHeatmap)
                              and not decoder.unbiased)
        self._buffer: Optional[np.ndarray] = None
        self._buffer_tensor: Optional[Tensor] = None
        self._full_frame_cache: Dict[Tuple[int, int], tuple] = {}

    @staticmethod
    def _is_heatmap_head(head: Optional[nn.Module]) -> bool:
        if head is None:
            return False
        from mmpose.models.heads import HeatmapHead
        from custom_pose.models.heads.deconv_head import BaseHeatmapPredictHead
        return isinstance(head, (HeatmapHead, BaseHeatmapPredictHead))

    # -- geometry ---------------------------------------------------------
    def centers_scales(self, bboxes: np.ndarray) -> Tuple[np.ndarray,
                                                          np.ndarray]:
        """``GetBBoxCenterScale`` + ``TopdownAffine``'s aspect-ratio fix.

        Args:
            bboxes (np.ndarray): (N, 4) boxes ``x1, y1, x2, y2``.

        Returns:
            tuple: centers (N, 2) and scales (N, 2), float32.
        """
        bboxes = np.asarray(bboxes, dtype=np.float32).reshape(-1, 4)
        centers = (bboxes[:, 2:] + bboxes[:, :2]) * 0.5
        scales = (bboxes[:, 2:] - bboxes[:, :2]) * self.padding
        w, h = self.input_size
        aspect = w / h
        sw, sh = scales[:, :1], scales[:, 1:]
        scales = np.where(sw > sh * aspect, np.hstack([sw, sw / aspect]),
                          np.hstack([sh * aspect, sh])).astype(np.float32)
        return centers.astype(np.float32), scales

    def warp_matrix(self, center: np.ndarray, scale: np.ndarray) -> np.ndarray:
        """The (2, 3) affine matrix ``TopdownAffine`` uses for one box."""
        from mmpose.structures.bbox import (get_udp_warp_matrix,
                                            get_warp_matrix)
        if self.use_udp:
            return get_udp_warp_matrix(
                center, scale, 0., output_size=self.input_size)
        return get_warp_matrix(center, scale, 0., output_size=self.input_size)

    def _batch_buffer(self, n: int) -> np.ndarray:
        """A reusable (>= n, h, w, 3) uint8 buffer (pinned for CUDA)."""
        if self._buffer is None or len(self._buffer) < n:
            w, h = self.input_size
            size = max(n, self.batch_size or 0)
            tensor = torch.empty((size, h, w, 3), dtype=torch.uint8)
            if self.device.type == 'cuda':
                tensor = tensor.pin_memory()
            self._buffer_tensor = tensor
            self._buffer = tensor.numpy()
        return self._buffer

    # -- public API -------------------------------------------------------
    def infer_bboxes(self, img: np.ndarray,
                     bboxes: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
        """Keypoints of every box of one image.

        Args:
            img (np.ndarray): BGR image (H, W, 3), uint8.
            bboxes (np.ndarray): (N, 4) ``xyxy`` boxes.

        Returns:
            tuple: ``keypoints`` (N, K, 2) in image pixels and ``scores``
            (N, K), float32 numpy arrays.
        """
        centers, scales = self.centers_scales(bboxes)
        mats = [self.warp_matrix(c, s) for c, s in zip(centers, scales)]
        return self._run([img] * len(mats), mats, centers, scales)

    def infer_frames(
            self, frames: Sequence[np.ndarray]) -> Tuple[np.ndarray,
                                                          np.ndarray]:
        """Keypoints of one instance per frame, the whole frame being its
        box (as ``inference_topdown`` without boxes).

        Args:
            frames (Sequence[np.ndarray]): BGR frames (H, W, 3), uint8.

        Returns:
            tuple: ``keypoints`` (N, K, 2) and ``scores`` (N, K).
        """
        mats, centers, scales = [], [], []
        for frame in frames:
            h, w = frame.shape[:2]
            cached = self._full_frame_cache.get((w, h))
            if cached is None:
                c, s = self.centers_scales(
                    np.array([[0, 0, w, h]], dtype=np.float32))
                cached = (self.warp_matrix(c[0], s[0]), c[0], s[0])
                self._full_frame_cache[(w, h)] = cached
            mats.append(cached[0])
            centers.append(cached[1])
            scales.append(cached[2])
        return self._run(frames, mats, np.array(centers).reshape(-1, 2),
                         np.array(scales).reshape(-1, 2))

    def _run(self, images: Sequence[np.ndarray], mats: Sequence[np.ndarray],
             centers: np.ndarray,
             scales: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
        n = len(mats)
        k = self.num_keypoints
        if n == 0:
            return (np.zeros((0, k, 2), np.float32),
                    np.zeros((0, k), np.float32))
        step = self.batch_size or n
        kpts, scores = [], []
        for start in range(0, n, step):
            stop = min(n, start + step)
            buf = self._batch_buffer(stop - start)
            for i in range(start, stop):
                cv2.warpAffine(
                    images[i], mats[i], self.input_size,
                    dst=buf[i - start], flags=cv2.INTER_LINEAR)
            kp, sc = self.predict_crops(stop - start, centers[start:stop],
                                        scales[start:stop])
            kpts.append(kp)
            scores.append(sc)
        return np.concatenate(kpts), np.concatenate(scores)

    @torch.no_grad()
    def _inputs(self, n: int) -> Tensor:
        """The first ``n`` crops of the buffer as the model's normalised
        (n, 3, h, w) float input on its device."""
        self._batch_buffer(n)
        crops = self._buffer_tensor[:n].to(self.device, non_blocking=True)
        dp = self.model.data_preprocessor
        from mmpose.models.data_preprocessors import PoseDataPreprocessor
        if type(dp) is PoseDataPreprocessor and dp.pad_size_divisor == 1:
            # one pass: uint8 NHWC -> float NCHW (contiguous: the channels-
            # last strides of a permuted view make CPU convolutions several
            # times slower), the BGR->RGB swap folded into the channel copy
            w, h = self.input_size
            x = torch.empty((n, 3, h, w), dtype=torch.float32,
                            device=self.device)
            order = (2, 1, 0) if dp._channel_conversion else (0, 1, 2)
            for dst, src in enumerate(order):
                x[:, dst].copy_(crops[..., src])
            if dp._enable_normalize:
                x.sub_(dp.mean).div_(dp.std)
            return x
        inputs = crops.permute(0, 3, 1, 2).contiguous()
        return dp(dict(inputs=inputs, data_samples=[]), False)['inputs']

    @torch.no_grad()
    def predict_crops(self, n: int, centers: np.ndarray,
                      scales: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
        """Run the model on the first ``n`` crops of the batch buffer.

        Args:
            n (int): Number of crops.
            centers (np.ndarray): (n, 2) box centers of the crops.
            scales (np.ndarray): (n, 2) box scales of the crops.

        Returns:
            tuple: ``keypoints`` (n, K, 2) in image pixels and ``scores``
            (n, K).
        """
        inputs = self._inputs(n)
        if not self.fast:
            return self._predict_mmpose(inputs, centers, scales)
        model = self.model
        flip = self.test_cfg.get('flip_test', False)
        batch = torch.cat([inputs, inputs.flip(-1)]) if flip else inputs
        heatmaps = model.head.forward(model.extract_feat(batch))
        if isinstance(heatmaps, (list, tuple)):
            heatmaps = heatmaps[-1]  # multi-stage heads: the last stage
        if flip:
            from mmpose.models.utils.tta import flip_heatmaps
            heatmaps, flipped = heatmaps[:n], heatmaps[n:]
            flipped = flip_heatmaps(
                flipped,
                flip_mode=self.test_cfg.get('flip_mode', 'heatmap'),
                flip_indices=self.flip_indices,
                shift_heatmap=self.test_cfg.get('shift_heatmap', False))
            heatmaps = (heatmaps + flipped) * 0.5
        if self.vector_decode:
            kpts, scores = decode_msra_heatmaps(heatmaps)
            kpts = kpts * kpts.new_tensor(model.head.decoder.scale_factor)
        else:
            preds = model.head.decode(heatmaps)
            kpts = torch.from_numpy(
                np.stack([p.keypoints[0] for p in preds])).to(heatmaps)
            scores = torch.from_numpy(
                np.stack([p.keypoint_scores[0] for p in preds])).to(heatmaps)
        center = torch.from_numpy(np.ascontiguousarray(
            centers, dtype=np.float32)).to(kpts)[:, None]
        scale = torch.from_numpy(np.ascontiguousarray(
            scales, dtype=np.float32)).to(kpts)[:, None]
        size = kpts.new_tensor(self.input_size)
        kpts = kpts / size * scale + center - 0.5 * scale
        return (kpts.float().cpu().numpy(), scores.float().cpu().numpy())

    def _predict_mmpose(self, inputs: Tensor, centers: np.ndarray,
                        scales: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
        """mmpose's own ``model.predict`` on the batch (any head)."""
        from mmengine.structures import InstanceData
        from mmpose.structures import PoseDataSample
        samples = []
        for c, s in zip(centers, scales):
            sample = PoseDataSample(
                metainfo=dict(
                    input_center=np.asarray(c, np.float32),
                    input_scale=np.asarray(s, np.float32),
                    input_size=self.input_size,
                    flip_indices=self.flip_indices))
            box = np.concatenate([c - s / 2, c + s / 2])[None]
            sample.gt_instances = InstanceData(
                bboxes=box.astype(np.float32),
                bbox_scores=np.ones(1, np.float32))
            samples.append(sample)
        results = self.model.predict(inputs, samples)
        kpts = np.stack([
            np.asarray(r.pred_instances.keypoints[0], np.float32)
            for r in results
        ])
        scores = np.stack([
            np.asarray(r.pred_instances.keypoint_scores[0], np.float32)
            for r in results
        ])
        return kpts[..., :2], scores
