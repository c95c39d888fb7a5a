"""The device-side top-down augmentation against mmpose's CPU transforms.

mmpose's transforms run unchanged on real synthetic images of two sizes;
the random parameters each one draws are recorded and applied to the same
samples by our batched transforms, which must then give the same
keypoints, crops (within OpenCV's fixed-point rounding), heatmaps and
weights. A second set of tests checks that our own draws follow the
distributions mmpose's transforms are configured with.
"""
import copy
import dataclasses
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from scipy import stats

from mmpose.datasets.transforms import (GenerateTarget, GetBBoxCenterScale,
                                        LoadImage, RandomBBoxTransform,
                                        RandomFlip, RandomHalfBody,
                                        TopdownAffine)

from conftest import synthetic_data_infos
from custom_pose.datasets.transforms import (CustomPosePackRawPoseInputs,
                                             custom_pose_topdown_collate)
from custom_pose.models.data_preprocessors import (
    BBoxTransformParams, CustomPoseBatchGenerateTarget,
    CustomPoseBatchRandomBBoxTransform, CustomPoseBatchRandomFlip,
    CustomPoseBatchRandomHalfBody, CustomPoseBatchTopdownAffine,
    CustomPoseTopdownDataPreprocessor, HalfBodyParams, warp_matrices)

MSRA = dict(type='MSRAHeatmap', input_size=(64, 64), heatmap_size=(16, 16),
            sigma=2)
UDP = dict(type='UDPHeatmap', input_size=(64, 48), heatmap_size=(16, 12),
           sigma=2)
DARK = dict(MSRA, unbiased=True)
#: the device path on the GPU: CUDA-only by nature, so skipped elsewhere
ON_CUDA = pytest.mark.skipif(not torch.cuda.is_available(),
                             reason='needs CUDA')


@pytest.fixture(scope='module')
def data_infos(tmp_path_factory):
    """Data infos of 40 synthetic animals in images of two sizes."""
    return synthetic_data_infos(tmp_path_factory, [(160, 120), (96, 136)],
                                num_images=20, seed=3)


def _recorded(transform, method):
    """Record what ``transform.<method>`` returns (mmpose's random draw);
    the transform itself runs unchanged."""
    draws = []
    original = getattr(transform, method)

    def record(*args, **kwargs):
        draws.append(original(*args, **kwargs))
        return draws[-1]

    setattr(transform, method, record)
    return draws


def _mmpose_and_raw(infos, seed, codec, use_udp=False, half_body=None):
    """Run mmpose's training pipeline on each info; return its results, the
    packed raw samples (after LoadImage + GetBBoxCenterScale) and the
    random parameters it drew."""
    np.random.seed(seed)
    flip = RandomFlip(direction='horizontal')
    half = RandomHalfBody(**(half_body or {}))
    bbox = RandomBBoxTransform()
    flips = _recorded(flip, '_choose_direction')
    halves = _recorded(half, '_random_select_half_body')
    boxes = _recorded(bbox, '_get_transform_params')
    after_affine = [TopdownAffine(codec['input_size'], use_udp=use_udp),
                    GenerateTarget(encoder=codec)]
    pack = CustomPosePackRawPoseInputs()
    results, packed, upper_valid = [], [], []
    for info in infos:
        r = GetBBoxCenterScale()(LoadImage()(copy.deepcopy(info)))
        packed.append(pack(copy.deepcopy(r)))
        r = flip(r)
        vis = r['keypoints_visible'][0]
        upper_valid.append([i for i in r['upper_body_ids'] if vis[i] > 0])
        for t in [half, bbox] + after_affine:
            r = t(r)
        results.append(r)
    params = dict(
        flip=torch.tensor([0 if d == 'horizontal' else -1 for d in flips]),
        half=HalfBodyParams(
            apply=torch.tensor([h[0] is not None for h in halves]),
            prefer_upper=torch.tensor(
                [h[0] is not None and h[0] == u
                 for h, u in zip(halves, upper_valid)])),
        bbox=BBoxTransformParams(
            offset=torch.from_numpy(np.concatenate([b[0] for b in boxes])),
            scale=torch.from_numpy(np.concatenate([b[1] for b in boxes])),
            rotate=torch.from_numpy(np.concatenate([b[2] for b in boxes]))))
    return results, packed, params


def _params_to(params, device):
    """mmpose's recorded draws on ``device``."""
    def to(p):
        if isinstance(p, torch.Tensor):
            return p.to(device)
        return dataclasses.replace(p, **{
            f.name: getattr(p, f.name).to(device)
            for f in dataclasses.fields(p)})
    return {k: to(v) for k, v in params.items()}


def _device_run(packed, params, codec, use_udp=False, half_body=None,
                sampler='auto', device='cpu'):
    """Our transforms on the collated batch, with mmpose's parameters, on
    ``device``; the results back on the CPU."""
    preprocessor = CustomPoseTopdownDataPreprocessor(topdown_transforms=[
        dict(type='CustomPoseBatchTopdownAffine',
             input_size=codec['input_size'], use_udp=use_udp,
             sampler=sampler),
        dict(type='CustomPoseBatchGenerateTarget', encoder=codec)
    ]).to(device)
    params = _params_to(params, device)
    batch = preprocessor.make_batch(
        custom_pose_topdown_collate(packed)['inputs'])
    assert batch.device.type == device
    batch = CustomPoseBatchRandomFlip().apply_params(batch, params['flip'])
    flipped = (batch.keypoints.cpu(), batch.keypoints_visible.cpu())
    batch = CustomPoseBatchRandomHalfBody(**(half_body or {})).apply_params(
        batch, params['half'])
    batch = CustomPoseBatchRandomBBoxTransform().apply_params(
        batch, params['bbox'])
    batch = preprocessor.run_transforms(batch)
    return SimpleNamespace(**{
        k: getattr(batch, k).cpu()
        for k in ('bbox_center', 'bbox_scale', 'transformed_keypoints',
                  'inputs', 'keypoint_weights', 'heatmaps')
    }), flipped


@pytest.mark.parametrize('codec,use_udp,half_body,sampler,device', [
    (MSRA, False, None, 'gather', 'cpu'),  # the GPU's sampler
    (MSRA, False, None, 'grid_sample', 'cpu'),  # the CPU's
    (MSRA, False, dict(prob=1.0, min_total_keypoints=6), 'gather', 'cpu'),
    (UDP, True, None, 'gather', 'cpu'),
    (DARK, False, None, 'grid_sample', 'cpu'),
    # on the GPU, where 'auto' picks the gather sampler
    pytest.param(MSRA, False, dict(prob=1.0, min_total_keypoints=6), 'auto',
                 'cuda', marks=ON_CUDA),
    pytest.param(UDP, True, None, 'auto', 'cuda', marks=ON_CUDA),
])
def test_device_transforms_match_mmpose(data_infos, codec, use_udp,
                                        half_body, sampler, device):
    results, packed, params = _mmpose_and_raw(data_infos, 7, codec, use_udp,
                                              half_body)
    # the draws exercise every branch
    assert 5 <= int((params['flip'] == 0).sum()) <= len(results) - 5
    assert int(params['half'].apply.sum()) >= 4
    assert int((params['bbox'].rotate != 0).sum()) >= 10
    batch, (kpts_flipped, vis_flipped) = _device_run(packed, params, codec,
                                                     use_udp, half_body,
                                                     sampler, device)
    input_w, input_h = codec['input_size']
    scale = np.array(codec['input_size']) / np.array(codec['heatmap_size'])
    if codec['type'] == 'UDPHeatmap':
        scale = ((np.array(codec['input_size']) - 1) /
                 (np.array(codec['heatmap_size']) - 1))
    same_pixel_total = heatmaps_total = 0
    crop_diffs = []
    for i, r in enumerate(results):
        # flipped keypoint order and visibility: identical
        np.testing.assert_array_equal(vis_flipped[i].numpy(),
                                      r['keypoints_visible'][0])
        np.testing.assert_allclose(kpts_flipped[i].numpy(),
                                   r['keypoints'][0], atol=1e-4)
        # box after half-body/shift/scale/aspect ratio, warp matrix
        np.testing.assert_allclose(batch.bbox_center[i].numpy(),
                                   r['bbox_center'][0], rtol=1e-5,
                                   atol=1e-3)
        np.testing.assert_allclose(batch.bbox_scale[i].numpy(),
                                   r['bbox_scale'][0], rtol=1e-5, atol=1e-3)
        # keypoints in the crop within 1e-3 px
        np.testing.assert_allclose(
            batch.transformed_keypoints[i].numpy(),
            r['transformed_keypoints'][0], atol=1e-3, rtol=0)
        # crop against cv2.warpAffine (uint8, positions rounded to 1/32 px)
        ours = batch.inputs[i].permute(1, 2, 0).numpy()
        assert ours.shape == r['img'].shape == (input_h, input_w, 3)
        diff = np.abs(ours - r['img'].astype(np.float32))
        crop_diffs.append(diff.ravel())
        # keypoint weights identical
        np.testing.assert_array_equal(batch.keypoint_weights[i].numpy(),
                                      r['keypoint_weights'][0])
        # heatmaps within 1e-5 where the keypoint is on the same pixel
        ours_px = np.trunc(batch.transformed_keypoints[i].numpy() / scale +
                           0.5)
        theirs_px = np.trunc(r['transformed_keypoints'][0] / scale + 0.5)
        same = (ours_px == theirs_px).all(-1)
        heatmaps_total += len(same)
        same_pixel_total += int(same.sum())
        np.testing.assert_allclose(batch.heatmaps[i].numpy()[same],
                                   r['heatmaps'][same], atol=1e-5, rtol=0)
    diffs = np.concatenate(crop_diffs)
    assert diffs.mean() < 0.5, diffs.mean()
    assert (diffs <= 2).mean() >= 0.995, (diffs <= 2).mean()
    # nearly every keypoint lands on the same heatmap pixel, so the heatmap
    # comparison covers them
    assert same_pixel_total >= 0.98 * heatmaps_total


def test_warp_matrices_are_mmposes():
    from mmpose.structures.bbox import get_udp_warp_matrix, get_warp_matrix
    rng = np.random.default_rng(0)
    center = rng.uniform(20, 300, (16, 2)).astype(np.float32)
    scale = rng.uniform(30, 200, (16, 2)).astype(np.float32)
    scale[:, 1] = scale[:, 0]  # TopdownAffine fixes the aspect ratio first
    rot = rng.uniform(-80, 80, 16).astype(np.float32)
    for use_udp, ref in ((False, get_warp_matrix),
                         (True, get_udp_warp_matrix)):
        ours = warp_matrices(torch.from_numpy(center),
                             torch.from_numpy(scale), torch.from_numpy(rot),
                             (48, 48), use_udp=use_udp).numpy()
        for i in range(16):
            np.testing.assert_allclose(
                ours[i], ref(center[i], scale[i], float(rot[i]), (48, 48)),
                rtol=1e-4, atol=1e-3)


# ---------------------------------------------------------------------------
# distributions of the device draws (10,000 samples)

N = 10_000
# 4.5 standard errors of a proportion: a correct sampler fails with
# probability ~7e-6
PROPORTION_Z = 4.5
# Kolmogorov-Smirnov: reject below p = 1e-4 (a correct sampler fails once
# in 10,000 seeds)
KS_P = 1e-4


def _proportion_ok(count, n, p):
    return abs(count / n - p) <= PROPORTION_Z * np.sqrt(p * (1 - p) / n)


@pytest.fixture(scope='module')
def big_batch():
    """10,000 identical fully visible samples (all eligible for half-body)
    in one 100x80 image."""
    from custom_pose.models.data_preprocessors import PackedImages, TopdownBatch
    k = 20
    upper = [0, 1, 2, 3, 4, 5, 7, 8, 9, 12, 13, 16, 17]
    lower = [6, 10, 11, 14, 15, 18, 19]
    gen = torch.Generator().manual_seed(0)
    kpts = torch.rand(k, 2, generator=gen) * 60 + 10

    def make(device='cpu'):
        def t(x):
            return x.to(device)
        return TopdownBatch(
            images=PackedImages(t(torch.zeros(8000, 3, dtype=torch.uint8)),
                                t(torch.zeros(N, dtype=torch.int64)),
                                t(torch.tensor([[80, 100]]).repeat(N, 1))),
            bbox_center=t(torch.tensor([[50.0, 40.0]]).repeat(N, 1)),
            bbox_scale=t(torch.tensor([[60.0, 60.0]]).repeat(N, 1)),
            keypoints=t(kpts.repeat(N, 1, 1)),
            keypoints_visible=t(torch.ones(N, k)),
            flip_indices=t(torch.arange(k).view(-1, 2).flip(-1).reshape(-1)),
            upper_body_ids=t(torch.tensor(upper)),
            lower_body_ids=t(torch.tensor(lower)))
    return make


#: the draws on the CPU, and with a CUDA generator on the GPU
DEVICES = ['cpu', pytest.param('cuda', marks=ON_CUDA)]


def _gen(device, seed):
    return torch.Generator(device=device).manual_seed(seed)


@pytest.mark.parametrize('device', DEVICES)
def test_flip_rate(big_batch, device):
    choice = CustomPoseBatchRandomFlip().sample(big_batch(device),
                                                _gen(device, 1))
    assert choice.device.type == device
    assert set(choice.unique().tolist()) == {-1, 0}
    assert _proportion_ok(int((choice == 0).sum()), N, 0.5)
    three = CustomPoseBatchRandomFlip(
        prob=[0.2, 0.1, 0.3], direction=['horizontal', 'vertical', 'diagonal'])
    choice = three.sample(big_batch(device), _gen(device, 2))
    for i, p in enumerate([0.2, 0.1, 0.3]):
        assert _proportion_ok(int((choice == i).sum()), N, p)


@pytest.mark.parametrize('device', DEVICES)
def test_half_body_rate(big_batch, device):
    transform = CustomPoseBatchRandomHalfBody()
    batch = big_batch(device)
    before = batch.bbox_scale.clone()
    params = transform.sample(batch, _gen(device, 3))
    batch = transform.apply_params(batch, params)
    changed = (batch.bbox_scale != before).any(-1)
    assert _proportion_ok(int(changed.sum()), N, 0.3)
    # among the half-body boxes, the upper body is chosen with p = 0.7
    # (its box is the smaller one here: fewer, clustered keypoints)
    upper_scale = batch.bbox_scale[changed & params.prefer_upper][0]
    upper = int((batch.bbox_scale[changed] == upper_scale).all(-1).sum())
    assert _proportion_ok(upper, int(changed.sum()), 0.7)
    # too few visible keypoints: never
    batch = big_batch(device)
    batch.keypoints_visible[:, 8:] = 0  # 8 < min_total_keypoints=9
    scale = batch.bbox_scale.clone()
    batch = transform(batch, _gen(device, 4))
    assert torch.equal(batch.bbox_scale, scale)


@pytest.mark.parametrize('device', DEVICES)
def test_bbox_transform_distributions(big_batch, device):
    ours = CustomPoseBatchRandomBBoxTransform().sample(
        big_batch(device), _gen(device, 5))
    assert ours.scale.device.type == device
    ours = dataclasses.replace(ours, **{
        f.name: getattr(ours, f.name).cpu() for f in dataclasses.fields(ours)})
    np.random.seed(5)
    mmpose_transform = RandomBBoxTransform()  # (cache_randomness: keep a ref)
    offset, scale, rotate = mmpose_transform._get_transform_params(N)
    truncnorm = stats.truncnorm(-1, 1)

    # scale: always drawn, 1 + 0.5 * N(0,1)|[-1,1]
    s = ours.scale[:, 0].numpy()
    assert 0.5 <= s.min() and s.max() <= 1.5
    assert stats.kstest((s - 1) / 0.5, truncnorm.cdf).pvalue > KS_P
    assert stats.ks_2samp(s, scale[:, 0]).pvalue > KS_P
    # rotation: with p = 0.6, 80 * N(0,1)|[-1,1] degrees
    r = ours.rotate.numpy()
    assert np.abs(r).max() <= 80
    assert _proportion_ok(int((r != 0).sum()), N, 0.6)
    assert stats.kstest(r[r != 0] / 80, truncnorm.cdf).pvalue > KS_P
    assert stats.ks_2samp(r, rotate).pvalue > KS_P
    # shift: with p = 0.3 (both axes together), 0.16 * N(0,1)|[-1,1]
    o = ours.offset.numpy()
    shifted = (o != 0).any(-1)
    assert ((o != 0).all(-1) == shifted).all()
    assert _proportion_ok(int(shifted.sum()), N, 0.3)
    assert np.abs(o).max() <= 0.16
    for axis in range(2):
        assert stats.kstest(o[shifted, axis] / 0.16,
                            truncnorm.cdf).pvalue > KS_P
        assert stats.ks_2samp(o[:, axis], offset[:, axis]).pvalue > KS_P


def test_invalid_arguments_say_what_to_fix():
    with pytest.raises(ValueError, match='flip direction must be one of'):
        CustomPoseBatchRandomFlip(direction='sideways')
    with pytest.raises(ValueError, match=r'sum\(prob\) must be <= 1'):
        CustomPoseBatchRandomFlip(prob=[0.6, 0.6],
                                  direction=['horizontal', 'vertical'])
    with pytest.raises(ValueError, match='scale_factor must be'):
        CustomPoseBatchRandomBBoxTransform(scale_factor=(1.5, 0.5))
    with pytest.raises(ValueError, match='MSRAHeatmap or UDPHeatmap'):
        CustomPoseBatchGenerateTarget(encoder=dict(
            type='RegressionLabel', input_size=(64, 64)))
    with pytest.raises(ValueError, match='must end with'):
        CustomPoseTopdownDataPreprocessor(topdown_transforms=[
            dict(type='CustomPoseBatchGenerateTarget', encoder=MSRA),
            dict(type='CustomPoseBatchTopdownAffine', input_size=(64, 64))
        ])
    with pytest.raises(ValueError, match='input_size must be two'):
        CustomPoseBatchTopdownAffine(input_size=(64, ))
