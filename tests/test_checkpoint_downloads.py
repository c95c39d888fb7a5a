"""Downloaded checkpoints (URLs, ``torchvision://`` names, torch hub's
cache) are read with safe loading and checked against the hash in their
name, through mmengine's ``CheckpointLoader`` and the package's loaders."""
import hashlib
import http.server
import os.path as osp
import threading
from functools import partial
from pathlib import Path

import pytest
import torch
from mmengine.config import Config
from mmengine.model import BaseModule
from mmengine.runner import load_checkpoint
from mmengine.runner.checkpoint import get_torchvision_models

from custom_pose.errors import (  # importing custom_pose registers the loaders
    CheckpointError, CustomPoseError)
from custom_pose.utils.checkpoint import load_checkpoint_file
from conftest import CONFIG_DIR


class _Crafted:
    """Unpickled without safe loading, creates the file ``marker``."""

    def __init__(self, marker: Path):
        self.marker = str(marker)

    def __reduce__(self):
        return (exec, (f'open({self.marker!r}, "w").close()', ))


def _write_crafted(path: Path, marker: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({'state_dict': {'weight': torch.ones(2, 2)},
                'extra': _Crafted(marker)}, path)
    return path


def _one_line_refusal(excinfo, *names: str) -> str:
    msg = str(excinfo.value)
    assert isinstance(excinfo.value, CustomPoseError)
    assert '\n' not in msg
    assert 'weights_only=False' not in msg  # never torch's unsafe advice
    for name in names:
        assert name in msg, (name, msg)
    return msg


@pytest.fixture
def hub(tmp_path, monkeypatch):
    """An empty torch hub cache under ``tmp_path``; yields its
    ``checkpoints`` folder."""
    monkeypatch.setenv('TORCH_HOME', str(tmp_path / 'torch_home'))
    old = torch.hub.get_dir()
    torch.hub.set_dir(str(tmp_path / 'torch_home' / 'hub'))
    yield tmp_path / 'torch_home' / 'hub' / 'checkpoints'
    torch.hub.set_dir(old)


@pytest.fixture
def server(tmp_path, monkeypatch):
    """An HTTP server on 127.0.0.1 serving the folder it yields with its
    base URL."""
    for name in ('http_proxy', 'HTTP_PROXY', 'https_proxy', 'HTTPS_PROXY'):
        monkeypatch.delenv(name, raising=False)
    root = tmp_path / 'served'
    root.mkdir()

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):
            pass

    httpd = http.server.ThreadingHTTPServer(
        ('127.0.0.1', 0), partial(Quiet, directory=str(root)))
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield root, f'http://127.0.0.1:{httpd.server_address[1]}'
    httpd.shutdown()
    httpd.server_close()


def _cache_name(model: str) -> str:
    return osp.basename(get_torchvision_models()[model])


class _Tiny(BaseModule):
    def __init__(self, init_cfg=None):
        super().__init__(init_cfg)
        self.weight = torch.nn.Parameter(torch.zeros(2, 2))


def test_crafted_resnet18_in_hub_cache_runs_nothing(hub, tmp_path):
    """mmengine's ``Pretrained`` init of ``torchvision://resnet18``."""
    marker = tmp_path / 'marker'
    cached = _write_crafted(hub / _cache_name('resnet18'), marker)
    model = _Tiny(init_cfg=dict(type='Pretrained',
                                checkpoint='torchvision://resnet18'))
    with pytest.raises(CheckpointError) as excinfo:
        model.init_weights()
    assert not marker.exists()
    msg = _one_line_refusal(excinfo, str(cached), 'delete it')
    assert 'SHA-256 prefix f37072fd' in msg
    assert cached.exists()  # the user's file is left for them to delete


def test_crafted_resnet50_in_hub_cache_res50_config_runs_nothing(
        hub, tmp_path):
    """The stock res50 config's ``torchvision://resnet50`` backbone."""
    from mmengine.registry import DefaultScope
    from mmpose.registry import MODELS
    marker = tmp_path / 'marker'
    cached = _write_crafted(hub / _cache_name('resnet50'), marker)
    cfg = Config.fromfile(
        str(CONFIG_DIR / 'animal' / 'custom_res50_animalpose_256x256.py'))
    assert cfg.model.backbone.init_cfg.checkpoint == 'torchvision://resnet50'
    with DefaultScope.overwrite_default_scope('mmpose'):
        model = MODELS.build(cfg.model)
    with pytest.raises(CheckpointError) as excinfo:
        model.init_weights()
    assert not marker.exists()
    _one_line_refusal(excinfo, str(cached), 'delete it')


def test_crafted_file_without_hash_in_cache_refused_by_type(hub, tmp_path):
    marker = tmp_path / 'marker'
    cached = _write_crafted(hub / 'weights.pth', marker)
    # the file is in the cache: nothing is downloaded from this address
    url = 'http://127.0.0.1:9/models/weights.pth'
    with pytest.raises(CheckpointError) as excinfo:
        load_checkpoint(_Tiny(), url)
    assert not marker.exists()
    _one_line_refusal(excinfo, str(cached), 'exec')


def test_crafted_file_at_load_from_url_runs_nothing(hub, server, tmp_path):
    """The Runner's ``load_from`` (mmengine's ``load_checkpoint``) and the
    package's loader of a URL."""
    root, base = server
    marker = tmp_path / 'marker'
    _write_crafted(root / 'crafted.pth', marker)
    with pytest.raises(CheckpointError) as excinfo:
        load_checkpoint(_Tiny(), f'{base}/crafted.pth')
    assert not marker.exists()
    _one_line_refusal(excinfo, f'{base}/crafted.pth', 'exec',
                      str(hub / 'crafted.pth'))
    with pytest.raises(CheckpointError) as excinfo:
        load_checkpoint_file(f'{base}/crafted.pth', download=True)
    assert not marker.exists()
    _one_line_refusal(excinfo, 'exec')


def test_crafted_local_file_refused_by_mmengine_loader(tmp_path):
    """mmengine's own local loads name the refused type and the file."""
    marker = tmp_path / 'marker'
    path = _write_crafted(tmp_path / 'crafted.pth', marker)
    with pytest.raises(CheckpointError) as excinfo:
        load_checkpoint(_Tiny(), str(path))
    assert not marker.exists()
    _one_line_refusal(excinfo, str(path), 'exec')


def test_cached_file_not_matching_hash_in_name_refused(hub):
    """Even a harmless state dict, when its name's hash is not its own."""
    cached = hub / _cache_name('resnet18')
    cached.parent.mkdir(parents=True)
    torch.save({'conv1.weight': torch.zeros(1)}, cached)
    with pytest.raises(CheckpointError) as excinfo:
        load_checkpoint_file('torchvision://resnet18', download=True)
    _one_line_refusal(excinfo, str(cached), 'f37072fd', 'delete it')


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_download_checked_against_hash_in_name(hub, server, tmp_path):
    root, base = server
    weights = {'weight': torch.arange(4.0)}
    torch.save(weights, tmp_path / 'w.pth')
    digest = _sha256(tmp_path / 'w.pth')
    good = f'good-{digest[:8]}.pth'
    (root / good).write_bytes((tmp_path / 'w.pth').read_bytes())
    ckpt = load_checkpoint_file(f'{base}/{good}', download=True)
    assert torch.equal(ckpt['weight'], weights['weight'])
    assert _sha256(hub / good) == digest
    # again, from the cache, checked again
    (root / good).unlink()
    ckpt = load_checkpoint_file(f'{base}/{good}', download=True)
    assert torch.equal(ckpt['weight'], weights['weight'])

    bad = f'bad-{"0" * 8}.pth'
    (root / bad).write_bytes((tmp_path / 'w.pth').read_bytes())
    with pytest.raises(CheckpointError) as excinfo:
        load_checkpoint_file(f'{base}/{bad}', download=True)
    _one_line_refusal(excinfo, f'{base}/{bad}', '00000000')
    assert not (hub / bad).exists()
    assert sorted(p.name for p in hub.iterdir()) == [good]


def test_unknown_scheme_refused(tmp_path):
    with pytest.raises(CheckpointError) as excinfo:
        load_checkpoint(_Tiny(), 'ftp://example.invalid/w.pth')
    _one_line_refusal(excinfo, 'ftp://example.invalid/w.pth', 'scheme')
