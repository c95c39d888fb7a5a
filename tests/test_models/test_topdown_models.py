"""Full ``TopdownPoseEstimator`` models built from dict configs: flip-test
prediction, one training step, pretrained init and state-dict round trip."""
import copy

import pytest
import torch
import torchvision
from mmengine.structures import InstanceData, PixelData

from custom_pose.models.backbones import CustomPoseHourglass, CustomPoseResNet
from custom_pose.models.heads import (CustomPoseDeconvHead,
                                      CustomPoseMultiStageHead)
from mmpose.evaluation.functional import pose_pck_accuracy
from mmpose.structures import PoseDataSample

K = 17


def _codec(input_size, heatmap_size, kind='MSRAHeatmap'):
    return dict(
        type=kind, input_size=input_size, heatmap_size=heatmap_size, sigma=2)


def _resnet_cfg(depth=18, **kwargs):
    return dict(type='CustomPoseResNet', depth=depth, **kwargs)


def _deconv_head_cfg(in_channels=512, codec=None, **kwargs):
    return dict(
        type='CustomPoseDeconvHead',
        in_channels=in_channels,
        out_channels=K,
        loss=dict(type='CustomPoseJointsMSELoss', use_target_weight=True),
        decoder=codec or _codec((64, 64), (16, 16)),
        **kwargs)


def _hourglass_cfg(**kwargs):
    cfg = dict(type='CustomPoseHourglass', out_channels=K, num_stacks=2)
    cfg.update(kwargs)
    return cfg


def _multi_stage_head_cfg(num_stages=2, codec=None):
    return dict(
        type='CustomPoseMultiStageHead',
        num_stages=num_stages,
        out_channels=K,
        loss=dict(type='CustomPoseJointsMSELoss', use_target_weight=True),
        decoder=codec or _codec((64, 64), (16, 16)))


def _check_predictions(results, batch_size, heatmap_hw):
    assert len(results) == batch_size
    for sample in results:
        assert sample.pred_instances.keypoints.shape == (1, K, 2)
        assert sample.pred_instances.keypoint_scores.shape == (1, K)
        assert tuple(sample.pred_fields.heatmaps.shape) == (K, *heatmap_hw)
        assert torch.isfinite(sample.pred_fields.heatmaps).all()


FLIP_WITH_HEATMAPS = dict(
    flip_test=True, flip_mode='heatmap', shift_heatmap=True,
    output_heatmaps=True)


def test_resnet50_deconv_flip_predict_256(build_estimator, make_batch):
    model = build_estimator(
        _resnet_cfg(depth=50),
        _deconv_head_cfg(
            in_channels=2048, codec=_codec((256, 256), (64, 64))),
        test_cfg=FLIP_WITH_HEATMAPS)
    assert isinstance(model.backbone, CustomPoseResNet)
    assert isinstance(model.head, CustomPoseDeconvHead)
    model.eval()
    data = make_batch(
        model, batch_size=1, input_size=(256, 256), heatmap_size=(64, 64))
    assert tuple(data['inputs'].shape) == (1, 3, 256, 256)
    with torch.no_grad():
        results = model(**data, mode='predict')
    _check_predictions(results, 1, (64, 64))


def test_hourglass_flip_predict_256(build_estimator, make_batch):
    model = build_estimator(
        _hourglass_cfg(),
        _multi_stage_head_cfg(codec=_codec((256, 256), (64, 64))),
        test_cfg=FLIP_WITH_HEATMAPS)
    assert isinstance(model.backbone, CustomPoseHourglass)
    assert isinstance(model.head, CustomPoseMultiStageHead)
    model.eval()
    data = make_batch(
        model, batch_size=1, input_size=(256, 256), heatmap_size=(64, 64))
    with torch.no_grad():
        results = model(**data, mode='predict')
    _check_predictions(results, 1, (64, 64))


@pytest.mark.parametrize('kind,test_cfg', [
    ('MSRAHeatmap', dict(flip_test=True, shift_heatmap=True)),
    ('UDPHeatmap', dict(flip_test=True, shift_heatmap=False)),
    ('MSRAHeatmap', dict(flip_test=False)),
])
def test_small_predict_codecs(build_estimator, make_batch, kind, test_cfg):
    model = build_estimator(
        _resnet_cfg(), _deconv_head_cfg(codec=_codec((64, 64), (16, 16),
                                                     kind)),
        test_cfg=dict(test_cfg, output_heatmaps=True))
    model.eval()
    data = make_batch(model, batch_size=2)
    with torch.no_grad():
        results = model(**data, mode='predict')
    _check_predictions(results, 2, (16, 16))
    # keypoints are mapped back into the image (the bbox around each input)
    for sample in results:
        center = sample.metainfo['input_center']
        scale = sample.metainfo['input_scale']
        kpts = sample.pred_instances.keypoints[0]
        assert (kpts >= center - 0.6 * scale).all()
        assert (kpts <= center + 0.6 * scale).all()


def _heatmap_pck(model, data) -> float:
    """mmpose's PCK accuracy of the model's (last) heatmaps on the batch,
    computed outside the head's loss."""
    with torch.no_grad():
        heatmaps = model.head.forward(model.extract_feat(data['inputs']))
    if isinstance(heatmaps, tuple):
        heatmaps = heatmaps[-1]
    samples = data['data_samples']
    gt = torch.stack([s.gt_fields.heatmaps for s in samples])
    weights = torch.cat(
        [s.gt_instance_labels.keypoint_weights for s in samples])
    _, acc, _ = pose_pck_accuracy(heatmaps.numpy(), gt.numpy(),
                                  weights.numpy() > 0)
    return acc


def _train_step(model, data):
    model.train()
    params = {n: p.detach().clone() for n, p in model.named_parameters()}
    optim = torch.optim.SGD(model.parameters(), lr=0.1)
    losses = model(**data, mode='loss')
    assert set(losses) == {'loss_kpt', 'acc_pose'}
    assert losses['loss_kpt'].dim() == 0 and losses['loss_kpt'] > 0
    assert losses['acc_pose'].dim() == 0
    assert float(losses['acc_pose']) == pytest.approx(
        _heatmap_pck(model, data))
    optim.zero_grad()
    losses['loss_kpt'].backward()
    optim.step()
    changed = [n for n, p in model.named_parameters()
               if not torch.equal(p, params[n])]
    return losses, changed


def _peaks(peaks, hw=(16, 16)) -> torch.Tensor:
    """(N, K, H, W) heatmaps, 1 at each keypoint's (x, y) and 0 elsewhere."""
    heatmaps = torch.zeros(len(peaks), len(peaks[0]), *hw)
    for n, row in enumerate(peaks):
        for k, (x, y) in enumerate(row):
            heatmaps[n, k, y, x] = 1.0
    return heatmaps


@pytest.mark.parametrize('kind', ['deconv', 'multi_stage'])
def test_acc_pose_on_constructed_heatmaps(kind):
    """acc_pose is the fraction of visible keypoints whose heatmap maximum
    is on the target's pixel, averaged over keypoints: here keypoints 0 and
    1 are found in both samples, 2 is 5 pixels off in both and 3 is not
    labelled (weight 0), so 2 of the 3 counted keypoints: 2/3."""
    gt_peaks = [[(3, 4), (10, 2), (7, 7), (1, 1)],
                [(12, 12), (0, 5), (8, 3), (15, 15)]]
    pred_peaks = [[(3, 4), (10, 2), (12, 7), (9, 9)],
                  [(12, 12), (0, 5), (13, 3), (2, 2)]]
    gt, pred = _peaks(gt_peaks), _peaks(pred_peaks)
    samples = []
    for n in range(2):
        sample = PoseDataSample(metainfo=dict(flip_indices=[0, 1, 2, 3]))
        sample.gt_fields = PixelData(heatmaps=gt[n])
        sample.gt_instance_labels = InstanceData(
            keypoint_weights=torch.tensor([[1.0, 1.0, 1.0, 0.0]]))
        samples.append(sample)
    if kind == 'deconv':
        # no deconvs and an identity 1x1 conv: the heatmaps are the input
        head = CustomPoseDeconvHead(
            in_channels=4, out_channels=4, num_deconv_layers=0)
        with torch.no_grad():
            head.final_layer.weight.copy_(torch.eye(4).view(4, 4, 1, 1))
            head.final_layer.bias.zero_()
        feats = (pred, )
    else:
        # the first stage is perfect: only the last one counts
        head = CustomPoseMultiStageHead(num_stages=2, out_channels=4)
        feats = (gt, pred)
    losses = head.loss(feats, samples)
    assert float(losses['acc_pose']) == pytest.approx(2 / 3)


def test_deconv_model_loss_step(build_estimator, make_batch):
    model = build_estimator(_resnet_cfg(), _deconv_head_cfg())
    data = make_batch(model, batch_size=2, training=True)
    _, changed = _train_step(model, data)
    assert 'head.final_layer.weight' in changed
    assert 'backbone.conv1.weight' in changed
    assert 'backbone.layer4.1.bn2.weight' in changed


def test_hourglass_model_loss_step_sums_stacks(build_estimator, make_batch):
    model = build_estimator(
        _hourglass_cfg(num_stacks=2, feat_channels=32),
        _multi_stage_head_cfg(num_stages=2))
    data = make_batch(model, batch_size=2, training=True)
    model.train()
    with torch.no_grad():
        stage_heatmaps = model.backbone(data['inputs'])
        losses = model(**data, mode='loss')
    samples = data['data_samples']
    gt = torch.stack([s.gt_fields.heatmaps for s in samples])
    w = torch.cat([s.gt_instance_labels.keypoint_weights for s in samples])
    terms = [model.head.loss_module(h, gt, w) for h in stage_heatmaps]
    assert len(terms) == 2
    assert losses['loss_kpt'].item() == pytest.approx(
        sum(t.item() for t in terms), rel=1e-5)

    _, changed = _train_step(model, data)
    assert {'backbone.predictors.0.weight', 'backbone.predictors.1.weight',
            'backbone.merge_preds.0.weight'} <= set(changed)


def test_pretrained_backbone_through_estimator(build_estimator, tmp_path):
    tv = torchvision.models.resnet18(weights=None)
    path = tmp_path / 'resnet18.pth'
    torch.save(tv.state_dict(), path)
    model = build_estimator(
        _resnet_cfg(init_cfg=dict(type='Pretrained', checkpoint=str(path))),
        _deconv_head_cfg())
    state = model.backbone.state_dict()
    for key, value in tv.state_dict().items():
        if not key.startswith('fc.'):
            assert torch.equal(state[key], value), key
    # the head still got its own default init
    assert model.head.final_layer.weight.std().item() < 0.01


@pytest.mark.parametrize('kind', ['deconv', 'hourglass'])
def test_estimator_state_dict_round_trip(build_estimator, make_batch,
                                         tmp_path, kind):
    if kind == 'deconv':
        cfgs = (_resnet_cfg(), _deconv_head_cfg())
    else:
        cfgs = (_hourglass_cfg(feat_channels=32), _multi_stage_head_cfg())
    test_cfg = dict(FLIP_WITH_HEATMAPS)
    src = build_estimator(*cfgs, test_cfg=test_cfg)
    src.train()
    data = make_batch(src, batch_size=2, training=True)
    src(**data, mode='loss')  # move BN running statistics away from init
    path = tmp_path / 'model.pth'
    torch.save(src.state_dict(), path)

    dst = build_estimator(*cfgs, test_cfg=test_cfg, init=False)
    dst.load_state_dict(torch.load(path), strict=True)
    src.eval()
    dst.eval()
    batch = make_batch(src, batch_size=2)
    with torch.no_grad():
        out_src = src(**copy.deepcopy(batch), mode='predict')
        out_dst = dst(**copy.deepcopy(batch), mode='predict')
    for a, b in zip(out_src, out_dst):
        assert torch.equal(a.pred_fields.heatmaps, b.pred_fields.heatmaps)
        assert (a.pred_instances.keypoints == b.pred_instances.keypoints).all()
