"""Fixtures shared by the whole suite: paths, and small synthetic datasets."""
import importlib.util
import os
import os.path as osp
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
CONFIG_DIR = REPO_ROOT / 'configs'

#: mmpose 1.3.2's visualizer draws on numpy 1 only: on numpy 2 it fails with
#: ``TypeError`` (``int()`` of a 1-element array), e.g. on a GPU machine's stack.
MMPOSE_CAN_DRAW = int(np.__version__.split('.')[0]) < 2

# Tests run on the CPU with a couple of threads: keep every test predictable.
os.environ.setdefault('OMP_NUM_THREADS', '2')


def load_tool(path) -> ModuleType:
    """Import a script of this checkout (``tools/...``, ``demo/...``; a path
    relative to the repository or absolute) as a module, to call its
    ``main`` in this process."""
    path = REPO_ROOT / path
    spec = importlib.util.spec_from_file_location('tool_' + path.stem,
                                                  str(path))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def subprocess_env(**overrides: str) -> dict:
    """``os.environ`` for a tool run in a subprocess: this checkout first on
    ``PYTHONPATH``, whatever else is there kept (a stack installed outside
    the venv, e.g. the offline one of a GPU machine), plus ``overrides``."""
    path = os.environ.get('PYTHONPATH')
    return dict(os.environ,
                PYTHONPATH=str(REPO_ROOT) + (os.pathsep + path if path else ''),
                **overrides)


def pytest_configure(config):
    import torch
    torch.set_num_threads(min(2, os.cpu_count() or 1))


@pytest.fixture(scope='session', autouse=True)
def _inductor_cache_in_the_session_tmp(tmp_path_factory):
    """torch.compile's cache (about 150 MB a run) in the session's
    temporary folder, removed with it, instead of /tmp/torchinductor_*."""
    os.environ['TORCHINDUCTOR_CACHE_DIR'] = str(
        tmp_path_factory.mktemp('torchinductor'))
    yield
    os.environ.pop('TORCHINDUCTOR_CACHE_DIR', None)


@pytest.fixture(autouse=True)
def _fresh_mmengine_loggers():
    """Forget mmengine's loggers after each test.

    A Runner's logger is named after its config and the second it started,
    and mmengine hands an existing logger of that name back: a second run
    of one config within the same second would log through the first run's
    handler, whose stream is an earlier test's closed capture.
    """
    yield
    from mmengine.logging import MMLogger
    MMLogger._instance_dict.clear()


@pytest.fixture(autouse=True)
def _fresh_visualizers():
    """Forget mmengine's visualizers after each test.

    mmpose's configs name theirs ``'visualizer'``, and mmengine hands an
    existing visualizer of that name back: the next Runner would write its
    ``vis_data`` into an earlier test's ``tmp_path``, removed when that test
    passed.
    """
    yield
    from mmengine.visualization import Visualizer
    todo = [Visualizer]
    while todo:
        cls = todo.pop()
        cls._instance_dict.clear()
        todo.extend(cls.__subclasses__())


@pytest.fixture(scope='session')
def repo_root() -> Path:
    return REPO_ROOT


@pytest.fixture(scope='session')
def synthetic_root(tmp_path_factory) -> Path:
    """A small synthetic Animal-Pose dataset in the original format.

    20 images of 128x128 with one animal each, plus a 12-frame clip; shared
    by every test that only reads it.
    """
    from custom_pose.datasets.synthetic import generate_synthetic_animalpose
    root = tmp_path_factory.mktemp('animalpose_synthetic')
    generate_synthetic_animalpose(
        str(root), num_images=20, seed=0, image_size=(128, 128),
        clip_frames=12)
    return root


def small_train_cfg(cfg, data_root, work_dir, *, batch_size=2, num_images=None):
    """Shrink a config in place to a CPU-sized run on ``data_root``.

    Keeps the model, codec and pipelines of the config; points every
    dataloader at ``data_root`` with batch ``batch_size``, no worker
    processes and a 50/50 split, turns pretrained weights off and logs every
    iteration.
    """
    def _loader(loader):
        loader.batch_size = batch_size
        loader.num_workers = 0
        loader.persistent_workers = False
        loader.dataset.data_root = str(data_root)
        loader.dataset.split_ratio = 0.5

    for key in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        if cfg.get(key):
            _loader(cfg[key])
    if cfg.model.backbone.get('init_cfg', None) is not None:
        cfg.model.backbone.init_cfg = None
    cfg.work_dir = str(work_dir)
    cfg.default_hooks.logger.interval = 1
    cfg.default_hooks.checkpoint.interval = 1
    cfg.log_processor.window_size = 1
    cfg.visualizer.vis_backends = [dict(type='LocalVisBackend')]
    cfg.env_cfg.mp_cfg.mp_start_method = 'fork'
    return cfg


def read_tree(root) -> dict:
    """``{path relative to root: bytes}`` of every file below ``root``."""
    out = {}
    for dirpath, _, files in os.walk(root):
        for name in files:
            path = osp.join(dirpath, name)
            with open(path, 'rb') as f:
                out[osp.relpath(path, root)] = f.read()
    return out


def read_video(path):
    """All frames, fps and (w, h) of a video as OpenCV decodes it."""
    import cv2
    cap = cv2.VideoCapture(str(path))
    assert cap.isOpened(), path
    fps = cap.get(cv2.CAP_PROP_FPS)
    size = (int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)),
            int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT)))
    frames = []
    while True:
        ok, frame = cap.read()
        if not ok:
            break
        frames.append(frame)
    cap.release()
    return frames, fps, size


@pytest.fixture
def config_path():
    def _path(name: str) -> str:
        path = CONFIG_DIR / name
        assert path.is_file(), path
        return str(path)
    return _path


def all_configs():
    """Every runnable config (not the shared ``_base_`` fragments)."""
    return sorted(
        osp.relpath(p, CONFIG_DIR) for p in CONFIG_DIR.rglob('*.py')
        if '_base_' not in p.parts)


@pytest.fixture(scope='session')
def tiny_root(tmp_path_factory) -> Path:
    """Four synthetic images: a 50/50 split gives one batch of 2 each way.

    The same images and ground truth are also a DeepLabCut project of 4
    body parts of its own in ``deeplabcut/`` (for the configs of
    ``configs/custom/``).
    """
    from custom_pose.datasets.synthetic import generate_synthetic_animalpose
    root = tmp_path_factory.mktemp('animalpose_tiny')
    generate_synthetic_animalpose(
        str(root), num_images=4, seed=1, image_size=(96, 96),
        occlusion_prob=0.0, truncation_prob=0.0, with_clip=False,
        formats=('animalpose', 'deeplabcut'))
    return root


def synthetic_data_infos(tmp_path_factory, sizes, num_images, seed=0):
    """mmpose data infos of synthetic animals in images of several sizes:
    ``num_images`` images of each ``(w, h)`` in ``sizes``, each size its own
    dataset (seed ``seed + i``), all samples read with our dataset."""
    from mmengine.registry import init_default_scope
    from mmpose.registry import DATASETS

    from custom_pose.datasets.synthetic import generate_synthetic_animalpose
    init_default_scope('mmpose')
    infos = []
    for i, size in enumerate(sizes):
        root = tmp_path_factory.mktemp(f'infos_{size[0]}x{size[1]}')
        generate_synthetic_animalpose(
            str(root), num_images=num_images, seed=seed + i,
            image_size=tuple(size), with_clip=False)
        dataset = DATASETS.build(
            dict(type='org_animal_pose_dataset', data_root=str(root),
                 ann_file='keypoints.json', data_prefix=dict(img='images/'),
                 split='all', pipeline=[]))
        infos += [dataset.get_data_info(j) for j in range(len(dataset))]
    return infos
