"""The device-side training path end to end: packing and collating, the
device image cache, training through the real Runner without host syncs
between log lines, the deferred checks, and the --amp decision."""
import copy
import math

import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.hooks import Hook
from mmengine.runner import Runner
from torch.overrides import TorchFunctionMode

from mmpose.datasets.transforms import GetBBoxCenterScale
from mmpose.evaluation.functional import pose_pck_accuracy

from conftest import CONFIG_DIR, small_train_cfg, synthetic_data_infos
from custom_pose.datasets.transforms import (CustomPoseLoadImage,
                                             CustomPosePackRawPoseInputs,
                                             custom_pose_topdown_collate)
from custom_pose.engine.amp import (DeviceCapabilities, choose_amp,
                                    configure_amp)
from custom_pose.engine.hooks import NonFiniteLossError
from custom_pose.models.data_preprocessors import (
    CustomPoseTopdownDataPreprocessor, DeviceImageCache)
from custom_pose.models.heads.deconv_head import BaseHeatmapPredictHead

GPUAUG = 'animal/custom_res18_quickstart_synthetic_128x128_gpuaug.py'
STOCK = 'animal/custom_res18_quickstart_synthetic_128x128.py'
CODEC = dict(type='MSRAHeatmap', input_size=(48, 48), heatmap_size=(12, 12),
             sigma=2)


@pytest.fixture(scope='module')
def small_root(tmp_path_factory):
    """12 synthetic images (a 50/50 split: 6 training samples)."""
    from custom_pose.datasets.synthetic import generate_synthetic_animalpose
    root = tmp_path_factory.mktemp('device_training')
    generate_synthetic_animalpose(
        str(root), num_images=12, seed=5, image_size=(80, 64),
        with_clip=False)
    return root


@pytest.fixture(scope='module')
def mixed_infos(tmp_path_factory):
    """Data infos of 6 animals in images of two sizes."""
    return synthetic_data_infos(tmp_path_factory, [(90, 70), (60, 100)],
                                num_images=3, seed=8)


def _pack(infos, loader=None):
    loader = loader or CustomPoseLoadImage()
    pack = CustomPosePackRawPoseInputs()
    return [
        pack(GetBBoxCenterScale()(loader(copy.deepcopy(info))))
        for info in infos
    ]


#: the device path on the GPU: CUDA-only by nature, so skipped elsewhere
ON_CUDA = pytest.mark.skipif(not torch.cuda.is_available(),
                             reason='needs CUDA')
DEVICES = ['cpu', pytest.param('cuda', marks=ON_CUDA)]


def _crop_preprocessor(device='cpu'):
    """Deterministic device pipeline: crop + targets only."""
    return CustomPoseTopdownDataPreprocessor(
        mean=[123.675, 116.28, 103.53],
        std=[58.395, 57.12, 57.375],
        bgr_to_rgb=True,
        topdown_transforms=[
            dict(type='CustomPoseBatchTopdownAffine',
                 input_size=CODEC['input_size']),
            dict(type='CustomPoseBatchGenerateTarget', encoder=CODEC)
        ]).to(device)


def test_collate_packs_images_of_different_sizes(mixed_infos):
    packed = _pack(mixed_infos)
    batch = custom_pose_topdown_collate(packed)
    inputs = batch['inputs']
    sizes = [p['inputs'].shape[:2] for p in packed]
    assert len(set(sizes)) == 2
    assert inputs['img_shape'].tolist() == [list(s) for s in sizes]
    offsets = np.cumsum([0] + [h * w for h, w in sizes[:-1]])
    assert inputs['img_offset'].tolist() == offsets.tolist()
    for p, off, (h, w) in zip(packed, offsets, sizes):
        np.testing.assert_array_equal(
            inputs['img'][off:off + h * w].numpy(),
            p['inputs'].reshape(-1, 3))
    assert inputs['keypoints'].shape == (6, 20, 2)
    assert inputs['cache_slot'].tolist() == [-1] * 6
    assert len(batch['data_samples']) == 6
    assert batch['data_samples'][0].img_path == mixed_infos[0]['img_path']
    # one keypoint definition per batch
    other = copy.deepcopy(packed)
    other[1]['raw_annotations']['flip_indices'] = list(range(20))
    with pytest.raises(ValueError, match='different flip_indices'):
        custom_pose_topdown_collate(other)


def test_uncollated_raw_batch_names_the_collate_fn(mixed_infos):
    from mmengine.dataset import pseudo_collate
    batch = pseudo_collate(_pack(mixed_infos[:2]))
    with pytest.raises(ValueError, match='custom_pose_topdown_collate'):
        _crop_preprocessor()(batch, training=True)


def _cache_for(infos, max_bytes=2**30, device='cpu'):
    """A cache with one slot per image and a loader attached to it."""
    slot_of = {info['img_path']: i for i, info in enumerate(infos)}
    flags = torch.zeros(len(slot_of), dtype=torch.uint8).share_memory_()
    loader = CustomPoseLoadImage()
    loader.attach_image_cache(slot_of, flags)
    return DeviceImageCache(flags, max_bytes, device), loader


@pytest.mark.parametrize('device', DEVICES)
def test_image_cache_serves_the_same_crops(mixed_infos, device):
    reference = _crop_preprocessor(device)
    expected = reference(custom_pose_topdown_collate(_pack(mixed_infos)),
                         training=True)['inputs']
    assert expected.device.type == device

    preprocessor = _crop_preprocessor(device)
    cache, loader = _cache_for(mixed_infos, device=device)
    preprocessor.image_cache = cache
    # first epoch: the loader reads every image, the cache takes them
    first = custom_pose_topdown_collate(_pack(mixed_infos, loader))
    assert (first['inputs']['img_offset'] >= 0).all()
    out = preprocessor(first, training=True)['inputs']
    torch.testing.assert_close(out, expected, rtol=0, atol=0)
    assert cache.num_cached == 6 and cache.cached_flags.tolist() == [1] * 6
    assert cache.nbytes == sum(i['inputs'].size for i in _pack(mixed_infos))
    # later epochs: no image is read, the crops come from the cache
    later = custom_pose_topdown_collate(_pack(mixed_infos[::-1], loader))
    assert later['inputs']['img'].shape[0] == 0
    assert (later['inputs']['img_offset'] == -1).all()
    out = preprocessor(later, training=True)['inputs']
    torch.testing.assert_close(out, expected.flip(0), rtol=0, atol=0)


@pytest.mark.parametrize('device', DEVICES)
def test_full_image_cache_mixes_cached_and_loaded_images(mixed_infos,
                                                         device):
    sizes = [info_img.size for info_img in
             (p['inputs'] for p in _pack(mixed_infos))]
    reference = _crop_preprocessor(device)
    expected = reference(custom_pose_topdown_collate(_pack(mixed_infos)),
                         training=True)['inputs']
    preprocessor = _crop_preprocessor(device)
    # room for the first two images only
    cache, loader = _cache_for(mixed_infos, max_bytes=sizes[0] + sizes[1],
                               device=device)
    preprocessor.image_cache = cache
    preprocessor(custom_pose_topdown_collate(_pack(mixed_infos, loader)),
                 training=True)
    assert cache.cached_flags.tolist() == [1, 1, 0, 0, 0, 0]
    batch = custom_pose_topdown_collate(_pack(mixed_infos, loader))
    assert batch['inputs']['img_offset'].tolist()[:2] == [-1, -1]
    assert (batch['inputs']['img_offset'][2:] >= 0).all()
    out = preprocessor(batch, training=True)['inputs']
    torch.testing.assert_close(out, expected, rtol=0, atol=0)


def _no_validation(cfg):
    cfg.val_cfg = cfg.val_dataloader = cfg.val_evaluator = None
    cfg.default_hooks.checkpoint.pop('save_best', None)
    cfg.default_hooks.checkpoint.pop('rule', None)
    return cfg


def _gpuaug_cfg(root, work_dir, **kw):
    cfg = Config.fromfile(str(CONFIG_DIR / GPUAUG))
    small_train_cfg(cfg, root, work_dir, **kw)
    cfg.randomness = dict(seed=0)
    return _no_validation(cfg)


class _RecordBatches(Hook):
    def __init__(self):
        self.offsets = []

    def before_train_iter(self, runner, batch_idx, data_batch=None):
        self.offsets.append(
            (runner.epoch, data_batch['inputs']['img_offset'].tolist(),
             data_batch['inputs']['img'].shape[0]))


def test_second_epoch_loads_no_image(small_root, tmp_path):
    """Real Runner, cache on (forced on for the CPU too): the first epoch
    decodes each training image once, the second one none."""
    cfg = _gpuaug_cfg(small_root, tmp_path, batch_size=3)
    cfg.train_cfg.max_epochs = 2
    cfg.default_hooks.checkpoint = None
    for hook in cfg.custom_hooks:
        if hook['type'] == 'CustomPoseDeviceImageCacheHook':
            hook['device_types'] = ('cpu', 'cuda')
    runner = Runner.from_cfg(cfg)
    record = _RecordBatches()
    runner.register_hook(record)
    runner.train()
    assert runner.iter == 4
    epochs = {0: [], 1: []}
    for epoch, offsets, pixels in record.offsets:
        epochs[epoch].append((offsets, pixels))
    assert all(min(o) >= 0 and p > 0 for o, p in epochs[0])
    assert all(o == [-1, -1, -1] and p == 0 for o, p in epochs[1])
    assert runner.model.data_preprocessor.image_cache.num_cached == 6
    loss = runner.message_hub.get_scalar('train/loss').data[0]
    assert len(loss) == 4 and np.isfinite(loss).all() and (loss > 0).all()


# ---------------------------------------------------------------------------
# no host syncs in the training step

#: reading a tensor's value on the host: on CUDA each waits for the GPU
SYNC_CALLS = {
    torch.Tensor.item, torch.Tensor.tolist, torch.Tensor.__bool__,
    torch.Tensor.__float__, torch.Tensor.__int__, torch.Tensor.numpy,
    torch.Tensor.cpu
}
#: making a tensor from host data (on CUDA a copy from pageable memory)
HOST_DATA_CALLS = {torch.tensor, torch.as_tensor, torch.Tensor.new_tensor}


def _host_access(func, args, kwargs) -> bool:
    """Whether ``func(*args, **kwargs)`` reads device data on the host or
    copies host data to the device (on a GPU)."""
    if func in SYNC_CALLS or func in HOST_DATA_CALLS:
        return True
    if func in (torch.Tensor.__getitem__, torch.Tensor.__setitem__):
        index = args[1] if isinstance(args[1], tuple) else (args[1], )
        return any(isinstance(i, (list, np.ndarray)) for i in index)
    if func in (torch.Tensor.to, torch.Tensor.cuda):
        targets = list(args[1:]) + list((kwargs or {}).values())
        return any(isinstance(t, (str, torch.device)) for t in targets)
    return False


class _CountHostAccess(TorchFunctionMode):
    """Records the calls that move data between host and device (see
    :func:`_host_access`). Tensors of the data loader's batch are in host
    memory to begin with: reading them, or copying them (pinned) to the
    device, is not counted."""

    def __init__(self, exempt_ids):
        super().__init__()
        self.exempt_ids = exempt_ids
        self.calls = []

    def __torch_function__(self, func, types, args=(), kwargs=None):
        exempt = bool(args) and id(args[0]) in self.exempt_ids
        if not exempt and _host_access(func, args, kwargs):
            self.calls.append(func.__name__)
        return func(*args, **(kwargs or {}))


def _sync_free_cfg(root, work_dir, name):
    cfg = Config.fromfile(str(CONFIG_DIR / name))
    small_train_cfg(cfg, root, work_dir, batch_size=1)
    cfg.default_hooks.logger.interval = 3
    cfg.train_cfg.max_epochs = 1
    cfg.randomness = dict(seed=0)
    _no_validation(cfg)
    cfg.default_hooks.checkpoint = None
    return cfg


class _StepSyncCounter(Hook):
    """Host/device traffic of each training iteration: the mode opens in
    the first before_train_iter hook and closes after the last
    after_train_iter hook."""

    priority = 'HIGHEST'

    def __init__(self):
        self.per_iter = []
        self._mode = None

    def before_train_iter(self, runner, batch_idx, data_batch=None):
        inputs = (data_batch or {}).get('inputs')
        host = {id(v) for v in inputs.values()} if isinstance(inputs,
                                                              dict) else set()
        self._mode = _CountHostAccess(host)
        self._mode.__enter__()

    def close(self):
        self._mode.__exit__(None, None, None)
        self.per_iter.append(self._mode.calls)


class _CloseCounter(Hook):
    priority = 'LOWEST'

    def __init__(self, counter):
        self.counter = counter

    def after_train_iter(self, runner, batch_idx, data_batch=None,
                         outputs=None):
        self.counter.close()


def _train_counting(cfg):
    runner = Runner.from_cfg(cfg)
    counter = _StepSyncCounter()
    runner.register_hook(counter, priority='HIGHEST')
    runner.register_hook(_CloseCounter(counter), priority='LOWEST')
    runner.train()
    return runner, counter.per_iter


def test_training_step_reads_the_device_only_to_log(small_root, tmp_path):
    """6 iterations, logging every 3: with the _gpuaug config the step and
    its hooks neither read a device value on the host nor copy host data to
    the device (besides the batch) on the 4 iterations that do not log, and
    read one batch of values (the logged outputs, the deferred loss check)
    on the 2 that do. The stock config reads every iteration."""
    cfg = _sync_free_cfg(small_root, tmp_path / 'gpuaug', GPUAUG)
    runner, calls = _train_counting(cfg)
    assert runner.iter == 6
    logging = [2, 5]
    for i, c in enumerate(calls):
        if i in logging:
            assert sorted(c) == ['tolist', 'tolist'], (i, c)
        else:
            assert c == [], (i, c)

    stock = _sync_free_cfg(small_root, tmp_path / 'stock', STOCK)
    _, stock_calls = _train_counting(stock)
    assert all(len(c) >= 4 for c in stock_calls), stock_calls


def test_logged_values_equal_mmengines_hook(small_root, tmp_path):
    """Same seeded run with mmengine's RuntimeInfoHook and with ours: the
    message hub holds the same values for every output, and the saved
    checkpoint's copy of it too."""
    hubs = {}
    for hook in ('RuntimeInfoHook', 'CustomPoseRuntimeInfoHook'):
        cfg = _sync_free_cfg(small_root, tmp_path / hook, STOCK)
        cfg.default_hooks.runtime_info = dict(type=hook)
        cfg.default_hooks.checkpoint = dict(type='CheckpointHook',
                                            interval=4, by_epoch=False)
        cfg.randomness = dict(seed=0, deterministic=True)
        runner = Runner.from_cfg(cfg)
        runner.train()
        ckpt = torch.load(tmp_path / hook / 'iter_4.pth', map_location='cpu',
                          weights_only=False)
        hubs[hook] = (runner.message_hub, ckpt['message_hub'])
    (stock, stock_ckpt), (ours, ours_ckpt) = hubs.values()
    keys = ('train/loss', 'train/loss_kpt', 'train/acc_pose', 'train/lr')
    for key in keys:
        expected = stock.get_scalar(key).data[0]
        assert len(expected) == 6
        np.testing.assert_array_equal(ours.get_scalar(key).data[0],
                                      expected)
        # the checkpoint at iteration 4 (logging every 3) has all 4 values
        np.testing.assert_array_equal(
            ours_ckpt['log_scalars'][key].data[0],
            stock_ckpt['log_scalars'][key].data[0])
        assert len(ours_ckpt['log_scalars'][key].data[0]) == 4


def test_deferred_loss_check_names_the_iteration(small_root, tmp_path):
    """A NaN loss from the first iteration: with the check deferred to the
    log interval (here: the epoch end) the error still names iteration 1,
    and no checkpoint is written."""
    cfg = _sync_free_cfg(small_root, tmp_path, GPUAUG)
    cfg.default_hooks.logger.interval = 50
    cfg.default_hooks.checkpoint = dict(type='CheckpointHook', interval=1)
    cfg.model.head.loss.loss_weight = math.nan
    runner = Runner.from_cfg(cfg)
    with pytest.raises(NonFiniteLossError,
                       match=r'Training loss is nan at iteration 1 \(epoch 1,'
                       r' batch 1\).*loss_kpt'):
        runner.train()
    # found after the epoch's last iteration (which the logger logs), before
    # the end-of-epoch checkpoint
    assert runner.iter == 5
    assert not list(tmp_path.glob('*.pth'))


# ---------------------------------------------------------------------------
# acc_pose on the device


def test_acc_pose_on_device_equals_mmposes():
    gen = torch.Generator().manual_seed(0)
    for trial in range(40):
        out = torch.randn(4, 5, 16, 12, generator=gen)
        target = torch.randn(4, 5, 16, 12, generator=gen)
        if trial % 3 == 0:
            target[:, :2] = 0  # no positive maximum: location -1
        if trial % 2 == 0:
            out = target + 0.05 * out  # mostly hits
        weights = (torch.rand(4, 5, generator=gen) > 0.3).float()
        ours = BaseHeatmapPredictHead._pck_accuracy(out, target, weights)
        _, expected, _ = pose_pck_accuracy(out.numpy(), target.numpy(),
                                           weights.numpy() > 0)
        assert ours.dtype == torch.float64
        assert abs(ours.item() - expected) < 1e-12


def test_acc_pose_of_a_constructed_case():
    """Keypoint 0: one hit of two; keypoint 1: one of one; keypoint 2
    masked out everywhere: (0.5 + 1) / 2."""
    target = torch.zeros(2, 3, 20, 20)
    out = torch.zeros(2, 3, 20, 20)
    target[:, :, 10, 10] = 1
    out[0, 0, 10, 10] = 1  # distance 0
    out[1, 0, 10, 13] = 1  # 3 px / 20 = 0.15 > 0.05
    out[0, 1, 11, 10] = 1  # 1 px / 20 = 0.05: not below
    out[1, 1, 10, 10] = 1
    weights = torch.tensor([[1., 0, 0], [1, 1, 0]])
    acc = BaseHeatmapPredictHead._pck_accuracy(out, target, weights)
    assert acc.item() == pytest.approx(0.75)


# ---------------------------------------------------------------------------
# --amp


@pytest.mark.parametrize('caps,expected', [
    (DeviceCapabilities(cuda=False),
     dict(type='CustomPoseAutocastOptimWrapper', dtype='bfloat16')),
    (DeviceCapabilities(cuda=True, compute_capability=(9, 0), name='H200'),
     dict(type='CustomPoseAutocastOptimWrapper', dtype='bfloat16')),
    (DeviceCapabilities(cuda=True, compute_capability=(8, 0), name='A100'),
     dict(type='CustomPoseAutocastOptimWrapper', dtype='bfloat16')),
    (DeviceCapabilities(cuda=True, compute_capability=(7, 0), name='V100'),
     dict(type='AmpOptimWrapper', dtype='float16', loss_scale='dynamic')),
])
def test_amp_choice(caps, expected):
    assert choose_amp(caps) == expected
    cfg = Config(dict(optim_wrapper=dict(
        optimizer=dict(type='Adam', lr=1e-3), clip_grad=dict(max_norm=1.0),
        loss_scale=512.0)))
    message = configure_amp(cfg, caps)
    assert cfg.optim_wrapper.type == expected['type']
    assert cfg.optim_wrapper.dtype == expected['dtype']
    assert cfg.optim_wrapper.optimizer.lr == 1e-3
    assert cfg.optim_wrapper.clip_grad.max_norm == 1.0
    if expected['type'] == 'AmpOptimWrapper':
        assert cfg.optim_wrapper.loss_scale == 512.0  # the config's wins
        assert 'dynamic loss scaling' in message and 'V100' in message
    else:
        assert 'loss_scale' not in cfg.optim_wrapper
        assert 'bf16' in message


def test_amp_refuses_other_wrappers():
    cfg = Config(dict(optim_wrapper=dict(type='OptimWrapperDict')))
    with pytest.raises(ValueError, match='cannot turn OptimWrapperDict'):
        configure_amp(cfg, DeviceCapabilities(cuda=False))


def test_amp_wrapper_trains_the_gpuaug_config_in_bf16(small_root, tmp_path):
    """What --amp picks here builds and trains with the device pipeline:
    the head's output is bf16, the loss finite."""
    cfg = _gpuaug_cfg(small_root, tmp_path, batch_size=3)
    cfg.train_cfg.max_epochs = 1
    cfg.default_hooks.checkpoint = None
    configure_amp(cfg)
    runner = Runner.from_cfg(cfg)
    dtypes = []
    runner.model.head.final_layer.register_forward_hook(
        lambda m, i, o: dtypes.append(o.dtype))
    runner.train()
    expected = (torch.float16 if DeviceCapabilities.detect().cuda
                and not DeviceCapabilities.detect().native_bf16 else
                torch.bfloat16)
    assert dtypes == [expected, expected]
    loss = runner.message_hub.get_scalar('train/loss').data[0]
    assert np.isfinite(loss).all()


def test_gpuaug_checkpoints_fit_the_stock_config():
    """The device pipeline adds no state: a model trained with a _gpuaug
    config loads into its stock config (and back) strictly."""
    from mmengine.registry import init_default_scope
    from mmpose.registry import MODELS
    init_default_scope('mmpose')
    init = dict(init_cfg=None)
    models = []
    for name in (GPUAUG, STOCK):
        cfg = Config.fromfile(str(CONFIG_DIR / name))
        cfg.model.backbone.update(init)
        models.append(MODELS.build(cfg.model))
    gpuaug, stock = models
    assert type(gpuaug.data_preprocessor).__name__ == (
        'CustomPoseTopdownDataPreprocessor')
    stock.load_state_dict(gpuaug.state_dict(), strict=True)
    gpuaug.load_state_dict(stock.state_dict(), strict=True)
    assert gpuaug.state_dict().keys() == stock.state_dict().keys()


# ---------------------------------------------------------------------------
# pinned memory only where the batches go to a GPU

PIN_WARNING = "'pin_memory' argument is set as true"


class _RecordPinned(Hook):
    def __init__(self):
        self.pinned = []

    def before_train_iter(self, runner, batch_idx, data_batch=None):
        self.pinned.append(data_batch['inputs']['img'].is_pinned())


def _train_recording_pins(cfg):
    import warnings
    runner = Runner.from_cfg(cfg)
    record = _RecordPinned()
    runner.register_hook(record)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter('always')
        runner.train()
    messages = [str(w.message) for w in caught]
    return runner, record.pinned, messages


def _pin_cfg(root, work_dir, with_hook=True):
    cfg = _gpuaug_cfg(root, work_dir, batch_size=3)
    cfg.train_cfg.max_epochs = 1
    cfg.default_hooks.checkpoint = None
    assert cfg.train_dataloader.pin_memory is True
    if not with_hook:
        cfg.custom_hooks = [h for h in cfg.custom_hooks
                            if h['type'] != 'CustomPosePinMemoryHook']
    return cfg


@pytest.mark.skipif(torch.cuda.is_available(), reason='the CPU case')
def test_gpuaug_config_trains_on_the_cpu_without_pinning(small_root,
                                                         tmp_path):
    """The _gpuaug config asks for pinned batches (for the GPU); on the CPU
    its CustomPosePinMemoryHook turns that off before the data loader
    starts, so torch does not warn. Without the hook it does."""
    runner, pinned, messages = _train_recording_pins(
        _pin_cfg(small_root, tmp_path / 'hook'))
    assert runner.iter == 2
    assert runner.train_dataloader.pin_memory is False
    assert pinned == [False, False]
    assert not [m for m in messages if PIN_WARNING in m], messages

    _, _, messages = _train_recording_pins(
        _pin_cfg(small_root, tmp_path / 'no_hook', with_hook=False))
    assert [m for m in messages if PIN_WARNING in m]


@pytest.mark.skipif(not torch.cuda.is_available(), reason='needs CUDA')
def test_gpuaug_config_pins_the_batches_on_a_gpu(small_root, tmp_path):
    runner, pinned, messages = _train_recording_pins(
        _pin_cfg(small_root, tmp_path))
    assert runner.model.data_preprocessor.device.type == 'cuda'
    assert runner.train_dataloader.pin_memory is True
    assert pinned == [True, True]
    assert not [m for m in messages if PIN_WARNING in m], messages


def test_pin_memory_hook_arguments():
    from custom_pose.engine.hooks import CustomPosePinMemoryHook
    with pytest.raises(ValueError, match=r"such as \('cuda',\)"):
        CustomPosePinMemoryHook(device_types='cuda')
    assert CustomPosePinMemoryHook(('cuda', 'xpu')).device_types == (
        'cuda', 'xpu')
