"""A checkpoint whose bytes were changed is refused when it is loaded
(CRC-32 checks of torch's zip format), through the package's loader, the
local scheme of mmengine's ``CheckpointLoader`` and a Runner's resume."""
import random
import re
import zipfile
from pathlib import Path
from typing import Optional

import pytest
import torch
from mmengine.runner.checkpoint import CheckpointLoader

from custom_pose.errors import (  # importing custom_pose registers the loaders
    UnreadableCheckpointError)
from custom_pose.utils.checkpoint import load_checkpoint_file

DAMAGED = re.compile(r'^checkpoint (\S+) is damaged \(CRC mismatch in '
                     r'\S+/data/\d+\): use an earlier checkpoint$')


def _damage(path: Path, size: int = 4096, seed: int = 0,
            at: Optional[int] = None) -> Path:
    """Overwrite ``size`` bytes of ``path`` from byte ``at`` (the middle by
    default) with random bytes, as a disk fault would."""
    data = bytearray(path.read_bytes())
    at = len(data) // 2 if at is None else at
    rng = random.Random(seed)
    data[at:at + size] = bytes(rng.getrandbits(8) for _ in range(size))
    path.write_bytes(bytes(data))
    return path


def _weights() -> dict:
    """A 1 MB weight (the middle of the file) and a small one."""
    gen = torch.Generator().manual_seed(0)
    return {'fc.weight': torch.randn(512, 512, generator=gen),
            'fc.bias': torch.randn(512, generator=gen)}


def _checkpoint(tmp_path: Path) -> Path:
    path = tmp_path / 'epoch_3.pth'
    torch.save({'state_dict': _weights(), 'meta': {'epoch': 3}}, path)
    return path


@pytest.fixture
def damaged(tmp_path) -> Path:
    """A 1 MB checkpoint with 4 KB of random bytes in its middle."""
    return _damage(_checkpoint(tmp_path))


def test_damaged_checkpoint_refused(damaged):
    with pytest.raises(UnreadableCheckpointError) as excinfo:
        load_checkpoint_file(str(damaged))
    match = DAMAGED.match(str(excinfo.value))
    assert match, str(excinfo.value)
    assert match.group(1) == str(damaged)


@pytest.mark.parametrize('keep', [50000, 1000])
def test_truncated_checkpoint_says_so(tmp_path, keep):
    path = _checkpoint(tmp_path)
    path.write_bytes(path.read_bytes()[:keep])  # a copy that stopped
    with pytest.raises(UnreadableCheckpointError,
                       match=r'the file is truncated or corrupt .*; use an '
                       'earlier checkpoint$'):
        load_checkpoint_file(str(path))


def test_damaged_entry_header_refused(tmp_path):
    path = _checkpoint(tmp_path)
    with zipfile.ZipFile(path) as archive:
        entry = archive.getinfo('epoch_3/data/0')
    _damage(path, at=entry.header_offset)
    with pytest.raises(UnreadableCheckpointError) as excinfo:
        load_checkpoint_file(str(path))
    assert str(excinfo.value) == (
        f'checkpoint {path} is damaged (unreadable zip entry '
        'epoch_3/data/0): use an earlier checkpoint')


def test_damaged_checkpoint_refused_by_mmengine_local_scheme(damaged):
    with pytest.raises(UnreadableCheckpointError) as excinfo:
        CheckpointLoader.load_checkpoint(str(damaged), map_location='cpu')
    assert DAMAGED.match(str(excinfo.value)), str(excinfo.value)


def test_damaged_hub_cache_file_says_download_again(damaged, tmp_path,
                                                    monkeypatch):
    cache = tmp_path / 'hub' / 'checkpoints'
    cache.mkdir(parents=True)
    cached = damaged.rename(cache / 'weights.pth')
    old = torch.hub.get_dir()
    torch.hub.set_dir(str(tmp_path / 'hub'))
    try:
        # in the cache: nothing is downloaded from this address
        with pytest.raises(UnreadableCheckpointError) as excinfo:
            load_checkpoint_file('http://127.0.0.1:9/weights.pth',
                                 download=True)
    finally:
        torch.hub.set_dir(old)
    msg = str(excinfo.value)
    assert f'{cached} (from http://127.0.0.1:9/weights.pth) is damaged ' \
        '(CRC mismatch in ' in msg
    assert msg.endswith(f'delete {cached} to download it again')


def test_intact_legacy_and_unchecksummed_files_load(tmp_path):
    weights = _weights()
    plain = tmp_path / 'plain.pth'
    torch.save({'state_dict': weights}, plain)
    legacy = tmp_path / 'legacy.pth'  # torch's pre-zip format: no CRCs
    torch.save({'state_dict': weights}, legacy,
               _use_new_zipfile_serialization=False)
    unchecked = tmp_path / 'no_crc.pth'  # CRC fields left 0 by torch
    before = torch.serialization.get_crc32_options()
    torch.serialization.set_crc32_options(False)
    try:
        torch.save({'state_dict': weights}, unchecked)
    finally:
        torch.serialization.set_crc32_options(before)
    for path in (plain, legacy, unchecked):
        ckpt = load_checkpoint_file(str(path))
        for key, value in weights.items():
            assert torch.equal(ckpt['state_dict'][key], value), (path, key)


def _runner(work_dir: Path, max_epochs: int, **kwargs):
    from mmengine.model import BaseModel
    from mmengine.runner import Runner
    from torch.utils.data import Dataset

    class Model(BaseModel):
        def __init__(self):
            super().__init__()
            self.fc = torch.nn.Linear(256, 256)

        def forward(self, x, y, mode='tensor'):
            if mode == 'loss':
                return dict(loss=((self.fc(x) - y) ** 2).mean())
            return self.fc(x)

    class Data(Dataset):
        def __len__(self):
            return 4

        def __getitem__(self, i):
            return dict(x=torch.full((256, ), float(i)), y=torch.ones(256))

    return Runner(
        model=Model(),
        work_dir=str(work_dir),
        train_dataloader=dict(
            dataset=Data(), sampler=dict(type='DefaultSampler', shuffle=False),
            batch_size=4, collate_fn=dict(type='default_collate')),
        optim_wrapper=dict(optimizer=dict(type='Adam', lr=0.01)),
        train_cfg=dict(by_epoch=True, max_epochs=max_epochs),
        default_hooks=dict(checkpoint=dict(type='CheckpointHook', interval=1)),
        default_scope='mmengine', **kwargs)


def test_runner_resume_refuses_damaged_checkpoint_before_training(tmp_path):
    _runner(tmp_path / 'first', max_epochs=1).train()
    ckpt = _damage(tmp_path / 'first' / 'epoch_1.pth')
    runner = _runner(tmp_path / 'second', max_epochs=2, resume=True,
                     load_from=str(ckpt))
    with pytest.raises(UnreadableCheckpointError) as excinfo:
        runner.train()
    assert DAMAGED.match(str(excinfo.value)), str(excinfo.value)
    assert not (tmp_path / 'second' / 'epoch_2.pth').exists()
