"""Every config in configs/ builds and trains one iteration on tiny data
(the configs of configs/custom/ on a DeepLabCut project of the same data)."""
import ast
import os
import subprocess
import sys
import textwrap

import pytest
import torch
from mmengine.config import Config
from mmengine.runner import Runner

from conftest import CONFIG_DIR, all_configs, small_train_cfg
from custom_pose.datasets import resolve_num_keypoints

CONFIGS = all_configs()
CUSTOM_CONFIGS = [c for c in CONFIGS if c.startswith('custom/')]


def test_configs_found():
    names = {c.split('/')[-1] for c in CONFIGS}
    for expected in ('custom_res101_animalpose_256x256.py',
                     'custom_res50_animalpose_256x256.py',
                     'custom_res152_animalpose_256x256.py',
                     'custom_hourglass2_animalpose_256x256.py',
                     'custom_hourglass8_animalpose_256x256.py',
                     'custom_hrnet_w32_animalpose_256x256.py',
                     'custom_res18_quickstart_synthetic_128x128.py',
                     'custom_res18_keypoints_128x128.py',
                     'custom_res50_keypoints_256x256.py',
                     'custom_res101_keypoints_256x256.py',
                     'custom_hourglass2_keypoints_256x256.py'):
        assert expected in names


@pytest.mark.parametrize('name', CONFIGS)
def test_config_trains_one_iteration(name, tiny_root, tmp_path):
    cfg = Config.fromfile(str(CONFIG_DIR / name))
    assert cfg.custom_imports.imports == ['custom_pose']
    custom = name in CUSTOM_CONFIGS
    small_train_cfg(cfg, tiny_root / 'deeplabcut' if custom else tiny_root,
                    tmp_path)
    # what the tools do on loading a config: open keypoint counts (None)
    # become the dataset's, given ones are checked against it
    assert resolve_num_keypoints(cfg) == (4 if custom else 20)
    cfg.train_cfg.max_epochs = 1
    cfg.train_cfg.val_interval = 10
    # writing a ResNet-152 + Adam checkpoint (~0.8 GB) is not what this tests
    cfg.default_hooks.checkpoint = None
    runner = Runner.from_cfg(cfg)
    before = {k: v.clone() for k, v in runner.model.state_dict().items()
              if v.dtype.is_floating_point}
    runner.train()
    assert runner.iter == 1
    loss = runner.message_hub.get_scalar('train/loss').current()
    assert torch.isfinite(torch.tensor(loss)) and loss > 0
    after = runner.model.state_dict()
    changed = sum(not torch.equal(before[k], after[k]) for k in before)
    assert changed > len(before) // 2, 'the optimizer step changed too little'


def _model_delete_keys(path) -> list:
    """``(line, key)`` of every ``_delete_`` inside the file's ``model = ...``
    (keyword ``_delete_=...`` or dict key ``'_delete_'``)."""
    found = []
    for node in ast.parse(path.read_text()).body:
        if not (isinstance(node, ast.Assign) and any(
                getattr(t, 'id', None) == 'model' for t in node.targets)):
            continue
        for sub in ast.walk(node.value):
            if isinstance(sub, ast.keyword) and sub.arg == '_delete_':
                found.append((sub.value.lineno, '_delete_'))
            elif isinstance(sub, ast.Constant) and sub.value == '_delete_':
                found.append((sub.lineno, '_delete_'))
    return found


def test_model_delete_keys_are_found(tmp_path):
    """The check below sees both spellings of ``_delete_``."""
    bad = tmp_path / 'bad.py'
    bad.write_text("model = dict(backbone=dict(_delete_=True, type='X'),\n"
                   "             head={'_delete_': True, 'type': 'Y'})\n")
    assert _model_delete_keys(bad) == [(1, '_delete_'), (2, '_delete_')]


@pytest.mark.parametrize('name', sorted(
    str(p.relative_to(CONFIG_DIR)) for p in CONFIG_DIR.rglob('*.py')))
def test_no_config_deletes_an_inherited_model(name):
    """Each architecture has its fragment in configs/_base_/models/: no
    config inherits another architecture's config and deletes its
    backbone or head with ``_delete_=True``."""
    assert _model_delete_keys(CONFIG_DIR / name) == [], name


@pytest.mark.parametrize('name', CONFIGS)
def test_dataloaders_read_the_top_level_data_root(name):
    cfg = Config.fromfile(str(CONFIG_DIR / name))
    roots = {
        key: cfg[key].dataset.data_root
        for key in ('train_dataloader', 'val_dataloader', 'test_dataloader')
    }
    assert roots == dict.fromkeys(roots, cfg.data_root), (name, roots)


@pytest.mark.parametrize('name', CUSTOM_CONFIGS)
def test_custom_configs_follow_the_data(name):
    """One data_root / ann_file for the three loaders, the keypoint count
    left to the data, the pixel error beside COCO AP and PCK."""
    cfg = Config.fromfile(str(CONFIG_DIR / name))
    loaders = [cfg[k].dataset for k in
               ('train_dataloader', 'val_dataloader', 'test_dataloader')]
    assert {d.type for d in loaders} == {'CustomPoseKeypointDataset'}
    assert [d.ann_file for d in loaders] == [cfg.ann_file] * 3
    assert cfg.num_keypoints is None
    counts = [cfg.model.head.get('out_channels'),
              cfg.model.backbone.get('out_channels')]
    assert None in counts and 20 not in counts, counts
    assert [m['type'] for m in cfg.test_evaluator] == [
        'CocoMetric', 'CustomPosePCKMetric', 'CustomPosePixelErrorMetric']
    assert 'CustomPoseKeypointCheckHook' in [h['type']
                                             for h in cfg.custom_hooks]


def test_config_with_custom_imports_from_unrelated_cwd(tmp_path, config_path):
    """A fresh interpreter in an unrelated directory: reading the config
    imports custom_pose (custom_imports) and builds its registered modules."""
    script = textwrap.dedent(f'''
        import sys
        from mmengine.config import Config
        from mmengine.registry import init_default_scope
        assert 'custom_pose' not in sys.modules
        cfg = Config.fromfile({config_path('animal/custom_res50_animalpose_256x256.py')!r})
        assert 'custom_pose' in sys.modules, 'custom_imports did not import it'
        init_default_scope(cfg.default_scope)
        from mmpose.registry import MODELS
        backbone = MODELS.build(dict(cfg.model.backbone, init_cfg=None))
        print(type(backbone).__module__, type(backbone).__name__)
        head = MODELS.build(cfg.model.head)
        print(type(head).__name__)
    ''')
    # a bare environment; a PYTHONPATH is kept, as the stack may be there
    # (the offline stack of a GPU machine), but nothing adds this checkout
    env = {'PATH': '/usr/bin:/bin', 'HOME': str(tmp_path)}
    if os.environ.get('PYTHONPATH'):
        env['PYTHONPATH'] = os.environ['PYTHONPATH']
    out = subprocess.run([sys.executable, '-c', script], cwd=tmp_path,
                         capture_output=True, text=True, timeout=300, env=env)
    assert out.returncode == 0, out.stderr[-3000:]
    lines = out.stdout.split()
    assert lines[:2] == ['custom_pose.models.backbones.resnet', 'CustomPoseResNet']
    assert lines[2] == 'CustomPoseDeconvHead'


def test_registered_names_are_ours():
    import custom_pose  # noqa: F401
    from mmpose.registry import DATASETS, HOOKS, METRICS, MODELS, OPTIM_WRAPPERS
    ours = {
        MODELS: ['CustomPoseResNet', 'CustomPoseDeconvHead',
                 'CustomPoseHourglass', 'CustomPoseMultiStageHead',
                 'CustomPoseJointsMSELoss'],
        DATASETS: ['OrgAnimalPoseDataset', 'org_animal_pose_dataset',
                   'CustomPoseKeypointDataset'],
        METRICS: ['CustomPosePCKMetric', 'CustomPoseDumpPredictions',
                  'CustomPosePixelErrorMetric'],
        HOOKS: ['CustomPoseInvalidLossHook', 'CustomPoseKeypointCheckHook'],
        OPTIM_WRAPPERS: ['CustomPoseAutocastOptimWrapper'],
    }
    for registry, names in ours.items():
        for name in names:
            cls = registry.get(name)
            assert cls is not None, name
            assert cls.__module__.startswith('custom_pose.'), (name, cls)
    # mmpose's own modules are untouched
    assert MODELS.get('ResNet').__module__.startswith('mmpose.')
    assert MODELS.get('HeatmapHead').__module__.startswith('mmpose.')


def test_hourglassnet_config_is_the_benchmark_counterpart():
    """The README and docs/benchmark.md point users of our 8-stack hourglass
    who need speed to this config: it must be the model the benchmark
    measured."""
    from custom_pose.benchmark import MODEL_SPECS
    spec = MODEL_SPECS['hourglass8']
    cfg = Config.fromfile(
        str(CONFIG_DIR / 'animal/custom_hourglassnet2_animalpose_256x256.py'))
    assert cfg.model.backbone.to_dict() == spec.mmpose_backbone
    head = cfg.model.head.to_dict()
    head.pop('loss'), head.pop('decoder')
    assert head == spec.mmpose_head
