"""The benchmark's ``train-e2e`` section: mmengine's Runner trains mmpose's
stock setup, our stock config and our ``_gpuaug`` config side by side (on
CUDA where present, else on the CPU), in quick mode.

Structure and consistency only: speed lives in the benchmark, never in
tests.
"""
import json

import pytest
import torch

from conftest import CONFIG_DIR
from custom_pose import benchmark as bm
from custom_pose.benchmark.sections import train_e2e
from custom_pose.engine.amp import DeviceCapabilities

DEVICE = 'cuda' if torch.cuda.is_available() else 'cpu'
PATHS = ['mmpose', 'ours', 'ours_gpuaug']


@pytest.fixture(scope='module')
def e2e_report(tmp_path_factory):
    out = tmp_path_factory.mktemp('train_e2e')
    threads = torch.get_num_threads()
    report = bm.run_benchmark(bm.Options(
        sections=('train-e2e', ), quick=True, threads=1, device=DEVICE,
        out_dir=str(out), config_dir=str(CONFIG_DIR)))
    # the input-path measurement leaves the thread settings as they were
    assert torch.get_num_threads() == threads
    return report, out


def test_rows_are_consistent(e2e_report):
    report, _ = e2e_report
    section = report['sections']['train-e2e']
    assert 'train-e2e' not in bm.default_sections()  # slow: only when named
    assert section['device'] == DEVICE
    rows = section['rows']
    assert [(r['model'], r['path']) for r in rows] == [
        ('res18_128', p) for p in PATHS]
    batch, iters = section['batch'], section['iters']
    assert (batch, iters, section['warmup']) == (2, 2, 1)  # --quick
    mmpose_ips = rows[0]['images_per_s']
    for r in rows:
        assert (r['batch'], r['iters'], r['precision']) == (batch, iters,
                                                            'fp32')
        assert r['seconds'] > 0
        # every figure from the same timed window
        assert r['images_per_s'] == pytest.approx(batch * iters /
                                                  r['seconds'], rel=1e-12)
        assert r['step_ms'] == pytest.approx(1e3 * r['seconds'] / iters,
                                             rel=1e-12)
        assert r['data_time_share'] == pytest.approx(
            r['data_time_s'] / r['seconds'], rel=1e-12)
        # the waits for data lie inside the window, with the steps
        assert 0 < r['data_time_s'] < r['seconds']
        assert r['ratio_vs_mmpose'] == pytest.approx(
            r['images_per_s'] / mmpose_ips, rel=1e-12)
        # the whole run (warm-up, profiled step, set-up) outlasts the window
        assert r['run_s'] > r['seconds'] + r['profile_step_ms'] / 1e3
        prof = r['profile']
        assert prof['sort_by'] == ('device' if DEVICE == 'cuda' else 'cpu')
        assert len(prof['top']) == 8 and r['profile_step_ms'] > 0
        if DEVICE == 'cpu':
            # the profiled step is a training step: convolutions and their
            # gradients lead
            assert {'aten::convolution_backward', 'aten::mkldnn_convolution'
                    } <= {p['op'] for p in prof['top']}
            assert r['gpu_busy'] is None and r['gpu_busy_source'] == 'n/a (cpu)'
            assert r['gpu_kernel_share'] is None
        else:
            assert r['gpu_busy'] is not None
            assert r['gpu_busy_source'] in ('NVML', 'torch.cuda.utilization')
            assert r['gpu_kernel_share'] == pytest.approx(
                prof['device_total_ms'] / r['profile_step_ms'])
            assert prof['device_total_ms'] > 0
    # the stock pipelines decode every image of every step
    assert rows[0]['decoded_per_step'] == rows[1]['decoded_per_step'] == batch
    gpuaug = rows[2]
    if DEVICE == 'cpu':  # no device image cache on the CPU
        assert gpuaug['images_cached'] is None
        assert gpuaug['decoded_per_step'] == batch
    else:  # the 4 iterations see every image: the cache holds them all
        assert gpuaug['images_cached'] == section['images'] == 4
        assert gpuaug['decoded_per_step'] <= batch


def test_input_path_table(e2e_report):
    report, _ = e2e_report
    ip = report['sections']['train-e2e']['input_path']
    assert ip['model'] == 'res18_128'
    assert ip['setup']['threads'] == 1
    assert ip['setup']['num_samples'] == 4  # --quick
    assert list(ip['paths']) == ['cpu_pipeline', 'load_only',
                                 'load_only_cached', 'device_augment']
    for row in ip['paths'].values():
        assert row['samples_per_s'] > 0
        assert row['ms_per_sample'] * row['samples_per_s'] == pytest.approx(
            1000)


def test_report_and_summary(e2e_report):
    report, out = e2e_report
    saved = json.loads((out / 'benchmark.json').read_text())
    assert list(saved['sections']) == ['train-e2e']
    rows = saved['sections']['train-e2e']['rows']
    md = (out / 'benchmark.md').read_text()
    number = bm.section_number('train-e2e')
    assert f'### {number}. End-to-end training (mmengine Runner, {DEVICE})' \
        in md
    for r in rows:
        assert (f'| res18_128 | {r["path"]} | fp32 | '
                f'{r["images_per_s"]:.1f} |') in md
    assert '| load_only_cached: the same with every image in the device ' \
        'cache |' in md
    gpuaug = rows[2]
    assert report['summary'][
        'train-e2e res18_128 ours_gpuaug fp32: vs mmpose'] == (
            f'{gpuaug["ratio_vs_mmpose"]:.2f}')
    readme = bm.render_readme_summary(report)
    ratio = f'{gpuaug["ratio_vs_mmpose"]:.2f}'
    assert (f'| end-to-end training (Runner), _gpuaug config vs mmpose | '
            f'{ratio} .. {ratio} |') in readme


def test_bad_settings_say_what_to_fix(tmp_path):
    opts = dict(sections=('train-e2e', ), quick=True, device=DEVICE,
                out_dir=str(tmp_path), config_dir=str(CONFIG_DIR))
    with pytest.raises(ValueError, match=r"paths \['ours_fast'\]: expected "
                       r"some of \['mmpose', 'ours', 'ours_gpuaug'"):
        bm.run_benchmark(bm.Options(e2e_paths=('ours', 'ours_fast'), **opts))
    with pytest.raises(FileNotFoundError,
                       match="'hourglass8' has no _gpuaug config"):
        bm.run_benchmark(bm.Options(models=('hourglass8', ),
                                    explicit=('models', ), **opts))
    # nothing was trained or written
    assert not (tmp_path / 'train_e2e').exists()


@pytest.mark.skipif(not torch.cuda.is_available(), reason='needs CUDA')
def test_cpu_device_on_a_gpu_machine_is_refused(tmp_path):
    with pytest.raises(ValueError, match='Run it with --device cuda'):
        bm.run_benchmark(bm.Options(
            sections=('train-e2e', ), quick=True, device='cpu',
            out_dir=str(tmp_path), config_dir=str(CONFIG_DIR)))


def test_probe_needs_a_warmup_iteration():
    with pytest.raises(ValueError, match='warmup and iters must be >= 1'):
        train_e2e.ThroughputProbe(0, 5, 'cpu')


def test_path_configs(tmp_path):
    """What each path trains: mmpose's model or ours, the _gpuaug config
    with or without its image cache or with torch.compile, one epoch of
    the repeated synthetic data, mixed precision as each side's --amp."""
    ctx = bm.BenchmarkContext(bm.Options(
        config_dir=str(CONFIG_DIR), out_dir=str(tmp_path), device=DEVICE,
        data_images=4,
        data_image_size=(96, 96), e2e_batch=3, e2e_workers=0, e2e_amp=True))
    cfgs, precisions = {}, {}
    for path in train_e2e.E2E_PATHS:
        cfgs[path], precisions[path] = train_e2e.e2e_config(
            ctx, 'res18_128', path, total_iters=5, num_samples=4)
    assert (cfgs['mmpose'].model.backbone.type,
            cfgs['mmpose'].model.head.type) == ('ResNet', 'HeatmapHead')
    assert cfgs['ours'].model.backbone.type == 'CustomPoseResNet'
    assert cfgs['ours'].model.data_preprocessor.type == 'PoseDataPreprocessor'
    gpuaug = cfgs['ours_gpuaug']
    assert gpuaug.model.data_preprocessor.type == (
        'CustomPoseTopdownDataPreprocessor')

    def hooks(cfg):
        return [h['type'] for h in cfg.custom_hooks]

    assert 'CustomPoseDeviceImageCacheHook' in hooks(gpuaug)
    assert hooks(cfgs['ours_gpuaug_nocache']) == [
        h for h in hooks(gpuaug) if h != 'CustomPoseDeviceImageCacheHook']
    assert (gpuaug.compile, cfgs['ours_gpuaug_compile'].compile) == (False,
                                                                     True)
    for path, cfg in cfgs.items():
        loader = cfg.train_dataloader
        assert (loader.batch_size, loader.num_workers,
                loader.persistent_workers) == (3, 0, False)
        # 5 iterations of 3 from 4 samples: one epoch of the data x 4
        assert loader.num_batch_per_epoch == 5
        assert (loader.dataset.type, loader.dataset.times) == (
            'RepeatDataset', 4)
        assert loader.dataset.dataset.split == 'all'
        assert cfg.val_dataloader is None and cfg.default_hooks.checkpoint \
            is None
        assert cfg.model.backbone.get('init_cfg') is None
        # mmpose's --amp: AmpOptimWrapper (fp16) on CUDA; ours: bf16 where
        # the GPU has it natively, and on the CPU
        caps = DeviceCapabilities.detect()
        expected = ('fp16' if path == 'mmpose' and caps.cuda else
                    'bf16' if not caps.cuda or caps.native_bf16 else 'fp16')
        assert precisions[path] == expected, path
