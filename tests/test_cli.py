"""custom_pose.utils.cli / custom_pose.utils.config / custom_pose.errors:
one-line errors, path checks, config loading and --cfg-options checks."""
import errno
import os
import types

import pytest
from mmengine.config import Config

from custom_pose import errors
from custom_pose.apis import VideoSourceError, silence_opencv_log
from custom_pose.datasets import (AnimalPoseFormatError, DatasetNotFoundError,
                                  EmptySelectionError, KeypointCountError,
                                  KeypointFormatError)
from custom_pose.engine.hooks import NonFiniteLossError
from custom_pose.models import PretrainedWeightsUnavailableError
from custom_pose.utils import cli
from custom_pose.utils.config import (CfgOptionsError, check_cfg_options,
                                      load_config, merge_cfg_options)
from conftest import CONFIG_DIR

QUICKSTART = str(CONFIG_DIR / 'animal' /
                 'custom_res18_quickstart_synthetic_128x128.py')


# ---------------------------------------------------------------------------
# errors
# ---------------------------------------------------------------------------
@pytest.mark.parametrize('cls,base', [
    (errors.CheckpointError, ValueError),
    (errors.KeypointMismatchError, errors.CheckpointError),
    (errors.ModelConfigError, ValueError),
    (errors.InputError, ValueError),
    (VideoSourceError, ValueError),
    (AnimalPoseFormatError, ValueError),
    (DatasetNotFoundError, FileNotFoundError),
    (EmptySelectionError, ValueError),
    (NonFiniteLossError, FloatingPointError),
    (PretrainedWeightsUnavailableError, RuntimeError),
    (CfgOptionsError, KeyError),
    (KeypointFormatError, ValueError),
    (KeypointCountError, ValueError),
])
def test_every_project_error_has_one_base_and_keeps_its_own(cls, base):
    assert issubclass(cls, errors.CustomPoseError)
    assert issubclass(cls, base)
    err = cls('what went wrong')
    assert str(err) == 'what went wrong'  # also for KeyError's subclass
    assert err.exit_code == 1


def _run_main(main, capsys):
    """``main()``'s exit status and its stderr lines."""
    with pytest.raises(SystemExit) as exc:
        main()
    return exc.value.code, capsys.readouterr().err.splitlines()


def test_one_line_errors(capsys):
    @cli.one_line_errors('tool.py')
    def bad_input():
        raise errors.CheckpointError('checkpoint x.pth is empty\n(0 bytes)')

    assert _run_main(bad_input, capsys) == (
        1, ['tool.py: error: checkpoint x.pth is empty (0 bytes)'])

    @cli.one_line_errors('tool.py')
    def interrupted():
        raise errors.RunInterrupted('interrupted at iteration 3; continue '
                                    'with --resume')

    assert _run_main(interrupted, capsys) == (130, [
        'tool.py: error: interrupted at iteration 3; continue with --resume'
    ])

    @cli.one_line_errors('tool.py')
    def ctrl_c():
        raise KeyboardInterrupt

    assert _run_main(ctrl_c, capsys) == (130, ['tool.py: error: interrupted'])

    @cli.one_line_errors('tool.py')
    def ctrl_c_turned_into_another_error():
        try:  # as mmengine's Config.pretty_text does with a bare except
            raise KeyboardInterrupt
        except:  # noqa: E722
            raise SyntaxError('Failed to format the config file')

    assert _run_main(ctrl_c_turned_into_another_error,
                     capsys) == (130, ['tool.py: error: interrupted'])

    @cli.one_line_errors('tool.py')
    def disk_full():
        raise OSError(errno.ENOSPC, 'No space left on device', 'out/x.pth')

    assert _run_main(disk_full, capsys) == (1, [
        'tool.py: error: no space left on the device while writing '
        'out/x.pth: free some space'
    ])

    @cli.one_line_errors('tool.py')
    def denied():
        open('/proc/no_such_dir/x.json', 'w')

    code, lines = _run_main(denied, capsys)
    assert code == 1 and len(lines) == 1
    assert lines[0].startswith('tool.py: error: /proc/no_such_dir/x.json: ')

    @cli.one_line_errors('tool.py')
    def ok(value):
        return value

    assert ok(7) == 7

    @cli.one_line_errors('tool.py')
    def bug():
        raise ZeroDivisionError('a bug keeps its traceback')

    with pytest.raises(ZeroDivisionError):
        bug()


# ---------------------------------------------------------------------------
# paths
# ---------------------------------------------------------------------------
def test_check_input_file(tmp_path):
    good = tmp_path / 'a.pth'
    good.write_bytes(b'x')
    assert cli.check_input_file(str(good), 'checkpoint file') == str(good)
    empty = tmp_path / 'empty.pth'
    empty.write_bytes(b'')
    cases = [
        (str(tmp_path / 'nope.pth'), 'checkpoint file not found: '),
        (str(tmp_path), 'checkpoint file is not a file: '),
        (str(empty), 'checkpoint file is empty (0 bytes): '),
        ('https://example.com/a.pth',
         'checkpoint file https://example.com/a.pth: only local files'),
    ]
    for path, message in cases:
        with pytest.raises(errors.InputError) as exc:
            cli.check_input_file(path, 'checkpoint file')
        assert str(exc.value).startswith(message), exc.value


def test_check_output_paths(tmp_path):
    a_file = tmp_path / 'a_file'
    a_file.write_text('x')
    # folders that do not exist yet are fine (created later)
    assert cli.check_output_dir(str(tmp_path / 'new' / 'dir'), '--work-dir')
    assert cli.check_output_file(str(tmp_path / 'new' / 'out.json'), '--out')
    with pytest.raises(errors.InputError,
                       match=r'^--work-dir .*a_file is a file, not a folder$'):
        cli.check_output_dir(str(a_file), '--work-dir')
    with pytest.raises(errors.InputError,
                       match=r'a_file/sub: .*a_file is a file, not a folder'):
        cli.check_output_dir(str(a_file / 'sub'), '--work-dir')
    with pytest.raises(errors.InputError, match='is a folder, not a file'):
        cli.check_output_file(str(tmp_path), '--out')
    with pytest.raises(errors.InputError, match='a_file is a file, not a'):
        cli.check_output_file(str(a_file / 'm.json'), '--metrics-out')
    # a folder os.access calls writable for root where no file can be made
    with pytest.raises(errors.InputError,
                       match=r'^--out /proc/cp_probe/x\.json: cannot write '
                       r'in /proc \('):
        cli.check_output_file('/proc/cp_probe/x.json', '--out')
    # nothing was created by the checks
    assert not (tmp_path / 'new').exists()
    assert os.listdir(tmp_path) == ['a_file']


# ---------------------------------------------------------------------------
# configs
# ---------------------------------------------------------------------------
def test_load_config_errors_name_the_file(tmp_path):
    (tmp_path / 'broken.py').write_text('x = 1\ny = dict(\n')
    (tmp_path / 'child.py').write_text("_base_ = ['./broken.py']\nz = 2\n")
    (tmp_path / 'orphan.py').write_text("_base_ = ['./gone.py']\n")
    with pytest.raises(errors.ModelConfigError) as exc:
        load_config(str(tmp_path / 'child.py'))
    assert str(exc.value) == (
        f"syntax error in {tmp_path / 'broken.py'} (a _base_ of config "
        f"{tmp_path / 'child.py'}), line 2: '(' was never closed")
    with pytest.raises(errors.ModelConfigError) as exc:
        load_config(str(tmp_path / 'broken.py'))
    assert str(exc.value).startswith(
        f"syntax error in config {tmp_path / 'broken.py'}, line 2")
    with pytest.raises(errors.ModelConfigError) as exc:
        load_config(str(tmp_path / 'orphan.py'))
    assert str(exc.value) == (f"config {tmp_path / 'orphan.py'}: the _base_ "
                              f"file {tmp_path / 'gone.py'} does not exist")
    with pytest.raises(errors.InputError, match='config file not found'):
        cli.load_config(str(tmp_path / 'none.py'))


@pytest.fixture(scope='module')
def quickstart_cfg():
    return Config.fromfile(QUICKSTART)


@pytest.mark.parametrize('option,message', [
    # mistyped last keys: checked against what builds the dict
    ({'train_dataloader.batch_sise': 4},
     "'train_dataloader' has no 'batch_sise' and DataLoader takes no "
     "argument 'batch_sise' (did you mean 'batch_size'?)"),
    ({'model.backbone.depht': 50},
     "CustomPoseResNet takes no argument 'depht' (did you mean 'depth'?)"),
    ({'optim_wrapper.optimizer.learning_rate': 0.1},
     "Adam takes no argument 'learning_rate'"),
    ({'train_cfg.max_epoch': 3},
     "EpochBasedTrainLoop takes no argument 'max_epoch' (did you mean "
     "'max_epochs'?)"),
    ({'train_dataloader.dataset.split_ration': 0.5},
     "OrgAnimalPoseDataset takes no argument 'split_ration' (did you mean "
     "'split_ratio'?)"),
    ({'dat_root': 'x'}, "the config has no 'dat_root' (did you mean "
     "'data_root'?)"),
    # values
    ({'train_cfg.max_epochs': 1.5},
     'train_cfg.max_epochs=1.5: expected a whole number >= 1'),
    ({'train_dataloader.batch_size': -1},
     'train_dataloader.batch_size=-1: must be >= 1'),
    ({'train_dataloader.num_workers': -2},
     'train_dataloader.num_workers=-2: must be >= 0'),
    ({'train_dataloader.batch_size': 'abc'}, 'expected a number'),
    ({'train_dataloader.persistent_workers': 1}, 'expected True or False'),
])
def test_cfg_options_rejected(quickstart_cfg, option, message):
    with pytest.raises(CfgOptionsError) as exc:
        check_cfg_options(quickstart_cfg, option)
    assert message in str(exc.value)


def test_cfg_options_accepted(quickstart_cfg):
    # new arguments of what builds the dict, and unknown-signature dicts
    check_cfg_options(quickstart_cfg, {
        'train_dataloader.pin_memory': True,
        'train_dataloader.dataset.skip_missing': True,
        'model.backbone.frozen_stages': 1,
        'model.test_cfg.anything': 1,  # no type: nothing to check against
        'param_scheduler.0.verbose': True,  # a scheduler takes **kwargs
        'train_cfg.max_epochs': 2,
        'work_dir': 'w',  # a Runner argument
        'randomness.seed': 0,  # a new section the Runner reads
    })


def _nested_cfg():
    return Config(
        dict(
            data_root='data/a/',
            train_dataloader=dict(
                batch_size=2,
                dataset=dict(
                    type='ConcatDataset',
                    datasets=[
                        dict(type='OrgAnimalPoseDataset',
                             data_root='data/a/'),
                        dict(type='RepeatDataset', times=2,
                             dataset=dict(type='OrgAnimalPoseDataset',
                                          data_root='data/a/')),
                        dict(type='OrgAnimalPoseDataset',
                             data_root='data/other/'),
                    ])),
            val_dataloader=dict(
                dataset=dict(type='OrgAnimalPoseDataset',
                             data_root='data/a/')),
            test_dataloader=dict(
                dataset=dict(type='OrgAnimalPoseDataset',
                             data_root='data/a/'))))


def test_data_root_override_reaches_the_loaders():
    cfg = merge_cfg_options(_nested_cfg(), {
        'data_root': '/new/',
        'test_dataloader.dataset.data_root': '/mine/'
    })
    datasets = cfg.train_dataloader.dataset.datasets
    assert cfg.data_root == '/new/'
    assert datasets[0].data_root == '/new/'
    assert datasets[1].dataset.data_root == '/new/'  # nested wrapper
    assert datasets[2].data_root == 'data/other/'  # not the config's root
    assert cfg.val_dataloader.dataset.data_root == '/new/'
    assert cfg.test_dataloader.dataset.data_root == '/mine/'  # explicit wins

    # the real config: its three loaders follow
    cfg = load_config(QUICKSTART, {'data_root': '/elsewhere/'})
    for key in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        assert cfg[key].dataset.data_root == '/elsewhere/', key


def test_ann_file_override_reaches_the_loaders():
    """configs/custom/ set data_root and ann_file once; both options move
    the three loaders (a loader's own option wins)."""
    cfg = load_config(str(CONFIG_DIR / 'custom' /
                          'custom_res18_keypoints_128x128.py'),
                      {'data_root': '/proj/', 'ann_file': 'labels.slp',
                       'val_dataloader.dataset.ann_file': 'other.slp'})
    loaders = [cfg[k].dataset for k in
               ('train_dataloader', 'val_dataloader', 'test_dataloader')]
    assert [d.data_root for d in loaders] == ['/proj/'] * 3
    assert [d.ann_file for d in loaders] == ['labels.slp', 'other.slp',
                                             'labels.slp']
    # a config without a top-level ann_file: the option is a dataset
    # argument, set on every loader's dataset
    cfg = load_config(QUICKSTART, {'ann_file': 'x.json'})
    assert {cfg[k].dataset.ann_file for k in
            ('train_dataloader', 'val_dataloader', 'test_dataloader')} == {
                'x.json'}
    with pytest.raises(CfgOptionsError,
                       match="the config has no 'ann_fil' .*'ann_file'"):
        load_config(QUICKSTART, {'ann_fil': 'x.json'})


# ---------------------------------------------------------------------------
# OpenCV 4 / 5
# ---------------------------------------------------------------------------
def test_silence_opencv_log_on_opencv_4_and_5():
    calls = []
    opencv5 = types.SimpleNamespace(utils=types.SimpleNamespace(
        logging=types.SimpleNamespace(
            LOG_LEVEL_SILENT=0, setLogLevel=lambda v: calls.append(('5', v)))))
    opencv4 = types.SimpleNamespace(
        utils=types.SimpleNamespace(),
        setLogLevel=lambda v: calls.append(('4', v)))
    assert silence_opencv_log(opencv5)
    assert silence_opencv_log(opencv4)
    assert not silence_opencv_log(types.SimpleNamespace())
    assert calls == [('5', 0), ('4', 0)]
    assert silence_opencv_log()  # the OpenCV installed here has one


def test_tracking_arguments_reach_the_tracker():
    """The video demos' --max-age and --init-track-thr end up in the
    PoseTracker the demo builds (the defaults without them)."""
    import argparse
    parser = argparse.ArgumentParser()
    cli.add_tracking_arguments(parser, detector=False)
    opts = cli.tracking_options(parser, parser.parse_args(
        ['--track-box', '--max-age', '5', '--init-track-thr', '0.7']))
    assert (opts.max_age, opts.init_track_thr) == (5, 0.7)
    tracker = opts.video_tracker(lambda frame, boxes: None).tracker
    assert (tracker.max_age, tracker.init_track_thr) == (5, 0.7)
    default = cli.tracking_options(parser, parser.parse_args([]))
    assert default.init_track_thr == 0.5
    assert opts.to_dict()['init_track_thr'] == 0.7
