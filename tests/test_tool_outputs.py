"""Unwritable outputs of the data tools (converters, browse_dataset.py, the
synthetic generator): one ``<prog>: error:`` line, non-zero exit, no
traceback, nothing written (issue 15, Part A item 4)."""
import importlib.util
import os.path as osp

import pytest

from conftest import REPO_ROOT


def _load_tool(rel_path):
    path = REPO_ROOT / rel_path
    spec = importlib.util.spec_from_file_location(
        '_cp_out_' + osp.basename(rel_path)[:-3], str(path))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def blocked(tmp_path):
    """An output path below a regular file: no folder can be made there."""
    a_file = tmp_path / 'a_file'
    a_file.write_text('x')
    return a_file


def _error_line(main, argv, capsys):
    with pytest.raises(SystemExit) as exc:
        main(argv)
    err = capsys.readouterr().err
    assert exc.value.code == 1, err
    assert 'Traceback' not in err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    return lines[0]


def test_converters_unwritable_output(synthetic_root, blocked, tmp_path,
                                      capsys):
    original2coco = _load_tool('tools/dataset_converters/original2coco.py')
    out = blocked / 'coco.json'
    line = _error_line(original2coco.main,
                       [str(synthetic_root / 'keypoints.json'), str(out)],
                       capsys)
    assert line == (f'original2coco.py: error: output file {out}: {blocked} '
                    'is a file, not a folder')

    coco = tmp_path / 'coco.json'
    assert original2coco.main(
        [str(synthetic_root / 'keypoints.json'), str(coco)]) == 0
    coco2original = _load_tool('tools/dataset_converters/coco2original.py')
    line = _error_line(coco2original.main, [str(coco), str(tmp_path)],
                       capsys)
    assert line == (f'coco2original.py: error: output file {tmp_path} is a '
                    'folder, not a file')
    # a missing input, and a category the file does not define
    line = _error_line(coco2original.main,
                       [str(tmp_path / 'none.json'), str(tmp_path / 'o.json')],
                       capsys)
    assert line.startswith('coco2original.py: error: input file not found: ')
    line = _error_line(original2coco.main, [
        str(synthetic_root / 'keypoints.json'),
        str(tmp_path / 'o.json'), '--categories', 'dgo'
    ], capsys)
    assert "unknown category 'dgo'" in line
    assert not (tmp_path / 'o.json').exists()


def test_browse_dataset_unwritable_output(synthetic_root, blocked, capsys):
    browse = _load_tool('tools/misc/browse_dataset.py')
    out = blocked / 'vis'
    line = _error_line(browse.main, [
        '--data-root', str(synthetic_root), '--output-dir', str(out)
    ], capsys)
    assert line == (f'browse_dataset.py: error: --output-dir {out}: '
                    f'{blocked} is a file, not a folder')


def test_generator_unwritable_output(blocked, capsys):
    generator = _load_tool('tools/make_synthetic_animalpose.py')
    line = _error_line(generator.main, [
        '--out-dir', str(blocked), '--num-images', '2', '--no-clip',
        '--no-progress'
    ], capsys)
    assert line == (f'make_synthetic_animalpose.py: error: --out-dir '
                    f'{blocked} is a file, not a folder')
    assert blocked.read_text() == 'x'  # untouched
