"""CustomPoseDeconvHead: shapes, parameter counts, configuration errors,
loss/accuracy and prediction (flip test, MSRA and UDP codecs)."""
import numpy as np
import pytest
import torch
from mmengine.structures import InstanceData, PixelData

from custom_pose.models.backbones import CustomPoseResNet
from custom_pose.models.heads import CustomPoseDeconvHead
from custom_pose.models.losses import CustomPoseJointsMSELoss
from mmpose.evaluation.functional import pose_pck_accuracy
from mmpose.models.utils.tta import flip_heatmaps
from mmpose.registry import KEYPOINT_CODECS, MODELS
from mmpose.structures import PoseDataSample

from .conftest import count_params

MSRA = dict(
    type='MSRAHeatmap', input_size=(64, 64), heatmap_size=(16, 16), sigma=2)
UDP = dict(
    type='UDPHeatmap', input_size=(64, 64), heatmap_size=(16, 16), sigma=2)


def _samples(batch_size: int, num_keypoints: int, heatmap_hw=(16, 16)):
    """Data samples with targets, as mmpose's PackPoseInputs produces."""
    g = torch.Generator().manual_seed(3)
    samples = []
    for i in range(batch_size):
        sample = PoseDataSample(
            metainfo=dict(
                flip_indices=list(range(num_keypoints))[::-1],
                input_size=(64, 64)))
        sample.gt_fields = PixelData(
            heatmaps=torch.rand(num_keypoints, *heatmap_hw, generator=g))
        weights = torch.ones(1, num_keypoints)
        weights[0, i % num_keypoints] = 0
        sample.gt_instance_labels = InstanceData(keypoint_weights=weights)
        samples.append(sample)
    return samples


def test_default_shapes_2048_input():
    head = CustomPoseDeconvHead(in_channels=2048, out_channels=17)
    x = torch.rand(2, 2048, 8, 8)
    shapes = []
    y = x
    for layer in head.deconv_layers:
        y = layer(y)
        if isinstance(layer, torch.nn.ReLU):
            shapes.append(tuple(y.shape))
    assert shapes == [(2, 256, 16, 16), (2, 256, 32, 32), (2, 256, 64, 64)]
    out = head((torch.rand(2, 1024, 16, 16), x))  # uses feats[-1]
    assert tuple(out.shape) == (2, 17, 64, 64)
    deconvs = [m for m in head.modules()
               if isinstance(m, torch.nn.ConvTranspose2d)]
    assert len(deconvs) == 3
    assert all(d.bias is None and d.stride == (2, 2) for d in deconvs)
    assert head.final_layer.kernel_size == (1, 1)
    # default loss
    assert isinstance(head.loss_module, CustomPoseJointsMSELoss)
    assert head.loss_module.use_target_weight


@pytest.mark.parametrize('kernel,padding,output_padding', [(4, 1, 0),
                                                           (3, 1, 1),
                                                           (2, 0, 0)])
def test_deconv_kernels_upsample_exactly_2x(kernel, padding, output_padding):
    head = CustomPoseDeconvHead(
        in_channels=32,
        out_channels=5,
        num_deconv_layers=2,
        num_deconv_filters=(16, 8),
        num_deconv_kernels=(kernel, kernel))
    deconv = head.deconv_layers[0]
    assert deconv.padding == (padding, padding)
    assert deconv.output_padding == (output_padding, output_padding)
    out = head((torch.rand(1, 32, 6, 5), ))
    assert tuple(out.shape) == (1, 5, 24, 20)


def test_no_deconv_extra_convs_and_final_kernel_3():
    head = CustomPoseDeconvHead(
        in_channels=32,
        out_channels=4,
        num_deconv_layers=0,
        conv_out_channels=(24, 16),
        conv_kernel_sizes=(3, 1),
        final_conv_kernel=3)
    assert not any(
        isinstance(m, torch.nn.ConvTranspose2d) for m in head.modules())
    assert head.final_layer.kernel_size == (3, 3)
    assert head.final_layer.padding == (1, 1)
    out = head((torch.rand(2, 32, 7, 9), ))
    assert tuple(out.shape) == (2, 4, 7, 9)
    convs = [m for m in head.conv_layers if isinstance(m, torch.nn.Conv2d)]
    assert [c.out_channels for c in convs] == [24, 16]


def test_param_counts_with_resnet():
    head = CustomPoseDeconvHead(in_channels=2048, out_channels=20)
    r50 = CustomPoseResNet(depth=50)
    total50 = count_params(r50) + count_params(head)
    assert total50 == 34_000_468
    # mmpose's own ResNet-50 + HeatmapHead give exactly the same number
    mm_backbone = MODELS.build(dict(type='ResNet', depth=50))
    mm_head = MODELS.build(
        dict(type='HeatmapHead', in_channels=2048, out_channels=20))
    assert count_params(mm_backbone) + count_params(mm_head) == total50

    total101 = count_params(CustomPoseResNet(depth=101)) + count_params(head)
    assert round(total101 / 1e6, 1) == 53.0


def test_default_init():
    head = CustomPoseDeconvHead(in_channels=64, out_channels=3)
    head.init_weights()
    w = head.final_layer.weight
    assert w.std().item() == pytest.approx(0.001, rel=0.3)
    assert torch.all(head.final_layer.bias == 0)
    bn = head.deconv_layers[1]
    assert torch.all(bn.weight == 1) and torch.all(bn.bias == 0)
    assert head.deconv_layers[0].weight.std().item() == pytest.approx(
        0.001, rel=0.1)


@pytest.mark.parametrize('kwargs,field', [
    (dict(num_deconv_filters=(256, 256)), 'num_deconv_filters'),
    (dict(num_deconv_kernels=(4, 4)), 'num_deconv_kernels'),
    (dict(num_deconv_kernels=(4, 5, 4)), 'num_deconv_kernels'),
    (dict(num_deconv_layers=-1), 'num_deconv_layers'),
    (dict(final_conv_kernel=2), 'final_conv_kernel'),
    (dict(conv_out_channels=(8, ), conv_kernel_sizes=None),
     'conv_kernel_sizes'),
    (dict(conv_out_channels=(8, ), conv_kernel_sizes=(2, )),
     'conv_kernel_sizes'),
    (dict(out_channels=0), 'out_channels'),
])
def test_misconfiguration_raises_value_error(kwargs, field):
    cfg = dict(in_channels=64, out_channels=3)
    cfg.update(kwargs)
    with pytest.raises(ValueError, match=field):
        CustomPoseDeconvHead(**cfg)


def test_loss_and_accuracy():
    head = CustomPoseDeconvHead(
        in_channels=32,
        out_channels=4,
        num_deconv_layers=1,
        num_deconv_filters=(16, ),
        num_deconv_kernels=(4, ))
    head.init_weights()
    feats = (torch.rand(2, 32, 8, 8), )
    samples = _samples(2, 4)
    losses = head.loss(feats, samples)
    assert set(losses) == {'loss_kpt', 'acc_pose'}

    pred = head.forward(feats)
    gt = torch.stack([s.gt_fields.heatmaps for s in samples])
    weights = torch.cat(
        [s.gt_instance_labels.keypoint_weights for s in samples])
    expected = CustomPoseJointsMSELoss(use_target_weight=True)(pred, gt,
                                                               weights)
    assert losses['loss_kpt'].item() == pytest.approx(expected.item())
    _, acc, _ = pose_pck_accuracy(
        pred.detach().numpy(), gt.numpy(), weights.numpy() > 0, thr=0.05)
    assert losses['acc_pose'].item() == pytest.approx(acc)
    losses['loss_kpt'].backward()
    assert head.final_layer.weight.grad.abs().sum() > 0

    no_acc = head.loss(feats, samples, train_cfg=dict(compute_acc=False))
    assert set(no_acc) == {'loss_kpt'}


@pytest.mark.parametrize('codec', [MSRA, UDP], ids=['msra', 'udp'])
def test_predict_decodes_with_codec(codec):
    head = CustomPoseDeconvHead(
        in_channels=32,
        out_channels=5,
        num_deconv_layers=1,
        num_deconv_filters=(16, ),
        num_deconv_kernels=(4, ),
        decoder=codec)
    head.init_weights()
    head.eval()
    feats = (torch.rand(2, 32, 8, 8), )
    with torch.no_grad():
        preds = head.predict(feats, _samples(2, 5))
        heatmaps = head.forward(feats)
    assert len(preds) == 2
    decoder = KEYPOINT_CODECS.build(codec)
    for pred, hm in zip(preds, heatmaps):
        assert pred.keypoints.shape == (1, 5, 2)
        assert pred.keypoint_scores.shape == (1, 5)
        kpts, scores = decoder.decode(hm.numpy())
        np.testing.assert_allclose(pred.keypoints, kpts)
        np.testing.assert_allclose(pred.keypoint_scores, scores)


@pytest.mark.parametrize('shift', [True, False])
def test_flip_test_averages_flipped_heatmaps(shift):
    head = CustomPoseDeconvHead(
        in_channels=32,
        out_channels=5,
        num_deconv_layers=1,
        num_deconv_filters=(16, ),
        num_deconv_kernels=(4, ),
        decoder=MSRA)
    head.init_weights()
    head.eval()
    feats = (torch.rand(2, 32, 8, 8), )
    feats_flip = (torch.rand(2, 32, 8, 8), )
    samples = _samples(2, 5)
    test_cfg = dict(
        flip_test=True,
        flip_mode='heatmap',
        shift_heatmap=shift,
        output_heatmaps=True)
    with torch.no_grad():
        preds, fields = head.predict([feats, feats_flip], samples, test_cfg)
        expected = 0.5 * (
            head.forward(feats) + flip_heatmaps(
                head.forward(feats_flip),
                flip_indices=samples[0].metainfo['flip_indices'],
                flip_mode='heatmap',
                shift_heatmap=shift))
    assert len(preds) == len(fields) == 2
    for field, exp in zip(fields, expected):
        assert tuple(field.heatmaps.shape) == (5, 16, 16)
        assert torch.allclose(field.heatmaps, exp)
    with pytest.raises(ValueError, match='flip_test'):
        head.predict(feats, samples, test_cfg)


def test_predict_without_decoder_is_an_error():
    head = CustomPoseDeconvHead(in_channels=8, out_channels=2,
                                num_deconv_layers=0)
    with pytest.raises(RuntimeError, match='decoder'):
        head.predict((torch.rand(1, 8, 4, 4), ), _samples(1, 2))


def test_registered_build_and_state_dict_round_trip(tmp_path):
    cfg = dict(
        type='CustomPoseDeconvHead',
        in_channels=32,
        out_channels=3,
        num_deconv_layers=2,
        num_deconv_filters=(16, 16),
        num_deconv_kernels=(4, 4))
    src = MODELS.build(cfg)
    src.init_weights()
    src.train()
    src((torch.rand(2, 32, 4, 4), ))  # update BN statistics
    path = tmp_path / 'head.pth'
    torch.save(src.state_dict(), path)
    dst = MODELS.build(cfg)
    dst.load_state_dict(torch.load(path), strict=True)
    src.eval()
    dst.eval()
    x = (torch.rand(1, 32, 4, 4), )
    with torch.no_grad():
        assert torch.equal(src(x), dst(x))
