"""CustomPoseResNet: shapes, parameter counts, torchvision compatibility,
strict pretrained loading and the offline error."""
import os.path as osp
import urllib.error
from urllib.parse import urlparse

import pytest
import torch
import torchvision
from mmengine.runner.checkpoint import get_torchvision_models
from torch.nn.modules.batchnorm import _BatchNorm

from custom_pose.errors import CheckpointError
from custom_pose.models.backbones import (CustomPoseHourglass,
                                          CustomPoseResNet,
                                          PretrainedWeightsUnavailableError)
from mmpose.registry import MODELS

from .conftest import count_params


def _tv_backbone_state(model: torch.nn.Module) -> dict:
    return {k: v for k, v in model.state_dict().items()
            if not k.startswith('fc.')}


def _tv_features(model: torchvision.models.ResNet, x: torch.Tensor):
    x = model.maxpool(model.relu(model.bn1(model.conv1(x))))
    return model.layer4(model.layer3(model.layer2(model.layer1(x))))


def test_param_count_resnet50():
    model = CustomPoseResNet(depth=50)
    assert count_params(model) == 23_508_032
    tv = torchvision.models.resnet50(weights=None)
    tv_no_fc = count_params(tv) - count_params(tv.fc)
    assert tv_no_fc == 23_508_032


@pytest.mark.parametrize('depth,factory', [
    (18, torchvision.models.resnet18),
    (34, torchvision.models.resnet34),
    (50, torchvision.models.resnet50),
    (101, torchvision.models.resnet101),
])
def test_state_dict_layout_matches_torchvision(depth, factory):
    ours = CustomPoseResNet(depth=depth).state_dict()
    theirs = _tv_backbone_state(factory(weights=None))
    assert list(ours) == list(theirs)
    assert all(ours[k].shape == theirs[k].shape for k in ours)


def test_resnet152_small_input():
    model = CustomPoseResNet(depth=152, out_indices=(0, 1, 2, 3)).eval()
    assert count_params(model) == 58_143_808  # torchvision, without fc
    with torch.no_grad():
        outs = model(torch.rand(1, 3, 64, 64))
    assert [tuple(o.shape) for o in outs] == [(1, 256, 16, 16),
                                              (1, 512, 8, 8),
                                              (1, 1024, 4, 4),
                                              (1, 2048, 2, 2)]


def test_stage_shapes_256():
    model = CustomPoseResNet(depth=50, out_indices=(0, 1, 2, 3))
    model.init_weights()
    model.eval()
    with torch.no_grad():
        outs = model(torch.rand(2, 3, 256, 256))
    assert isinstance(outs, tuple)
    assert [tuple(o.shape) for o in outs] == [(2, 256, 64, 64),
                                              (2, 512, 32, 32),
                                              (2, 1024, 16, 16),
                                              (2, 2048, 8, 8)]


@pytest.mark.parametrize('depth,channels', [(18, 512), (34, 512)])
def test_basic_block_small_input(depth, channels):
    model = CustomPoseResNet(depth=depth, out_indices=(1, 3))
    outs = model(torch.rand(2, 3, 64, 64))
    assert isinstance(outs, tuple) and len(outs) == 2
    assert tuple(outs[0].shape) == (2, channels // 4, 8, 8)
    assert tuple(outs[1].shape) == (2, channels, 2, 2)


def test_default_output_is_last_stage_tuple():
    outs = CustomPoseResNet(depth=18)(torch.rand(1, 3, 64, 64))
    assert isinstance(outs, tuple) and len(outs) == 1
    assert tuple(outs[0].shape) == (1, 512, 2, 2)


def test_projection_shortcuts_only_where_shape_changes():
    model = CustomPoseResNet(depth=50)
    for i in range(1, 5):
        layer = getattr(model, f'layer{i}')
        assert layer[0].downsample is not None  # 64->256 or stride 2
        conv = layer[0].downsample[0]
        assert conv.kernel_size == (1, 1)
        assert conv.stride == ((1, 1) if i == 1 else (2, 2))
        assert all(block.downsample is None for block in layer[1:])
    r18 = CustomPoseResNet(depth=18)
    assert r18.layer1[0].downsample is None  # 64 -> 64, stride 1


def test_invalid_args():
    with pytest.raises(ValueError, match=r'depth.*\[18, 34, 50, 101, 152\]'):
        CustomPoseResNet(depth=42)
    with pytest.raises(ValueError, match='out_indices'):
        CustomPoseResNet(depth=18, out_indices=(4, ))
    with pytest.raises(ValueError, match='strides'):
        CustomPoseResNet(depth=18, strides=(1, 2))
    with pytest.raises(ValueError, match='num_stages'):
        CustomPoseResNet(depth=18, num_stages=5)


def test_default_init_and_zero_init_residual():
    model = CustomPoseResNet(depth=50)
    model.init_weights()
    assert torch.all(model.bn1.weight == 1) and torch.all(model.bn1.bias == 0)
    assert torch.all(model.layer1[0].bn1.weight == 1)
    assert torch.all(model.layer2[1].bn3.weight == 0)  # zero_init_residual
    # Kaiming normal, fan_out: std = sqrt(2 / (out_channels * k * k))
    std = model.conv1.weight.std().item()
    assert std == pytest.approx((2 / (64 * 49))**0.5, rel=0.1)

    model = CustomPoseResNet(depth=18, zero_init_residual=False)
    model.init_weights()
    assert torch.all(model.layer1[0].bn2.weight == 1)


def test_frozen_stages_and_norm_eval():
    model = CustomPoseResNet(depth=18, frozen_stages=1)
    model.train()
    for m in (model.conv1, model.bn1, model.layer1):
        assert all(not p.requires_grad for p in m.parameters())
    assert not model.bn1.training
    assert all(not m.training for m in model.layer1.modules())
    assert all(p.requires_grad for p in model.layer2.parameters())
    assert model.layer2[0].bn1.training

    model = CustomPoseResNet(depth=18, norm_eval=True)
    model.train()
    bns = [m for m in model.modules() if isinstance(m, _BatchNorm)]
    assert bns and all(not m.training for m in bns)
    assert model.layer1[0].conv1.weight.requires_grad
    running = model.bn1.running_mean.clone()
    model(torch.rand(2, 3, 32, 32))
    assert torch.equal(model.bn1.running_mean, running)


@pytest.mark.parametrize('depth,factory', [
    (18, torchvision.models.resnet18),
    (50, torchvision.models.resnet50),
])
def test_pretrained_torchvision_file_loads_strictly(tmp_path, depth, factory):
    tv = factory(weights=None)
    # make the BN statistics non-trivial so that buffers are checked too
    for m in tv.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-0.1, 0.1)
            m.running_var.uniform_(0.5, 1.5)
            m.weight.data.uniform_(0.5, 1.5)
    path = tmp_path / f'resnet{depth}_tv.pth'
    torch.save(tv.state_dict(), path)

    model = MODELS.build(
        dict(
            type='CustomPoseResNet',
            depth=depth,
            init_cfg=dict(type='Pretrained', checkpoint=str(path))))
    model.init_weights()
    ours = model.state_dict()
    theirs = _tv_backbone_state(tv)
    assert set(ours) == set(theirs)
    for key, value in theirs.items():
        assert torch.equal(ours[key], value), key
    # zero_init_residual must not override loaded weights
    if depth == 50:
        assert torch.equal(model.layer1[0].bn3.weight, tv.layer1[0].bn3.weight)

    # same features as torchvision's network
    tv.eval()
    model.eval()
    x = torch.rand(1, 3, 64, 64)
    with torch.no_grad():
        assert torch.allclose(model(x)[-1], _tv_features(tv, x), atol=1e-5)


def test_pretrained_missing_keys_is_an_error(tmp_path):
    state = torchvision.models.resnet18(weights=None).state_dict()
    del state['layer3.1.bn2.running_var']
    path = tmp_path / 'broken.pth'
    torch.save(state, path)
    model = CustomPoseResNet(
        depth=18, init_cfg=dict(type='Pretrained', checkpoint=str(path)))
    with pytest.raises(CheckpointError, match=r'missing.*layer3\.1\.bn2'):
        model.init_weights()


def test_pretrained_wrong_depth_is_an_error(tmp_path):
    path = tmp_path / 'r18.pth'
    torch.save(torchvision.models.resnet18(weights=None).state_dict(), path)
    model = CustomPoseResNet(
        depth=34, init_cfg=dict(type='Pretrained', checkpoint=str(path)))
    with pytest.raises(CheckpointError) as excinfo:
        model.init_weights()
    msg = str(excinfo.value)
    assert msg.startswith(f'incompatible pretrained checkpoint {path}: ')
    assert 'a ResNet-18 in the file, a ResNet-34 in the model' in msg
    assert "80 of the model's 216 weights missing (layer1.2.bn1.bias" in msg
    assert "init_cfg.prefix='backbone.'" in msg  # the hint

    # a bottleneck file for a basic-block model: shapes differ, nothing loads
    path50 = tmp_path / 'r50.pth'
    torch.save(torchvision.models.resnet50(weights=None).state_dict(), path50)
    model = CustomPoseResNet(
        depth=18, init_cfg=dict(type='Pretrained', checkpoint=str(path50)))
    before = {k: v.clone() for k, v in model.state_dict().items()}
    with pytest.raises(CheckpointError,
                       match='a ResNet-50 in the file, a ResNet-18 in the '
                       r'model; .* of another shape \(e\.g\. layer1\.0'):
        model.init_weights()
    assert all(torch.equal(before[k], v)
               for k, v in model.state_dict().items())


def test_pretrained_file_into_fewer_stages(tmp_path):
    """A ResNet-101 with 2 stages takes the first two stages of a full
    ResNet-101 file (its blocks alone, [3, 4], are also ResNet-50's); a
    ResNet-50 model still refuses that file."""
    path = tmp_path / 'r101.pth'
    tv = torchvision.models.resnet101(weights=None)
    torch.save(tv.state_dict(), path)
    model = CustomPoseResNet(
        depth=101, num_stages=2, strides=(1, 2), out_indices=(1, ),
        init_cfg=dict(type='Pretrained', checkpoint=str(path)))
    model.init_weights()
    assert torch.equal(model.layer2[3].conv2.weight, tv.layer2[3].conv2.weight)
    model = CustomPoseResNet(
        depth=50, num_stages=2, strides=(1, 2), out_indices=(1, ),
        init_cfg=dict(type='Pretrained', checkpoint=str(path)))
    with pytest.raises(CheckpointError,
                       match='a ResNet-101 in the file, a ResNet-50 in the '
                       'model'):
        model.init_weights()


def test_hourglass_pretrained_loads_strictly(tmp_path):
    """The hourglass shares the strict ``Pretrained`` loading."""
    src = CustomPoseHourglass(out_channels=5, num_stacks=2, feat_channels=16)
    src.init_weights()
    full = {f'backbone.{k}': v for k, v in src.state_dict().items()}
    path = tmp_path / 'hg2.pth'
    torch.save(dict(state_dict=full), path)
    dst = CustomPoseHourglass(
        out_channels=5, num_stacks=2, feat_channels=16,
        init_cfg=dict(type='Pretrained', checkpoint=str(path),
                      prefix='backbone.'))
    dst.init_weights()
    for key, value in src.state_dict().items():
        assert torch.equal(dst.state_dict()[key], value), key

    one_stack = CustomPoseHourglass(
        out_channels=5, num_stacks=1, feat_channels=16,
        init_cfg=dict(type='Pretrained', checkpoint=str(path),
                      prefix='backbone.'))
    with pytest.raises(CheckpointError, match='a 2-stack hourglass in the '
                       'file, a 1-stack hourglass in the model'):
        one_stack.init_weights()


def test_pretrained_missing_local_file(tmp_path):
    model = CustomPoseResNet(
        depth=18,
        init_cfg=dict(
            type='Pretrained', checkpoint=str(tmp_path / 'nope.pth')))
    with pytest.raises(CheckpointError,
                       match=r'model\.backbone\.init_cfg\.checkpoint'):
        model.init_weights()


def test_pretrained_with_prefix_from_full_model_checkpoint(tmp_path):
    src = CustomPoseResNet(depth=18)
    src.init_weights()
    full = {f'backbone.{k}': v for k, v in src.state_dict().items()}
    full['head.final_layer.weight'] = torch.zeros(3, 3)
    path = tmp_path / 'full.pth'
    torch.save(dict(state_dict=full, meta=dict(epoch=1)), path)
    model = CustomPoseResNet(
        depth=18,
        init_cfg=dict(
            type='Pretrained', checkpoint=str(path), prefix='backbone.'))
    model.init_weights()
    for key, value in src.state_dict().items():
        assert torch.equal(model.state_dict()[key], value), key


@pytest.fixture
def offline_empty_hub(tmp_path, monkeypatch):
    """An empty torch hub cache and a download function that fails like an
    offline machine (no real network access is attempted)."""
    monkeypatch.setenv('TORCH_HOME', str(tmp_path / 'torch_home'))
    old_hub_dir = torch.hub.get_dir()
    torch.hub.set_dir(str(tmp_path / 'hub'))
    calls = []

    def _offline_download(url, dst, *args, **kwargs):
        calls.append(url)
        raise urllib.error.URLError(
            '[Errno -3] Temporary failure in name resolution')

    monkeypatch.setattr(torch.hub, 'download_url_to_file', _offline_download)
    yield tmp_path / 'hub', calls
    torch.hub.set_dir(old_hub_dir)


def test_torchvision_weights_offline_clear_error(offline_empty_hub):
    hub_dir, calls = offline_empty_hub
    model = MODELS.build(
        dict(
            type='CustomPoseResNet',
            depth=101,
            init_cfg=dict(
                type='Pretrained', checkpoint='torchvision://resnet101')))
    before = {k: v.clone() for k, v in model.state_dict().items()}
    with pytest.raises(PretrainedWeightsUnavailableError) as excinfo:
        model.init_weights()
    err = excinfo.value
    assert isinstance(err.__cause__, urllib.error.URLError)
    assert len(calls) == 1 and 'resnet101' in calls[0]
    msg = str(err)
    assert '\n' not in msg  # one paragraph
    assert 'torchvision://resnet101' in msg
    assert 'offline' in msg
    assert '--cfg-options model.backbone.init_cfg=None' in msg
    assert 'model.backbone.init_cfg.checkpoint' in msg
    assert calls[0] in msg  # where to download it from
    assert str(hub_dir) in msg  # where the cache would pick it up
    # nothing was loaded
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())


def test_torchvision_weights_from_hub_cache_need_no_network(offline_empty_hub):
    hub_dir, calls = offline_empty_hub
    import hashlib
    url = get_torchvision_models()['resnet18']
    cached = hub_dir / 'checkpoints' / osp.basename(urlparse(url).path)
    cached.parent.mkdir(parents=True)
    tv = torchvision.models.resnet18(weights=None)
    torch.save(tv.state_dict(), cached)
    # random weights: a name with their own SHA-256 prefix, as torchvision's
    sha = hashlib.sha256(cached.read_bytes()).hexdigest()[:8]
    cached = cached.rename(cached.with_name(f'resnet18-{sha}.pth'))
    model = CustomPoseResNet(
        depth=18,
        init_cfg=dict(type='Pretrained',
                      checkpoint=url.rsplit('/', 1)[0] + '/' + cached.name))
    model.init_weights()
    assert calls == []
    for key, value in _tv_backbone_state(tv).items():
        assert torch.equal(model.state_dict()[key], value), key


def test_state_dict_round_trip(tmp_path):
    src = CustomPoseResNet(depth=18, out_indices=(2, 3))
    src.init_weights()
    src.train()
    src(torch.rand(2, 3, 64, 64))  # update BN running statistics
    path = tmp_path / 'r18.pth'
    torch.save(src.state_dict(), path)

    dst = CustomPoseResNet(depth=18, out_indices=(2, 3))
    dst.load_state_dict(torch.load(path), strict=True)
    src.eval()
    dst.eval()
    x = torch.rand(1, 3, 64, 64)
    with torch.no_grad():
        for a, b in zip(src(x), dst(x)):
            assert torch.equal(a, b)
