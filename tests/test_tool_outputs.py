"""Unwritable outputs of the data tools (converters, browse_dataset.py, the
synthetic generator): one ``<prog>: error:`` line, non-zero exit, no
traceback, nothing written; outputs that would destroy an input or mix two
datasets are refused."""
import json
import os
import stat

import pytest

from conftest import REPO_ROOT, load_tool


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
    original2coco = load_tool('tools/dataset_converters/original2coco.py')
    out = blocked / 'coco.json'
    line = _error_line(original2coco.main,
                       [str(synthetic_root / 'keypoints.json'), str(out)],
                       capsys)
    assert line == (f'original2coco.py: error: output file {out}: {blocked} '
                    'is a file, not a folder')

    coco = tmp_path / 'coco.json'
    assert original2coco.main(
        [str(synthetic_root / 'keypoints.json'), str(coco)]) == 0
    coco2original = load_tool('tools/dataset_converters/coco2original.py')
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
    browse = load_tool('tools/misc/browse_dataset.py')
    out = blocked / 'vis'
    line = _error_line(browse.main, [
        '--data-root', str(synthetic_root), '--output-dir', str(out)
    ], capsys)
    assert line == (f'browse_dataset.py: error: --output-dir {out}: '
                    f'{blocked} is a file, not a folder')


def test_generator_unwritable_output(blocked, capsys):
    generator = load_tool('tools/make_synthetic_animalpose.py')
    line = _error_line(generator.main, [
        '--out-dir', str(blocked), '--num-images', '2', '--no-clip',
        '--no-progress'
    ], capsys)
    assert line == (f'make_synthetic_animalpose.py: error: --out-dir '
                    f'{blocked} is a file, not a folder')
    assert blocked.read_text() == 'x'  # untouched


# ---------------------------------------------------------------------------
# outputs that would destroy or mix data
# ---------------------------------------------------------------------------
def test_converter_refuses_to_overwrite_its_input(synthetic_root, tmp_path,
                                                  capsys):
    original2coco = load_tool('tools/dataset_converters/original2coco.py')
    source = tmp_path / 'keypoints.json'
    source.write_bytes((synthetic_root / 'keypoints.json').read_bytes())
    before = source.read_bytes()
    link = tmp_path / 'link.json'
    link.symlink_to(source)
    for out in (source, link):  # the same file, also through a link
        line = _error_line(original2coco.main, [str(source), str(out)],
                           capsys)
        assert line == (
            f'original2coco.py: error: output file {out} is the input file '
            f'{source}: writing it would destroy the input; give another '
            'output file')
    assert source.read_bytes() == before
    coco2original = load_tool('tools/dataset_converters/coco2original.py')
    line = _error_line(coco2original.main, [str(source), str(source)], capsys)
    assert 'is the input file' in line


def test_converter_output_permissions(synthetic_root, tmp_path):
    """0644 under the usual umask (the temporary file was 0600)."""
    original2coco = load_tool('tools/dataset_converters/original2coco.py')
    old = os.umask(0o022)
    try:
        out = tmp_path / 'coco.json'
        assert original2coco.main(
            [str(synthetic_root / 'keypoints.json'), str(out)]) == 0
    finally:
        os.umask(old)
    assert stat.S_IMODE(out.stat().st_mode) == 0o644
    assert json.loads(out.read_text())['annotations']
    assert [p.name for p in tmp_path.iterdir()] == ['coco.json']  # no temp


def _generate(main, out, num_images, *extra):
    return main(['--out-dir', str(out), '--num-images', str(num_images),
                 '--image-size', '64', '64', '--no-clip', '--no-progress',
                 *extra])


def test_generator_refuses_an_existing_dataset(tmp_path, capsys):
    generator = load_tool('tools/make_synthetic_animalpose.py')
    out = tmp_path / 'data'
    assert _generate(generator.main, out, 3) == 0
    (out / 'notes.txt').write_text('mine')
    before = {p: p.read_bytes() for p in out.rglob('*') if p.is_file()}
    capsys.readouterr()
    line = _error_line(generator.main,
                       ['--out-dir', str(out), '--num-images', '2',
                        '--no-clip', '--no-progress'], capsys)
    assert line == (
        f'make_synthetic_animalpose.py: error: {out} already holds a '
        'generated dataset (.synthetic_files.json, images/synth_000001.jpg, '
        'images/synth_000002.jpg, ... (5 files)); replace it with '
        '--overwrite (overwrite=True), which first removes the files the '
        'generator wrote there, or write to another folder')
    assert {p: p.read_bytes() for p in out.rglob('*') if p.is_file()} == \
        before

    # --overwrite: a smaller dataset, no stale image, the user's file kept
    assert _generate(generator.main, out, 2, '--overwrite') == 0
    assert sorted(p.name for p in (out / 'images').iterdir()) == [
        'synth_000001.jpg', 'synth_000002.jpg']
    assert len(json.loads((out / 'keypoints.json').read_text())['images']) \
        == 2
    assert (out / 'notes.txt').read_text() == 'mine'


def test_generator_keeps_a_folder_without_file_list(tmp_path, capsys):
    """Without its file list a folder is not the generator's: --overwrite
    removes nothing there (tests/test_generator_overwrite.py has more)."""
    generator = load_tool('tools/make_synthetic_animalpose.py')
    out = tmp_path / 'data'
    assert _generate(generator.main, out, 3) == 0
    (out / '.synthetic_files.json').unlink()
    (out / 'images' / 'photo.jpg').write_bytes(b'mine')
    before = {p: p.read_bytes() for p in out.rglob('*') if p.is_file()}
    with pytest.raises(SystemExit):
        _generate(generator.main, out, 1, '--overwrite')
    assert 'has no .synthetic_files.json' in capsys.readouterr().err
    assert {p: p.read_bytes() for p in out.rglob('*') if p.is_file()} == \
        before


def test_save_untrained_checkpoint(tmp_path, capsys, blocked):
    """The weights training starts from: the same seed gives the same file,
    another seed other weights, and the strict loader takes it for the
    config's model (what tools/test.py does with it)."""
    import torch

    from custom_pose.apis import init_pose_model
    tool = load_tool('tools/misc/save_untrained_checkpoint.py')
    cfg = str(REPO_ROOT / 'configs/animal/'
              'custom_res18_quickstart_synthetic_128x128.py')
    paths = {name: str(tmp_path / f'{name}.pth') for name in ('a', 'b', 'c')}
    for name, seed in (('a', 0), ('b', 0), ('c', 1)):
        assert tool.main([cfg, paths[name], '--seed', str(seed)]) == 0
    assert f"wrote {paths['a']} (seed 0)" in capsys.readouterr().out
    weights = {n: torch.load(p, map_location='cpu')['state_dict']
               for n, p in paths.items()}
    key = 'head.final_layer.weight'
    assert key in weights['a']
    assert all(torch.equal(weights['a'][k], weights['b'][k])
               for k in weights['a'])
    assert not torch.equal(weights['a'][key], weights['c'][key])
    model = init_pose_model(cfg, paths['a'], device='cpu')
    assert torch.equal(model.state_dict()[key], weights['a'][key])
    line = _error_line(tool.main, [cfg, str(blocked / 'x.pth')], capsys)
    assert line.startswith('save_untrained_checkpoint.py: error: ')
    assert str(blocked) in line
