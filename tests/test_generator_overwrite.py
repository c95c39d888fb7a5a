"""tools/make_synthetic_animalpose.py --overwrite removes only what the
generator wrote: the files its .synthetic_files.json lists, inside
--out-dir, with the size and SHA-256 recorded there."""
import hashlib
import json

import pytest

from conftest import load_tool

PROG = 'make_synthetic_animalpose.py'
MANIFEST = '.synthetic_files.json'


def _run(out, num_images, *extra):
    generator = load_tool('tools/make_synthetic_animalpose.py')
    return generator.main([
        '--out-dir', str(out), '--num-images', str(num_images),
        '--image-size', '64', '64', '--no-clip', '--no-progress', *extra])


def _error_line(out, capsys, *extra):
    """The one error line of a refused run."""
    capsys.readouterr()
    with pytest.raises(SystemExit) as exc:
        _run(out, 2, *extra)
    err = capsys.readouterr().err
    assert exc.value.code == 1, err
    assert 'Traceback' not in err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    return lines[0]


def _tree(folder):
    return {str(p.relative_to(folder)): p.read_bytes()
            for p in folder.rglob('*') if p.is_file()}


def _record(path):
    data = path.read_bytes()
    return dict(size=len(data), sha256=hashlib.sha256(data).hexdigest())


def test_manifest_records_size_and_sha256(tmp_path):
    out = tmp_path / 'data'
    assert _run(out, 2) == 0
    listed = json.loads((out / MANIFEST).read_text())
    assert sorted(listed) == ['images/synth_000001.jpg',
                              'images/synth_000002.jpg', 'keypoints.json']
    for rel, record in listed.items():
        assert record == _record(out / rel)


def test_overwrite_never_removes_outside_out_dir(tmp_path, capsys):
    """Entries such as ../x and absolute paths are kept, even where their
    size and checksum match, and named in one warning line."""
    out = tmp_path / 'data'
    assert _run(out, 2) == 0
    outside = tmp_path / 'notes.txt'
    outside.write_text('mine')
    absolute = tmp_path / 'elsewhere' / 'photo.jpg'
    absolute.parent.mkdir()
    absolute.write_bytes(b'photo')
    listed = {rel: _record(out / rel) for rel in _tree(out) if rel != MANIFEST}
    listed['../notes.txt'] = _record(outside)
    listed[str(absolute)] = _record(absolute)
    (out / MANIFEST).write_text(json.dumps(listed))
    capsys.readouterr()
    assert _run(out, 1, '--overwrite') == 0
    assert outside.read_text() == 'mine'
    assert absolute.read_bytes() == b'photo'
    warnings = [line for line in capsys.readouterr().err.splitlines()
                if line.startswith(f'{PROG}: warning:')]
    assert len(warnings) == 1
    assert '../notes.txt' in warnings[0] and str(absolute) in warnings[0]
    # what the generator wrote inside was replaced: one image, no stale one
    assert sorted(_tree(out)) == [MANIFEST, 'images/synth_000001.jpg',
                                  'keypoints.json']


def test_overwrite_keeps_files_changed_since_they_were_written(tmp_path,
                                                               capsys):
    out = tmp_path / 'data'
    assert _run(out, 3) == 0
    edited = out / 'images' / 'synth_000003.jpg'
    edited.write_bytes(b'my retouched image')
    capsys.readouterr()
    assert _run(out, 2, '--overwrite') == 0
    assert edited.read_bytes() == b'my retouched image'
    err = capsys.readouterr().err
    assert f'{PROG}: warning: kept 1 file(s) listed in ' in err
    assert 'images/synth_000003.jpg' in err
    # it is no longer listed as the generator's
    assert 'images/synth_000003.jpg' not in json.loads(
        (out / MANIFEST).read_text())

    # a changed file this run would write again: refused, nothing removed
    (out / 'keypoints.json').write_text('{"my": "labels"}')
    before = _tree(out)
    line = _error_line(out, capsys, '--overwrite')
    assert line.startswith(f'{PROG}: error: {out}: this run writes '
                           'keypoints.json, which the generator did not '
                           'write as it is')
    assert _tree(out) == before


@pytest.mark.parametrize('overwrite', [(), ('--overwrite', )])
def test_folder_without_manifest_is_refused(tmp_path, capsys, overwrite):
    """A folder the generator did not write: nothing in it is removed or
    replaced, and it is not called a generated dataset."""
    out = tmp_path / 'mine'
    (out / 'images').mkdir(parents=True)
    (out / 'keypoints.json').write_text('{"my": "labels"}')
    (out / 'clip.mp4').write_bytes(b'my video')
    (out / 'images' / 'synth_000001.jpg').write_bytes(b'my image')
    before = _tree(out)
    line = _error_line(out, capsys, *overwrite)
    assert line.startswith(f'{PROG}: error: {out} is not empty and has no '
                           f'{MANIFEST}')
    assert 'generated dataset' not in line
    assert _tree(out) == before


@pytest.mark.parametrize('text', ['{"images/synth_000001.jpg": {"si', '42'])
def test_corrupt_manifest_names_the_file(tmp_path, capsys, text):
    out = tmp_path / 'data'
    assert _run(out, 2) == 0
    (out / MANIFEST).write_text(text)
    before = _tree(out)
    line = _error_line(out, capsys, '--overwrite')
    assert line.startswith(f'{PROG}: error: {out / MANIFEST}: ')
    assert 'nothing was removed' in line and 'another folder' in line
    assert _tree(out) == before
