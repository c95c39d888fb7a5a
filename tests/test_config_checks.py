"""Config files and --cfg-options are checked before anything is built:
misspelled top-level and loop keys, a .yaml file holding Python, a _base_
chain that includes itself, --cfg-options values with spaces and pairs
without '='."""
import argparse

import pytest

from conftest import CONFIG_DIR, load_tool
from custom_pose.errors import ModelConfigError
from custom_pose.utils import cli

QUICKSTART = str(CONFIG_DIR / 'animal' /
                 'custom_res18_quickstart_synthetic_128x128.py')


def _config(tmp_path, text, name='cfg.py'):
    path = tmp_path / name
    path.write_text(f'_base_ = [{QUICKSTART!r}]\n' + text)
    return str(path)


def _train_error(config, capsys, work_dir, *extra):
    """The one stderr line of tools/train.py refusing ``config``."""
    train = load_tool('tools/train.py')
    with pytest.raises(SystemExit) as exc:
        train.main([config, '--work-dir', str(work_dir), *extra])
    err = capsys.readouterr().err
    assert exc.value.code != 0
    assert 'Traceback' not in err
    lines = [line for line in err.splitlines() if line.strip()]
    return lines[-1]


def test_misspelled_top_level_key_is_refused(tmp_path, capsys):
    path = _config(tmp_path, 'trian_cfg = dict(max_epochs=1)\n')
    message = (f'config {path}: unknown key trian_cfg — did you mean '
               'train_cfg? (a helper variable: name it _trian_cfg)')
    with pytest.raises(ModelConfigError) as exc:
        cli.load_config(path)
    assert str(exc.value) == message
    line = _train_error(path, capsys, tmp_path / 'work')
    assert line == f'train.py: error: {message}'
    # helper variables far from every Runner key, or named _..., load
    ok = _config(tmp_path, "my_pipeline = []\n_trian_cfg = 1\n"
                 "dataset_type = 'OrgAnimalPoseDataset'\n", 'ok.py')
    assert cli.load_config(ok).my_pipeline == []


def test_loop_keys_are_checked_against_the_loop_class(tmp_path, capsys):
    path = _config(tmp_path, 'train_cfg = dict(max_epoch=1)\n')
    message = (
        f'config {path}: train_cfg has no key max_epoch (EpochBasedTrainLoop'
        ' takes by_epoch, dynamic_intervals, max_epochs, val_begin, '
        'val_interval); did you mean max_epochs?')
    with pytest.raises(ModelConfigError) as exc:
        cli.load_config(path)
    assert str(exc.value) == message
    line = _train_error(path, capsys, tmp_path / 'work')
    assert line == f'train.py: error: {message}'
    by_iter = _config(
        tmp_path, 'train_cfg = dict(by_epoch=False, max_iters=2, '
        'max_epochs=None)\n', 'iter.py')
    with pytest.raises(ModelConfigError, match='IterBasedTrainLoop takes'):
        cli.load_config(by_iter)
    val = _config(tmp_path, 'val_cfg = dict(fp61=True)\n', 'val.py')
    with pytest.raises(ModelConfigError) as exc:
        cli.load_config(val)
    assert str(exc.value) == (f'config {val}: val_cfg has no key fp61 '
                              '(ValLoop takes fp16); did you mean fp16?')


def _parser():
    parser = argparse.ArgumentParser(prog='tool.py')
    cli.add_cfg_options_argument(parser, 'data_root=DIR')
    return parser


def test_cfg_options_keep_spaces_and_parse_values():
    args = _parser().parse_args([
        '--cfg-options', 'data_root=/a b/c d', 'ann_file="/x y/k.json"',
        'model.test_cfg.flip_test=false', 'train_dataloader.batch_size=4',
        'optim_wrapper.optimizer.lr=1e-3', 'load_from=None',
        'scales=[(1, 2), [a b, c]]', 'names=a,b'
    ])
    assert args.cfg_options == {
        'data_root': '/a b/c d',
        'ann_file': '/x y/k.json',
        'model.test_cfg.flip_test': False,
        'train_dataloader.batch_size': 4,
        'optim_wrapper.optimizer.lr': 0.001,
        'load_from': None,
        'scales': [(1, 2), ['a b', 'c']],
        'names': ['a', 'b'],
    }
    merged = cli.load_config(QUICKSTART, {'data_root': '/a b/c d'})
    assert merged.train_dataloader.dataset.data_root == '/a b/c d'


def test_cfg_options_take_dicts_of_literals_only():
    args = _parser().parse_args([
        '--cfg-options', "model.backbone.init_cfg=dict(type='Pretrained',"
        "checkpoint='torchvision://resnet18')", "codec={'sigma': 2}"
    ])
    assert args.cfg_options == {
        'model.backbone.init_cfg': dict(
            type='Pretrained', checkpoint='torchvision://resnet18'),
        'codec': {'sigma': 2},
    }


def test_cfg_options_dict_replaces_a_value_that_is_not_a_dict():
    init = dict(type='Pretrained', checkpoint='torchvision://resnet18')
    cfg = cli.load_config(QUICKSTART, {'model.backbone.init_cfg': init,
                                       'model.head.decoder': {'sigma': 3}})
    assert cfg.model.backbone.init_cfg == init  # None in the config
    assert cfg.model.head.decoder.sigma == 3  # merged into the codec
    assert cfg.model.head.decoder.type == 'MSRAHeatmap'


@pytest.mark.parametrize('pair,message', [
    ('data_root', "'data_root' is not KEY=VALUE"),
    ('a=dict(b=os.getcwd())', "a: 'dict(b=os.getcwd())' is not a dict"),
    ('=x', "'=x' is not KEY=VALUE"),
    ('scales=[1, 2', "scales: unbalanced brackets in '[1, 2'"),
])
def test_cfg_options_pair_without_equals_is_a_usage_error(pair, message,
                                                          capsys):
    with pytest.raises(SystemExit) as exc:
        _parser().parse_args(['--cfg-options', pair])
    assert exc.value.code == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert lines[-1].startswith(
        f'tool.py: error: argument --cfg-options: {message}')
    assert not any('Traceback' in line for line in lines)


def test_yaml_config_holding_python_names_the_fix(tmp_path):
    path = tmp_path / 'cfg.yaml'
    path.write_text('train_cfg = dict(max_epochs=1)\nx = [1, 2]\n')
    with pytest.raises(ModelConfigError) as exc:
        cli.load_config(str(path))
    assert str(exc.value) == (
        f'config {path} holds Python code, but a .yaml file is read as '
        'YAML: rename it to cfg.py')
    path.write_text('- a\n- b\n')
    with pytest.raises(ModelConfigError, match='is not a YAML mapping'):
        cli.load_config(str(path))


def test_base_including_itself_names_the_file(tmp_path):
    own = tmp_path / 'own.py'
    own.write_text("_base_ = ['./own.py']\nx = 1\n")
    with pytest.raises(ModelConfigError) as exc:
        cli.load_config(str(own))
    assert str(exc.value) == (
        f'config {own}: its _base_ chain includes itself ({own} -> {own}); '
        f'remove {own} from the _base_ list of {own}')
    (tmp_path / 'a.py').write_text("_base_ = ['./b.py']\n")
    (tmp_path / 'b.py').write_text("_base_ = ['./a.py']\n")
    with pytest.raises(ModelConfigError) as exc:
        cli.load_config(str(tmp_path / 'a.py'))
    assert f"remove {tmp_path / 'a.py'} from the _base_ list of " \
        f"{tmp_path / 'b.py'}" in str(exc.value)
