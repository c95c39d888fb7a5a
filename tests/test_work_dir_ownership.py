"""A training run owns its work dir and nothing else; a resume says which
checkpoint it continues from and what it cannot do.

Runs of the quickstart config on the four-image synthetic data (2
iterations an epoch at batch 1), with a metric that scores the epoch
number, so that every validation writes a new best checkpoint and removes
the previous one."""
import re
import shutil

import pytest
import torch
from mmengine.config import Config
from mmengine.evaluator import BaseMetric
from mmengine.logging import MessageHub

from conftest import CONFIG_DIR, load_tool, read_tree, small_train_cfg
from custom_pose.engine import build_runner
from test_train_tools import QUICKSTART, TRAIN, _data_opts


class _EpochScore(BaseMetric):
    """Scores the epoch that was validated: 1, 2, 3, ..."""

    def __init__(self, **kwargs):
        super().__init__()

    def process(self, data_batch, data_samples):
        self.results.append(0)

    def compute_metrics(self, results):
        # the hub's epoch counts from 0: it is set before each train epoch
        epoch = MessageHub.get_current_instance().get_info('epoch')
        return {'score': float(epoch + 1)}


def _register_epoch_score():
    from mmpose.registry import METRICS
    METRICS.register_module('_EpochScore', module=_EpochScore, force=True)


def _cfg(work, tiny_root, max_epochs, **kw):
    cfg = Config.fromfile(str(CONFIG_DIR / QUICKSTART))
    small_train_cfg(cfg, tiny_root, work, batch_size=1)
    cfg.randomness = dict(seed=0)
    cfg.val_evaluator = dict(type='_EpochScore')
    cfg.train_cfg.update(max_epochs=max_epochs, val_interval=1)
    cfg.default_hooks.checkpoint.update(save_best='score', rule='greater',
                                        max_keep_ckpts=1)
    cfg.update(kw)
    return cfg


def _forget_runs():
    """Forget the loggers and visualizers of earlier runs in this process:
    mmengine hands an existing one of the same name back, and the next run
    would write its log and ``vis_data`` into the earlier run's work dir
    (each tools/train.py process starts without them)."""
    from mmengine.logging import MMLogger
    from mmengine.visualization import Visualizer
    MMLogger._instance_dict.clear()
    todo = [Visualizer]
    while todo:
        cls = todo.pop()
        cls._instance_dict.clear()
        todo.extend(cls.__subclasses__())


def _train(work, tiny_root, max_epochs, **kw):
    _forget_runs()
    _register_epoch_score()
    build_runner(_cfg(work, tiny_root, max_epochs, **kw)).train()


def _tool(argv):
    """tools/train.py's main(argv), as a fresh process would run it."""
    _forget_runs()
    return load_tool(TRAIN).main(argv)


def _log(work) -> str:
    """The log of the newest run in ``work``."""
    logs = sorted(work.glob('*/*.log'), key=lambda p: p.stat().st_mtime)
    return logs[-1].read_text()


def _pth_names(work):
    return sorted(p.name for p in work.glob('*.pth'))


@pytest.fixture(scope='module')
def exp1(tmp_path_factory, tiny_root):
    """A finished one-epoch run: epoch_1.pth and best_score_epoch_1.pth
    (the tests that use it check that they leave it as it is)."""
    work = tmp_path_factory.mktemp('runs') / 'exp1'
    _train(work, tiny_root, 1)
    assert _pth_names(work) == ['best_score_epoch_1.pth', 'epoch_1.pth']
    return work


def test_resuming_a_copied_work_dir_leaves_the_original_alone(
        tiny_root, tmp_path, exp1):
    """cp -r exp1 exp2; resume exp2: its last_checkpoint names exp1's
    epoch_1.pth and its message hub exp1's best checkpoint. Neither is
    followed: exp2 resumes from its own copy, removes its own superseded
    files (each named in the log) and leaves exp1 byte for byte."""
    exp2 = tmp_path / 'exp2'
    shutil.copytree(exp1, exp2)
    before = read_tree(exp1)
    assert (exp2 / 'last_checkpoint').read_text() == str(exp1 / 'epoch_1.pth')

    _train(exp2, tiny_root, 2, resume=True)

    assert read_tree(exp1) == before
    assert _pth_names(exp2) == ['best_score_epoch_2.pth', 'epoch_2.pth']
    log = _log(exp2)
    assert (f'last_checkpoint in {exp2} names {exp1}/epoch_1.pth, outside '
            'the work dir (a copied work dir?): not followed') in log, log
    assert f'Auto resumed from the latest checkpoint {exp2}/epoch_1.pth' \
        in log
    assert f'removed {exp2}/epoch_1.pth (beyond max_keep_ckpts=1)' in log
    assert (f'removed {exp2}/best_score_epoch_1.pth (superseded best '
            'checkpoint)') in log
    removed = re.findall(r'removed (\S+)', log)
    assert removed and all(p.startswith(f'{exp2}/') for p in removed)


def test_resume_from_another_dir_deletes_nothing_there(
        tiny_root, tmp_path, exp1):
    """Resuming exp3 from exp1's checkpoint: exp1's best checkpoint, named
    in the resumed message hub, is not exp3's and stays."""
    before = read_tree(exp1)
    exp3 = tmp_path / 'exp3'
    _train(exp3, tiny_root, 2, resume=True,
           load_from=str(exp1 / 'epoch_1.pth'))

    assert read_tree(exp1) == before
    assert _pth_names(exp3) == ['best_score_epoch_2.pth', 'epoch_2.pth']
    log = _log(exp3)
    assert (f'the resumed checkpoint names {exp1}/best_score_epoch_1.pth as '
            f'the best checkpoint, outside {exp3}: it is not this run\'s and '
            'is left alone') in log, log
    assert str(exp1) not in ''.join(re.findall(r'removed \S+', log))


def test_last_checkpoint_outside_and_no_checkpoint_inside(
        config_path, tiny_root, tmp_path, exp1, capsys):
    """A work dir whose only trace is a last_checkpoint naming another
    dir's file: one line, nothing trained, the other dir untouched."""
    before = read_tree(exp1)
    work = tmp_path / 'w'
    work.mkdir()
    shutil.copy(exp1 / 'last_checkpoint', work / 'last_checkpoint')
    with pytest.raises(SystemExit) as exc:
        _tool([
            config_path(QUICKSTART), '--resume', '--work-dir', str(work),
            '--no-validate', '--cfg-options', *_data_opts(tiny_root)])
    assert exc.value.code == 1
    err = capsys.readouterr().err
    assert 'Traceback' not in err
    assert err.strip().splitlines()[-1] == (
        f'train.py: error: last_checkpoint in {work} names {exp1}/epoch_1.pth'
        f', outside the work dir (a copied work dir?), and {work} holds no '
        'epoch_N.pth or iter_N.pth of its own to resume from. Give the '
        'checkpoint to resume from with --resume PATH, or leave --resume out '
        'to train from the beginning')
    assert not list(work.glob('*.pth'))
    assert read_tree(exp1) == before


def _adam_steps(path) -> int:
    ckpt = torch.load(path, map_location='cpu', weights_only=False)
    return int(ckpt['optimizer']['state'][0]['step'])


def test_resume_from_a_best_checkpoint(config_path, tiny_root, tmp_path,
                                       exp1, capsys):
    """A best checkpoint holds no optimizer state: --resume of it continues
    from the epoch_1.pth beside it (the Adam steps go on); where there is
    none it stops with one line naming --resume-weights-only, which starts
    afresh from epoch 1 with the weights."""
    train = _tool
    best = exp1 / 'best_score_epoch_1.pth'
    assert 'optimizer' not in torch.load(best, map_location='cpu',
                                         weights_only=False)
    opts = ['--no-validate', '--cfg-options', *_data_opts(tiny_root),
            'train_dataloader.batch_size=1']

    work = tmp_path / 'cont'
    assert train([config_path(QUICKSTART), '--resume', str(best),
                  '--work-dir', str(work)] + opts +
                 ['train_cfg.max_epochs=2']) == 0
    assert (f'{best} holds no optimizer state or learning-rate schedule (a '
            f'best checkpoint): resuming from {exp1}/epoch_1.pth, saved at '
            'the same step, which holds them') in _log(work)
    assert _adam_steps(work / 'epoch_2.pth') == 4  # 2 + 2 iterations

    lonely = tmp_path / 'lonely'
    lonely.mkdir()
    shutil.copy(best, lonely / best.name)
    alone = lonely / best.name
    work = tmp_path / 'fresh'
    with pytest.raises(SystemExit) as exc:
        train([config_path(QUICKSTART), '--resume', str(alone),
               '--work-dir', str(work)] + opts + ['train_cfg.max_epochs=2'])
    assert exc.value.code == 1
    err = capsys.readouterr().err
    assert 'Traceback' not in err
    assert err.strip().splitlines()[-1] == (
        f'train.py: error: checkpoint {alone} holds no optimizer state and '
        'learning-rate schedule (a best checkpoint?) and no epoch_N.pth of '
        'the same step lies beside it: resuming from it would restart the '
        'learning rate. Resume from an epoch_N.pth checkpoint, or start from '
        f'its weights with --resume-weights-only {alone}')
    assert not list(work.glob('*.pth'))

    assert train([config_path(QUICKSTART), '--resume-weights-only',
                  str(alone), '--work-dir', str(work)] + opts +
                 ['train_cfg.max_epochs=1']) == 0
    assert (f'--resume-weights-only: the weights of {alone} only; the '
            'optimizer and the learning-rate schedule start afresh at epoch '
            '1') in _log(work)
    ckpt = torch.load(work / 'epoch_1.pth', map_location='cpu',
                      weights_only=False)
    assert ckpt['meta']['epoch'] == 1 and ckpt['meta']['iter'] == 2
    assert _adam_steps(work / 'epoch_1.pth') == 2


def test_resume_of_a_finished_run_says_so(config_path, tiny_root, tmp_path,
                                          capsys):
    """--resume of a run that reached max_epochs: exit 0 with one line
    saying it is finished and how to train further."""
    train = _tool
    work = tmp_path / 'work'
    args = [config_path(QUICKSTART), '--work-dir', str(work), '--no-validate',
            '--cfg-options', *_data_opts(tiny_root),
            'train_dataloader.batch_size=1', 'train_cfg.max_epochs=1']
    assert train(args) == 0
    before = read_tree(work)
    capsys.readouterr()
    assert train(args + ['--resume']) == 0
    line = (f'the run in {work} already finished (epoch 1 of 1, '
            f'{work}/epoch_1.pth); raise train_cfg.max_epochs to train '
            'further')
    assert line in capsys.readouterr().out
    assert line in _log(work)
    assert (work / 'epoch_1.pth').read_bytes() == before['epoch_1.pth']
