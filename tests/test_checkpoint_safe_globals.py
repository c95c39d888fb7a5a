"""Resume-loading mmengine checkpoints under torch's weights_only mode."""
import io
import pickle

import pytest
import torch

import custom_pose  # noqa: F401  (registers the allow-list)


def _mmengine_checkpoint(tmp_path):
    """Train a tiny mmengine model for one epoch and return its checkpoint."""
    from mmengine.model import BaseModel
    from mmengine.runner import Runner
    from torch.utils.data import Dataset

    class Model(BaseModel):
        def __init__(self):
            super().__init__()
            self.fc = torch.nn.Linear(2, 1)

        def forward(self, x, y, mode='tensor'):
            if mode == 'loss':
                return dict(loss=((self.fc(x) - y) ** 2).mean())
            return self.fc(x)

    class Data(Dataset):
        # numpy arrays in the metainfo end up in the checkpoint's meta
        metainfo = dict(sigmas=torch.ones(3).numpy(), flip_indices=[1, 0, 2])

        def __len__(self):
            return 8

        def __getitem__(self, i):
            return dict(x=torch.full((2, ), float(i)), y=torch.ones(1))

    runner = Runner(
        model=Model(),
        work_dir=str(tmp_path),
        train_dataloader=dict(
            dataset=Data(), sampler=dict(type='DefaultSampler', shuffle=False),
            batch_size=4, collate_fn=dict(type='default_collate')),
        optim_wrapper=dict(optimizer=dict(type='Adam', lr=0.01)),
        param_scheduler=[dict(type='LinearLR', begin=0, end=4, by_epoch=False)],
        train_cfg=dict(by_epoch=True, max_epochs=1),
        default_hooks=dict(checkpoint=dict(type='CheckpointHook', interval=1)),
        default_scope='mmengine')
    runner.train()
    return tmp_path / 'epoch_1.pth'


def test_mmengine_checkpoint_loads_with_weights_only(tmp_path):
    ckpt_file = _mmengine_checkpoint(tmp_path)
    # the default (weights_only=True) load mmengine's resume performs
    ckpt = torch.load(ckpt_file, map_location='cpu')
    assert ckpt['meta']['iter'] == 2
    lr = ckpt['message_hub']['log_scalars']['train/lr']
    assert lr.min() > 0  # the statistics methods came back and work
    assert ckpt['meta']['dataset_meta']['sigmas'].shape == (3, )
    assert ckpt['optimizer']['state'][0]['step'] == 2


class _GetattrPayload:
    def __init__(self, target, name):
        self.target, self.name = target, name

    def __reduce__(self):
        return getattr, (self.target, self.name)


@pytest.mark.parametrize('name', ['__init__', '_statistics_methods', 'update'])
def test_getattr_stays_restricted(name):
    from mmengine.logging import HistoryBuffer
    if name == 'update':  # a real public method, but not a statistic: allowed?
        payload = _GetattrPayload(HistoryBuffer, name)
        buf = io.BytesIO()
        torch.save({'x': payload}, buf)
        buf.seek(0)
        # public functions defined on HistoryBuffer resolve to the function
        assert torch.load(buf)['x'] is HistoryBuffer.update
        return
    buf = io.BytesIO()
    torch.save({'x': _GetattrPayload(HistoryBuffer, name)}, buf)
    buf.seek(0)
    with pytest.raises(pickle.UnpicklingError, match='refusing getattr'):
        torch.load(buf)


def test_unknown_globals_still_refused():
    import collections
    buf = io.BytesIO()
    torch.save({'x': collections.ChainMap({})}, buf)
    buf.seek(0)
    with pytest.raises(pickle.UnpicklingError):
        torch.load(buf)
