"""CustomPoseHourglass and CustomPoseMultiStageHead."""
import pytest
import torch
from mmengine.structures import InstanceData, PixelData

from custom_pose.models.backbones import CustomPoseHourglass
from custom_pose.models.backbones.hourglass import (HourglassModule,
                                                    PreActBottleneck,
                                                    add_upsampled_nearest)
from custom_pose.models.heads import CustomPoseMultiStageHead
from custom_pose.models.losses import CustomPoseJointsMSELoss
from mmpose.registry import MODELS
from mmpose.structures import PoseDataSample

from .conftest import count_params


def test_shapes_256_two_stacks():
    model = CustomPoseHourglass(out_channels=17, num_stacks=2)
    model.init_weights()
    model.eval()
    x = torch.rand(1, 3, 256, 256)
    with torch.no_grad():
        stem = model.stem(x)
        outs = model(x)
    assert tuple(stem.shape) == (1, 256, 64, 64)
    assert isinstance(outs, tuple) and len(outs) == 2
    assert all(tuple(o.shape) == (1, 17, 64, 64) for o in outs)


def test_hourglass_visits_64_to_4_and_back():
    hg = HourglassModule(depth=4, channels=8, num_blocks=1,
                         norm_cfg=dict(type='BN'))
    sizes = []
    hooks = [
        m.register_forward_hook(
            lambda mod, inp, out: sizes.append(tuple(out.shape[-2:])))
        for m in hg.modules() if isinstance(m, torch.nn.MaxPool2d)
    ]
    out = hg(torch.rand(2, 8, 64, 64))
    for h in hooks:
        h.remove()
    assert sizes == [(32, 32), (16, 16), (8, 8), (4, 4)]
    assert tuple(out.shape) == (2, 8, 64, 64)


@pytest.mark.parametrize('num_stacks', [1, 2, 4, 8])
def test_num_stacks_small_input(num_stacks):
    model = CustomPoseHourglass(
        out_channels=5, num_stacks=num_stacks, feat_channels=16).eval()
    with torch.no_grad():
        outs = model(torch.rand(2, 3, 64, 64))
    assert len(outs) == num_stacks
    assert all(tuple(o.shape) == (2, 5, 16, 16) for o in outs)
    # merge convs only between stacks
    assert len(model.merge_feats) == len(model.merge_preds) == num_stacks - 1


def test_num_blocks_adds_residuals():
    one = CustomPoseHourglass(out_channels=3, num_stacks=1, feat_channels=32)
    two = CustomPoseHourglass(
        out_channels=3, num_stacks=1, feat_channels=32, num_blocks=2)
    n_res = sum(isinstance(m, PreActBottleneck) for m in one.modules())
    n_res2 = sum(isinstance(m, PreActBottleneck) for m in two.modules())
    # 3 stem residuals; 13 per depth-4 hourglass and 1 after it per block
    assert n_res == 3 + 14
    assert n_res2 == 3 + 2 * 14
    assert count_params(two) > count_params(one)
    assert tuple(two(torch.rand(2, 3, 64, 64))[0].shape) == (2, 3, 16, 16)


def test_pre_activation_bottleneck():
    block = PreActBottleneck(16, 32)
    assert block.conv1.out_channels == 16  # expansion 2
    assert block.skip is not None and block.skip.kernel_size == (1, 1)
    assert PreActBottleneck(32, 32).skip is None
    x = torch.rand(2, 16, 8, 8)
    block.eval()
    expected = block.skip(x) + block.conv3(
        torch.relu(block.bn3(block.conv2(
            torch.relu(block.bn2(block.conv1(torch.relu(block.bn1(x)))))))))
    assert torch.allclose(block(x), expected)


@pytest.mark.parametrize('kwargs,field', [
    (dict(num_stacks=3), 'num_stacks'),
    (dict(num_stacks=0), 'num_stacks'),
    (dict(num_blocks=0), 'num_blocks'),
    (dict(feat_channels=33), 'feat_channels'),
    (dict(out_channels=0), 'out_channels'),
])
def test_invalid_args(kwargs, field):
    cfg = dict(out_channels=3)
    cfg.update(kwargs)
    with pytest.raises(ValueError, match=field):
        CustomPoseHourglass(**cfg)


def _samples(n, k, hw=(16, 16)):
    samples = []
    for i in range(n):
        s = PoseDataSample(metainfo=dict(flip_indices=list(range(k))))
        s.gt_fields = PixelData(heatmaps=torch.rand(k, *hw))
        w = torch.ones(1, k)
        w[0, i % k] = 0
        s.gt_instance_labels = InstanceData(keypoint_weights=w)
        samples.append(s)
    return samples


def test_multi_stage_head_loss_sums_stages():
    head = MODELS.build(
        dict(type='CustomPoseMultiStageHead', num_stages=3, out_channels=4))
    assert count_params(head) == 0
    feats = tuple(torch.rand(2, 4, 16, 16) for _ in range(3))
    samples = _samples(2, 4)
    losses = head.loss(feats, samples)
    gt = torch.stack([s.gt_fields.heatmaps for s in samples])
    w = torch.cat([s.gt_instance_labels.keypoint_weights for s in samples])
    loss_fn = CustomPoseJointsMSELoss(use_target_weight=True)
    terms = [loss_fn(f, gt, w) for f in feats]
    assert losses['loss_kpt'].item() == pytest.approx(
        sum(t.item() for t in terms))
    assert losses['loss_kpt'].item() > max(t.item() for t in terms)
    # accuracy of the last stage
    acc_last = head._pck_accuracy(feats[-1], gt, w)
    assert losses['acc_pose'].item() == pytest.approx(acc_last.item())

    with pytest.raises(ValueError, match='num_stages'):
        head.loss(feats[:2], samples)
    with pytest.raises(ValueError, match='out_channels'):
        head.forward(tuple(torch.rand(2, 5, 16, 16) for _ in range(3)))


def test_multi_stage_head_predicts_last_stage():
    codec = dict(
        type='MSRAHeatmap', input_size=(64, 64), heatmap_size=(16, 16),
        sigma=2)
    head = CustomPoseMultiStageHead(decoder=codec)
    first = torch.zeros(1, 2, 16, 16)
    last = torch.zeros(1, 2, 16, 16)
    first[0, :, 2, 3] = 1.0   # would decode near (3, 2) in heatmap pixels
    last[0, 0, 10, 12] = 1.0  # decodes near (12, 10) -> input 4x
    last[0, 1, 5, 6] = 1.0
    preds, fields = head.predict((first, last), _samples(1, 2),
                                 dict(output_heatmaps=True))
    assert torch.equal(fields[0].heatmaps, last[0])
    kpts = preds[0].keypoints[0]
    assert kpts[0] == pytest.approx([48, 40], abs=1.0)
    assert kpts[1] == pytest.approx([24, 20], abs=1.0)


@pytest.mark.parametrize('num_stacks', [4])
def test_gradients_reach_every_parameter(num_stacks):
    model = CustomPoseHourglass(
        out_channels=4, num_stacks=num_stacks, feat_channels=16)
    model.init_weights()
    model.train()
    head = CustomPoseMultiStageHead(num_stages=num_stacks)
    losses = head.loss(model(torch.rand(2, 3, 64, 64)), _samples(2, 4))
    losses['loss_kpt'].backward()
    unused = [n for n, p in model.named_parameters()
              if p.grad is None or p.grad.abs().sum() == 0]
    assert unused == []
    # every stack's predictor is trained (intermediate supervision)
    assert all(p.weight.grad.abs().sum() > 0 for p in model.predictors)


@pytest.mark.parametrize('memory_format',
                         [torch.contiguous_format, torch.channels_last])
@pytest.mark.parametrize('size', [(8, 6), (5, 7)])
def test_add_upsampled_nearest_matches_interpolate(memory_format, size):
    """The broadcasting 2x2 add (and its fallback for other sizes) gives
    what ``x + F.interpolate(low, mode='nearest')`` gives, forward and
    backward."""
    import torch.nn.functional as F
    torch.manual_seed(0)
    low_hw = (4, 3) if size == (8, 6) else (3, 2)
    x = torch.randn(2, 5, *size).contiguous(memory_format=memory_format)
    low = torch.randn(2, 5, *low_hw).contiguous(memory_format=memory_format)
    x1, low1 = x.clone().requires_grad_(), low.clone().requires_grad_()
    x2, low2 = x.clone().requires_grad_(), low.clone().requires_grad_()
    ref = x1 + F.interpolate(low1, size=size, mode='nearest')
    out = add_upsampled_nearest(x2 * 1.0, low2)  # in place on a non-leaf
    assert torch.equal(out, ref)
    grad = torch.randn_like(ref)
    ref.backward(grad)
    out.backward(grad)
    torch.testing.assert_close(low2.grad, low1.grad)
    torch.testing.assert_close(x2.grad, x1.grad)
