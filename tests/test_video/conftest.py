"""Pose models for the tracking and ONNX tests: configs of the repository
shrunk to CPU size, random weights saved as mmengine checkpoints (nothing is
downloaded or trained)."""
import os.path as osp

import pytest
import torch

CONFIG_DIR = osp.join(osp.dirname(__file__), '..', '..', 'configs', 'animal')
RES18 = osp.join(CONFIG_DIR, 'custom_res18_quickstart_synthetic_128x128.py')
HOURGLASS = osp.join(CONFIG_DIR, 'custom_hourglass2_animalpose_256x256.py')


def _set_input_size(cfg, input_size, heatmap_size):
    codec = dict(type='MSRAHeatmap', input_size=input_size,
                 heatmap_size=heatmap_size, sigma=2)
    cfg.model.head.decoder = codec
    for loader in (cfg.val_dataloader, cfg.test_dataloader):
        for t in loader.dataset.pipeline:
            if t['type'] == 'TopdownAffine':
                t['input_size'] = input_size


def write_pose_model(out_dir, name, config, options=None, input_size=None,
                     heatmap_size=None, seed=0):
    """Dump ``config`` (with ``options`` merged) to ``out_dir/name.py`` and
    save a randomly initialised model of it with the config's dataset
    metainfo as ``name.pth``."""
    from mmengine.config import Config
    from mmengine.registry import init_default_scope
    from mmengine.runner import save_checkpoint
    from mmpose.apis.inference import dataset_meta_from_config
    from mmpose.models.builder import build_pose_estimator

    import custom_pose  # noqa: F401

    cfg = Config.fromfile(config)
    cfg.merge_from_dict(dict(options or {}))
    if input_size is not None:
        _set_input_size(cfg, input_size, heatmap_size)
    cfg_path = osp.join(str(out_dir), f'{name}.py')
    cfg.dump(cfg_path)
    init_default_scope('mmpose')
    torch.manual_seed(seed)
    model = build_pose_estimator(cfg.model)
    model.init_weights()
    ckpt_path = osp.join(str(out_dir), f'{name}.pth')
    save_checkpoint(
        dict(state_dict=model.state_dict(),
             meta=dict(dataset_meta=dataset_meta_from_config(cfg, 'train'))),
        ckpt_path)
    return cfg_path, ckpt_path


@pytest.fixture(scope='session')
def res18_files(tmp_path_factory):
    """The quickstart ResNet-18 (128x128 input, 20 keypoints)."""
    return write_pose_model(tmp_path_factory.mktemp('res18'), 'res18', RES18)


@pytest.fixture(scope='session')
def hourglass_files(tmp_path_factory):
    """A tiny 2-stack hourglass: 32 features, depth 2, 64x64 input."""
    return write_pose_model(
        tmp_path_factory.mktemp('hourglass'), 'hourglass_tiny', HOURGLASS,
        {'model.backbone.feat_channels': 32,
         'model.backbone.stem_channels': 16,
         'model.backbone.hourglass_depth': 2},
        input_size=(64, 64), heatmap_size=(16, 16))


@pytest.fixture(scope='session')
def res18_model(res18_files):
    from custom_pose.apis import init_pose_model
    return init_pose_model(*res18_files, device='cpu')
