"""Fast numeric paths (custom_pose.models.utils.fast_inference), mixed
precision training on CPU, and the benchmark tool's report structure.

Numeric tolerances, not timings: speed goals live in
``tools/analysis_tools/benchmark.py``, never in tests.

The keypoint checks run on a ResNet-18 SimpleBaseline (the quickstart
config, 128x128 input) whose head is fitted to a few synthetic crops
(``fit_heatmap_tail``), so that its heatmaps have sharp peaks as a trained
model's have: with random weights the arg-max of the flat heatmaps is
decided by rounding noise and a keypoint comparison measures nothing.
"""
import copy
import json
import math

import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.registry import init_default_scope
from torch import nn

import custom_pose  # noqa: F401  (registers our modules)
from conftest import MMPOSE_CAN_DRAW, REPO_ROOT, load_tool, small_train_cfg
from custom_pose.models.utils import (autocast_context, autocast_forward,
                                      compile_model, fuse_conv_bn,
                                      keypoint_deviation,
                                      prepare_for_inference, to_channels_last)
from custom_pose import benchmark as bm
from mmpose.registry import MODELS

QUICKSTART = REPO_ROOT / 'configs' / 'animal' / \
    'custom_res18_quickstart_synthetic_128x128.py'
BENCHMARK = REPO_ROOT / 'tools' / 'analysis_tools' / 'benchmark.py'
TRAIN = REPO_ROOT / 'tools' / 'train.py'


def _randomize_bn(model: nn.Module, seed: int = 0) -> None:
    """Non-trivial BN statistics and affine parameters (BN folding with the
    initial (0, 1) statistics would hardly change anything)."""
    g = torch.Generator().manual_seed(seed)
    for m in model.modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm):
            n = m.num_features
            m.running_mean.copy_(torch.rand(n, generator=g) - 0.5)
            m.running_var.copy_(torch.rand(n, generator=g) * 1.5 + 0.5)
            m.weight.data.copy_(torch.rand(n, generator=g) + 0.5)
            m.bias.data.copy_(torch.rand(n, generator=g) * 0.4 - 0.2)


def _keypoints(model, data, flip):
    """(N, K, 2) keypoints (image pixels) and (N, 1) image -> input pixel
    factors of ``model.test_step``."""
    model.test_cfg = dict(model.test_cfg, flip_test=flip)
    with torch.no_grad():
        out = model.test_step(data)
    return bm.keypoints_of(out)


@pytest.fixture(scope='module')
def fitted(synthetic_root):
    """The quickstart model (seeded weights), BN statistics of 4 synthetic
    crops, its head fitted to them; with the crops (targets included)."""
    init_default_scope('mmpose')
    cfg = Config.fromfile(str(QUICKSTART))
    spec = bm.MODEL_SPECS['res18_128']
    data = bm.make_batch(
        bm.build_dataset(cfg, str(synthetic_root), bm.fit_pipeline(cfg)), 4)
    model = bm.build_model(bm.model_cfg_for(spec, 'ours', cfg), 'cpu', 0)
    bm.calibrate_bn(model, data)
    fit = bm.fit_heatmap_tail(model, data, max_steps=150, amp=True)
    return model.eval(), data, fit, cfg


def test_fitted_model_has_sharp_correct_peaks(fitted):
    """The fixture's model predicts the labelled keypoints of its crops
    (so the checks below compare real peaks, not noise)."""
    model, data, fit, _ = fitted
    assert fit['loss_end'] < 0.2 * fit['loss_zero']
    kpts, factors = _keypoints(model, data, flip=False)
    gt = np.stack([s.gt_instances.keypoints[0] for s in data['data_samples']])
    mask = bm.labelled_mask(data)
    dev = keypoint_deviation(gt[mask], kpts[mask],
                             np.broadcast_to(factors, mask.shape)[mask])
    assert dev['median'] < 4.0  # input px; one heatmap pixel is 4


def test_fuse_conv_bn_same_heatmaps_and_keypoints(fitted):
    model, data, _, _ = fitted
    model = copy.deepcopy(model)
    _randomize_bn(model.backbone)
    fused = fuse_conv_bn(model)
    # every BN of ResNet and of the deconv head follows a conv: all folded
    assert fused._custom_pose_fused_bn == 23
    assert not any(
        isinstance(m, nn.modules.batchnorm._BatchNorm)
        for m in fused.modules())
    assert any(isinstance(m, nn.modules.batchnorm._BatchNorm)
               for m in model.modules())  # not in place by default
    inputs = model.data_preprocessor(data, False)['inputs']
    with torch.no_grad():
        ref = model.head.forward(model.extract_feat(inputs))
        out = fused.head.forward(fused.extract_feat(inputs))
    scale = ref.abs().max()
    torch.testing.assert_close(out, ref, atol=1e-4 * float(scale), rtol=1e-4)
    for flip in (False, True):
        ref_k, _ = _keypoints(model, data, flip)
        out_k, _ = _keypoints(fused, data, flip)
        np.testing.assert_allclose(out_k, ref_k, atol=1e-3)


@pytest.mark.parametrize('backbone', [
    dict(type='CustomPoseHourglass', out_channels=20, num_stacks=2,
         feat_channels=32, stem_channels=16),
    dict(type='ResNet', depth=18),
])
def test_fuse_conv_bn_other_backbones(backbone):
    """Hourglass (pre-activation: only the BNs that follow a conv fold) and
    mmpose's own ResNet (mmcv-style names) give the same outputs."""
    init_default_scope('mmpose')
    torch.manual_seed(0)
    model = MODELS.build(backbone)
    model.init_weights()
    _randomize_bn(model, seed=1)
    model.eval()
    fused = fuse_conv_bn(model)
    left = sum(isinstance(m, nn.modules.batchnorm._BatchNorm)
               for m in fused.modules())
    total = sum(isinstance(m, nn.modules.batchnorm._BatchNorm)
                for m in model.modules())
    assert fused._custom_pose_fused_bn == total - left > 0
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        ref, out = model(x), fused(x)
    for r, o in zip(ref, out):
        torch.testing.assert_close(
            o, r, atol=1e-4 * float(r.abs().max()), rtol=1e-4)


def test_fuse_conv_transpose_bn_groups():
    """BN after a grouped ConvTranspose2d folds into the right channels."""
    torch.manual_seed(0)
    net = nn.Sequential(
        nn.ConvTranspose2d(4, 6, 4, stride=2, padding=1, groups=2,
                           bias=True), nn.BatchNorm2d(6))
    _randomize_bn(net)
    net.eval()
    x = torch.randn(2, 4, 5, 5)
    with torch.no_grad():
        ref = net(x)
        out = fuse_conv_bn(net)(x)
    torch.testing.assert_close(out, ref, atol=1e-5, rtol=1e-5)


def test_channels_last_same_results(fitted):
    model, data, _, _ = fitted
    cl = to_channels_last(copy.deepcopy(model))
    assert cl.backbone.conv1.weight.is_contiguous(
        memory_format=torch.channels_last)
    inputs = model.data_preprocessor(data, False)['inputs']
    with torch.no_grad():
        ref = model.head.forward(model.extract_feat(inputs))
        out = cl.head.forward(cl.extract_feat(inputs))
    torch.testing.assert_close(
        out, ref, atol=1e-4 * float(ref.abs().max()), rtol=1e-4)
    for flip in (False, True):
        np.testing.assert_allclose(
            _keypoints(cl, data, flip)[0],
            _keypoints(model, data, flip)[0],
            atol=1e-3)


@pytest.mark.parametrize('flip', [False, True])
def test_bf16_keypoints_within_1px(fitted, flip):
    """bf16 autocast (with BN folding and channels-last, the benchmark's
    fastest CPU path): labelled keypoints within 1 px (mean, model-input
    pixels) of fp32; the heatmaps the head returns are fp32."""
    model, data, _, _ = fitted
    fast = prepare_for_inference(
        model, fuse_bn=True, channels_last=True, amp=True)
    inputs = model.data_preprocessor(data, False)['inputs']
    with torch.no_grad():
        assert fast.head.forward(fast.extract_feat(inputs)).dtype == \
            torch.float32
        # autocast really is on inside: the backbone output is bf16
        assert fast.extract_feat(inputs)[-1].dtype == torch.bfloat16
    ref, factors = _keypoints(model, data, flip)
    out, _ = _keypoints(fast, data, flip)
    mask = bm.labelled_mask(data)
    dev = keypoint_deviation(ref[mask], out[mask],
                             np.broadcast_to(factors, mask.shape)[mask])
    assert dev['mean'] < 1.0, dev
    assert dev['frac_le_1px'] > 0.5, dev


def test_autocast_forward_survives_deepcopy_and_keeps_state_dict(fitted):
    model, data, _, _ = fitted
    keys = list(model.state_dict())
    wrapped = autocast_forward(copy.deepcopy(model), 'cpu')
    assert list(wrapped.state_dict()) == keys
    copied = copy.deepcopy(wrapped)
    inputs = model.data_preprocessor(data, False)['inputs'][:1]
    with torch.no_grad():
        # the copy runs its own weights under autocast
        copied.head.final_layer.bias.data.add_(1.0)
        a = wrapped.head.forward(wrapped.extract_feat(inputs))
        b = copied.head.forward(copied.extract_feat(inputs))
    assert a.dtype == b.dtype == torch.float32
    # +1 on the last conv's bias, up to bf16 rounding of the outputs
    assert float((b - a).median()) == pytest.approx(1.0, abs=0.01)
    with pytest.raises(ValueError, match='bfloat16'):
        autocast_forward(copy.deepcopy(model), 'cpu', dtype=torch.float16)


def test_heads_accept_bf16_heatmaps_under_outer_autocast(fitted):
    """What AmpOptimWrapper does (autocast around the whole step): our
    heads' loss/accuracy and predict work on bf16 heatmaps."""
    model, data, _, _ = fitted
    model = copy.deepcopy(model).train()
    with torch.no_grad():
        ref = copy.deepcopy(model)(
            **model.data_preprocessor(data, True), mode='loss')
    with autocast_context('cpu'):
        batch = model.data_preprocessor(data, True)
        losses = model(**batch, mode='loss')
    assert torch.isfinite(losses['loss_kpt'])
    # the fixture's head is fitted to these crops: in fp32 the maximum of
    # nearly every labelled keypoint's heatmap is on the target's pixel
    # (0.99 here); bf16 heatmaps, compared in fp32, find the same ones up to
    # a rounding tie or two (one keypoint of the 20 is 0.05)
    assert float(ref['acc_pose']) > 0.9
    assert float(losses['acc_pose']) == pytest.approx(
        float(ref['acc_pose']), abs=0.1)
    model.eval()
    with torch.no_grad(), autocast_context('cpu'):
        out = model.test_step(data)
    assert np.isfinite(out[0].pred_instances.keypoints).all()


def test_compile_model_same_outputs_and_names():
    """Opt-in torch.compile: the compiled forward gives the eager outputs,
    the state-dict keys do not change (a tiny network: compiling takes
    seconds per layer on 2 cores)."""

    class Tiny(nn.Module):

        def __init__(self):
            super().__init__()
            self.backbone = nn.Sequential(
                nn.Conv2d(3, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU())

    torch.manual_seed(0)
    model = Tiny().eval()
    keys = list(model.state_dict())
    x = torch.randn(1, 3, 8, 8)
    with torch.no_grad():
        ref = model.backbone(x)
    compiled = compile_model(copy.deepcopy(model))
    assert compiled.backbone._custom_pose_compiled
    assert list(compiled.state_dict()) == keys
    import torch._dynamo.utils as dynamo_utils
    dynamo_utils.counters.clear()
    with torch.no_grad():
        out = compiled.backbone(x)
    assert dynamo_utils.counters['stats']['unique_graphs'] >= 1
    torch.testing.assert_close(out, ref, atol=1e-5, rtol=1e-5)


def test_keypoint_deviation():
    ref = np.zeros((2, 3, 2))
    other = ref.copy()
    other[0, 0] = (3.0, 4.0)
    dev = keypoint_deviation(ref, other, px_per_unit=0.5)
    assert dev['max'] == pytest.approx(2.5)
    assert dev['mean'] == pytest.approx(2.5 / 6)
    assert dev['frac_le_1px'] == pytest.approx(5 / 6)
    with pytest.raises(ValueError, match='same shape'):
        keypoint_deviation(ref, other[:1])


def test_train_amp_bf16_on_cpu(tmp_path, tiny_root):
    """``tools/train.py --amp`` on a CPU machine: the optim wrapper it sets
    trains one epoch of the quickstart config in bf16 autocast; the loss is
    finite and the weights change. (On a CUDA machine --amp means bf16
    autocast where the GPU has native bf16, else fp16 with loss scaling.)"""
    train_tool = load_tool(TRAIN)
    cfg = Config.fromfile(str(QUICKSTART))
    small_train_cfg(cfg, tiny_root, tmp_path / 'work', batch_size=2)
    cfg.train_cfg.max_epochs = 1
    cfg.randomness = dict(seed=0)
    args = train_tool.parse_args([
        str(QUICKSTART), '--amp', '--no-validate', '--work-dir',
        str(tmp_path / 'work')
    ])
    cfg = train_tool.merge_args(cfg, args)
    if torch.cuda.is_available():  # bf16 from Ampere on, else fp16
        from custom_pose.engine.amp import DeviceCapabilities
        bf16 = DeviceCapabilities.detect().native_bf16
        assert cfg.optim_wrapper.type == (
            'CustomPoseAutocastOptimWrapper' if bf16 else 'AmpOptimWrapper')
        expected = torch.bfloat16 if bf16 else torch.float16
    else:
        assert cfg.optim_wrapper.type == 'CustomPoseAutocastOptimWrapper'
        assert cfg.optim_wrapper.dtype == 'bfloat16'
        expected = torch.bfloat16

    from mmengine.runner import Runner
    runner = Runner.from_cfg(cfg)
    dtypes = []
    runner.model.head.final_layer.register_forward_hook(
        lambda m, i, o: dtypes.append(o.dtype))
    before = {
        k: v.detach().clone()
        for k, v in runner.model.state_dict().items()
        if v.is_floating_point()
    }
    runner.train()
    loss = runner.message_hub.get_scalar('train/loss').current()
    assert math.isfinite(loss)
    assert dtypes and all(d == expected for d in dtypes)
    after = runner.model.state_dict()
    changed = [k for k, v in before.items() if not torch.equal(v, after[k])]
    assert 'backbone.conv1.weight' in changed
    assert 'head.final_layer.weight' in changed


def test_benchmark_quick_report(tmp_path):
    """The benchmark's --quick run on a tiny subset writes the JSON and
    Markdown reports with every section's structure (timings not checked)."""
    tool = load_tool(BENCHMARK)
    out = tmp_path / 'bench'
    status = tool.main([
        '--quick', '--fast-paths', '--threads', '1', '--out-dir', str(out),
        '--sections', 'train,infer,data,video,flops', '--infer-variants',
        'fp32,bf16+fuse+cl', '--train-variants', 'fp32,bf16+cl',
        '--data-workers', '0', '--profile'
    ])
    assert status == 0
    report = json.loads((out / 'benchmark.json').read_text())
    md = (out / 'benchmark.md').read_text()
    assert report['machine']['cpu'] and report['machine']['torch']
    assert report['settings']['threads'] == 1
    sections = report['sections']
    assert set(sections) == {'train', 'infer', 'data', 'video', 'flops'}

    train = sections['train']
    assert [r['variant'] for r in train] == ['fp32', 'bf16+cl']
    for r in train:
        assert r['model'] == 'res18_128'
        assert r['ours']['images_per_s'] > 0
        assert r['mmpose']['images_per_s'] > 0
        assert r['ratio'] == pytest.approx(
            r['ours']['images_per_s'] / r['mmpose']['images_per_s'])
    assert math.isfinite(train[1]['check']['loss_rel_diff'])
    for side in ('ours', 'mmpose'):
        prof = train[0]['profile'][side]
        # the operator classes split the profiled time between them
        assert sum(prof['classes'].values()) == pytest.approx(
            prof['total_ms'], rel=1e-6)
        assert prof['classes']['conv'] > 0
        assert prof['top'][0]['self_ms'] <= prof['total_ms']
    # bf16 rounds activations and gradients to 8 bits of mantissa (0.4 %);
    # through ResNet-18 the gradient stays parallel to fp32's (0.9989 here;
    # res50/101 0.9997 in the benchmark), above the 0.99 goal, while a
    # wrong gradient (another parameter order, a missing backward) is near 0
    assert train[1]['check']['grad_cosine'] > bm.MIN_TRAIN_GRAD_COSINE
    assert train[1]['check']['within_goal'] is True

    infer = sections['infer']
    assert {(r['batch'], r['flip_test'], r['variant'])
            for r in infer} == {(b, f, v) for b in (1, 2)
                                for f in (False, True)
                                for v in ('fp32', 'bf16+fuse+cl')}
    for r in infer:
        assert r['ours']['latency_ms'] > 0 and r['ratio'] > 0
        if r['variant'] != 'fp32':
            dev = r['check']['kpt_dev_input_px']['labelled']
            assert {'mean', 'max', 'within_goal'} <= set(dev)

    data = sections['data']
    assert [r['workers'] for r in data['rows']] == [0]
    assert data['rows'][0]['samples_per_s'] > 0
    assert 'TopdownAffine' in {t['transform']
                               for t in data['transform_profile']}

    video = sections['video']
    assert video['status'] == 'ok'
    pipelines = {r['pipeline']: r for r in video['rows']}
    plain = 'ours_demo --no-fuse-conv-bn --no-channels-last'
    ort = 'ours_demo --backend onnxruntime'  # the checkpoint as ONNX
    # mmpose's loop with its visualizer only where that can draw (numpy 1)
    drawn = {'mmpose'} if MMPOSE_CAN_DRAW else set()
    assert set(pipelines) == drawn | {
        bm.MMPOSE_NO_DRAW, 'ours_demo', plain, 'ours_demo --amp', ort
    }
    assert (video['mmpose_draw_error'] is None) == MMPOSE_CAN_DRAW
    assert video['onnx'].endswith('.onnx')
    assert all(r['frames'] == 4 and r['fps'] > 0
               for r in pipelines.values())
    # same checkpoint and fp32 (BN folded or not, or onnxruntime): the
    # demo's keypoints are mmpose's
    for key in ('ours_demo', plain, ort):
        assert pipelines[key]['kpt_dev_vs_mmpose_input_px']['mean'] < 0.5
    assert 'kpt_dev_vs_mmpose_input_px' in pipelines['ours_demo --amp']

    flops = {r['side']: r for r in sections['flops']}
    assert set(flops) == {'ours', 'mmpose'}
    # same architecture on both sides: same parameter and FLOP counts
    assert flops['ours']['params_m'] == pytest.approx(
        flops['mmpose']['params_m'], rel=1e-6)
    assert flops['ours']['gflops'] == flops['mmpose']['gflops']

    for title in ('### 1. Training step', '### 2. Inference',
                  '### 3. Training data pipeline', '### 4. Video demo',
                  '### 5. Parameters and FLOPs', '### Profiles', 'Machine:'):
        assert title in md
    assert '| res18_128 |' in md


def test_foreign_load_counts_other_processes():
    """The benchmark's load accounting sees a busy child process (about one
    core)."""
    import subprocess
    import sys
    start = bm.cpu_snapshot()
    if start is None:
        pytest.skip('no /proc on this system')
    busy = subprocess.Popen([
        sys.executable, '-c',
        'import time\nt = time.time()\nwhile time.time() - t < 1.5: pass'
    ])
    busy.wait()
    end = bm.cpu_snapshot()
    assert bm.foreign_load(start, end) > 0.5
    # a reversed pair of snapshots gives no figure
    assert bm.foreign_load(end, start) is None


def test_summary_counts_only_fast_paths_whose_check_passes():
    """A training fast path whose gradients drift from fp32 (cosine below
    the goal) is not a "checked" speed-up, however fast it is."""

    def row(model, variant, ratio_fp32, cos=None):
        r = dict(model=model, variant=variant, batch=8, ratio=1.0,
                 ratio_vs_mmpose_fp32=ratio_fp32)
        if cos is not None:
            r['check'] = dict(grad_cosine=cos, loss_rel_diff=0.0)
        return r

    rows = [
        row('a', 'fp32', 1.0),
        row('a', 'fp32+cl', 1.2, cos=0.9999),
        row('a', 'bf16+cl', 2.5, cos=0.9995),
        row('b', 'fp32', 0.5),
        row('b', 'fp32+cl', 0.7, cos=0.997),
        row('b', 'bf16+cl', 1.9, cos=0.86),
    ]
    summary = bm.summarize_sections(dict(train=rows))
    key = 'train: best checked fast path of ours vs mmpose fp32, min .. max '\
        'over rows'
    assert summary[key] == '0.70 .. 2.50'
    md = bm.render_markdown(dict(
        machine=bm.machine_info('cpu'), created='now', command='-',
        settings=dict(threads=1, device='cpu', iters=1, warmup=0),
        summary=summary,
        sections=dict(train=[dict(r, input=[256, 256], ours=dict(
            images_per_s=1.0), mmpose=dict(images_per_s=1.0)) for r in rows])))
    assert md.count('(fails)') == 1
