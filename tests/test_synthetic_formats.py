"""The synthetic generator's DeepLabCut, SLEAP and COCO projects of their own
keypoints (``formats=``, ``--formats``): read back by the package's readers,
they hold the generator's ground truth under their own names."""
import json
import os
import os.path as osp
import sys

import numpy as np
import pytest

from conftest import load_tool, read_tree
from custom_pose.datasets import CustomPoseKeypointDataset
from custom_pose.datasets.formats import read_keypoints
from custom_pose.datasets.synthetic import (COCO_KEYPOINTS,
                                            DEEPLABCUT_KEYPOINTS, KEYPOINT_NAMES,
                                            LAYOUTS, SLEAP_KEYPOINTS,
                                            generate_synthetic_animalpose)
from custom_pose.datasets.synthetic import generate
from custom_pose.datasets.synthetic.keypoint_sets import derive_keypoints
from custom_pose.datasets.synthetic.rig import PARTS_PER_ANIMAL

REPO_ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
ALL = ('animalpose', 'deeplabcut', 'deeplabcut_multi', 'sleap', 'coco')


def _generate(out_dir, **kwargs):
    args = dict(num_images=8, seed=3, image_size=(96, 80), max_animals=2,
                with_clip=False, formats=ALL)
    args.update(kwargs)
    return generate_synthetic_animalpose(str(out_dir), **args)


@pytest.fixture(scope='module')
def generated(tmp_path_factory):
    root = tmp_path_factory.mktemp('formats')
    summary = _generate(root)
    with open(root / 'keypoints.json') as f:
        release = json.load(f)
    return root, summary, release


def _expected(release, kset, image_ids=None):
    """``{(image id, k-th animal of the image): (K, 3) [x, y, labelled]}``
    from keypoints.json, in ``kset``'s keypoints (spine_mid: the midpoint
    of withers and tailbase, its visibility left open as NaN)."""
    index = {n: i for i, n in enumerate(KEYPOINT_NAMES)}
    out, seen = {}, {}
    for ann in release['annotations']:
        img = ann['image_id']
        if image_ids is not None and img not in image_ids:
            continue
        seen[img] = seen.get(img, 0) + 1
        kpts = np.asarray(ann['keypoints'], dtype=np.float64)
        rows = []
        for _, src in kset.keypoints:
            if src == 'spine_mid':
                mid = (kpts[index['withers'], :2] +
                       kpts[index['tailbase'], :2]) / 2
                rows.append([*mid, np.nan])
            else:
                rows.append(kpts[index[src]])
        out[(img, seen[img])] = np.asarray(rows)
    return out


def _check_instances(annots, expected, image_id_of):
    """Every instance read back matches the generator's keypoints."""
    seen = {}
    for inst in annots.instances:
        img = image_id_of[inst.image_id]
        seen[img] = seen.get(img, 0) + 1
        exp = expected[(img, seen[img])]
        known = ~np.isnan(exp[:, 2])
        np.testing.assert_array_equal(inst.labelled[known],
                                      exp[known, 2] > 0)
        lab = inst.labelled
        np.testing.assert_allclose(inst.keypoints[lab], exp[lab, :2],
                                   atol=0.0051)
    return seen


def test_each_format_reads_back_the_generators_ground_truth(generated):
    root, summary, release = generated
    assert set(summary['formats']) == set(ALL) - {'animalpose'}
    for fmt, info in summary['formats'].items():
        assert info['path'] == osp.join(str(root), LAYOUTS[fmt])
    per_image = {}
    for ann in release['annotations']:
        per_image[ann['image_id']] = per_image.get(ann['image_id'], 0) + 1
    assert max(per_image.values()) == 2 and min(per_image.values()) == 1

    # DeepLabCut, single animal: the images with one animal, 4 body parts
    dlc = read_keypoints(str(root / 'deeplabcut'))
    assert dlc.keypoint_names == ('snout', 'leftear', 'rightear', 'spine_mid')
    single = sorted(i for i, n in per_image.items() if n == 1)
    names = {f'labeled-data/synthetic/synth_{i:06d}.jpg': i for i in single}
    assert [img.file_name for img in dlc.images] == list(names)
    assert all(osp.isfile(img.path) and img.path.startswith(
        str(root / 'deeplabcut' / 'labeled-data')) for img in dlc.images)
    image_id_of = {img.id: names[img.file_name] for img in dlc.images}
    _check_instances(dlc, _expected(release, DEEPLABCUT_KEYPOINTS, single),
                     image_id_of)

    # DeepLabCut, multi-animal: every image, individuals in painting order
    multi = read_keypoints(str(root / 'deeplabcut_multi' / 'config.yaml'))
    assert multi.keypoint_names == dlc.keypoint_names
    assert len(multi.images) == len(per_image)
    image_id_of = {img.id: int(img.file_name[-10:-4]) for img in multi.images}
    seen = _check_instances(multi, _expected(release, DEEPLABCUT_KEYPOINTS),
                            image_id_of)
    assert seen == per_image
    assert {i.track for i in multi.instances} == {'animal1', 'animal2'}

    # SLEAP: 6 nodes, the ears a symmetry of the skeleton
    slp = read_keypoints(str(root / 'labels.pkg.slp'))
    assert slp.keypoint_names == SLEAP_KEYPOINTS.names
    assert slp.flip_pairs == ((1, 2), )
    assert len(slp.images) == len(per_image)
    _check_instances(slp, _expected(release, SLEAP_KEYPOINTS),
                     {img.id: img.id for img in slp.images})

    # COCO: 7 keypoints, the generator's boxes
    coco = read_keypoints(str(root / 'coco_keypoints.json'))
    assert coco.keypoint_names == COCO_KEYPOINTS.names
    assert len(coco.keypoint_names) == 7
    assert [img.file_name for img in coco.images] == [
        f'images/{f}' for f in release['images'].values()]
    _check_instances(coco, _expected(release, COCO_KEYPOINTS),
                     {img.id: img.id for img in coco.images})
    np.testing.assert_allclose([i.bbox for i in coco.instances],
                               [a['bbox'] for a in release['annotations']],
                               atol=1e-9)


def test_flip_pairs_follow_the_names(generated):
    root = generated[0]

    def pairs(**kwargs):
        ds = CustomPoseKeypointDataset(data_root=str(root), **kwargs)
        names = ds.metainfo['keypoint_id2name']
        return {(names[i], names[j]) for i, j in ds.flip_pairs}

    assert pairs(ann_file='deeplabcut') == {('leftear', 'rightear')}
    assert pairs(ann_file='labels.pkg.slp') == {('earL', 'earR')}
    assert pairs(ann_file='coco_keypoints.json') == {
        ('left_eye', 'right_eye'), ('left_front_paw', 'right_front_paw')}


def test_spine_mid_is_visible_where_the_torso_is_seen():
    w, h = 40, 30
    kpts = np.zeros((len(KEYPOINT_NAMES), 3))
    kpts[KEYPOINT_NAMES.index('withers'), :2] = (10, 10)
    kpts[KEYPOINT_NAMES.index('tailbase'), :2] = (21, 14)  # mid (15.5, 12)
    lbl = np.zeros((h, w), np.uint8)
    torso_of_animal_1 = 1 + PARTS_PER_ANIMAL * 1 + 0
    lbl[12, 16] = torso_of_animal_1  # the midpoint's pixel (rounded)
    assert derive_keypoints(kpts.tolist(), lbl, 1) == {
        'spine_mid': [15.5, 12.0, 1]}
    assert derive_keypoints(kpts.tolist(), lbl, 0)['spine_mid'][2] == 0
    lbl[12, 16] = 255  # an occluder
    assert derive_keypoints(kpts.tolist(), lbl, 1)['spine_mid'][2] == 0
    lbl[12, 16] = 1 + PARTS_PER_ANIMAL + 1  # the neck: not both ends' part
    assert derive_keypoints(kpts.tolist(), lbl, 1)['spine_mid'][2] == 0
    kpts[KEYPOINT_NAMES.index('tailbase'), :2] = (90, 14)  # outside
    assert derive_keypoints(kpts.tolist(), lbl, 1)['spine_mid'][2] == 0


def test_same_seed_same_files(tmp_path):
    root = tmp_path / 'a'
    _generate(root)
    _generate(tmp_path / 'b')
    _generate(tmp_path / 'c', seed=4)
    a, b, c = (read_tree(d) for d in (root, tmp_path / 'b', tmp_path / 'c'))
    assert set(a) == set(b)
    assert 'deeplabcut_multi/labeled-data/synthetic/' \
        'CollectedData_synthetic.csv' in a
    for name in a:
        if name.endswith('config.yaml'):  # project_path is absolute
            a[name] = a[name].replace(str(root).encode(), b'ROOT')
            b[name] = b[name].replace(str(tmp_path / 'b').encode(), b'ROOT')
        if name.endswith('.slp') or name == generate.MANIFEST_NAME:
            continue  # HDF5 stores times (and the file list checksums)
        assert a[name] == b[name], name
    for name in ('deeplabcut_multi/labeled-data/synthetic/'
                 'CollectedData_synthetic.csv', 'coco_keypoints.json'):
        assert a[name] != c[name], name
    sa, sb = (read_keypoints(str(d / 'labels.pkg.slp'))
              for d in (root, tmp_path / 'b'))
    assert sa.keypoint_names == sb.keypoint_names
    assert len(sa.instances) == len(sb.instances)
    for ia, ib in zip(sa.instances, sb.instances):
        np.testing.assert_array_equal(ia.keypoints, ib.keypoints)
        np.testing.assert_array_equal(ia.visibility, ib.visibility)


def _cli():
    return load_tool('tools/make_synthetic_animalpose.py')


def test_cli_formats(tmp_path, capsys):
    cli = _cli()
    out = tmp_path / 'mouse'
    assert cli.main(['--out-dir', str(out), '--num-images', '3',
                     '--image-size', '64', '64', '--no-clip', '--no-progress',
                     '--formats', 'deeplabcut']) == 0
    assert f'deeplabcut: {out}/deeplabcut/config.yaml (3 images' in \
        capsys.readouterr().out
    # and the list of what it wrote (what --overwrite removes)
    manifest = generate.MANIFEST_NAME
    assert sorted(os.listdir(out)) == sorted([manifest, 'deeplabcut', 'images'])
    assert 'deeplabcut/config.yaml' in json.loads((out / manifest).read_text())
    assert read_keypoints(str(out / 'deeplabcut')).num_keypoints == 4


def test_cli_bad_formats_write_nothing(tmp_path, capsys, monkeypatch):
    cli = _cli()
    out = tmp_path / 'x'
    assert cli.main(['--out-dir', str(out), '--formats',
                     'deeplabcut,dlc']) == 2
    err = capsys.readouterr().err
    assert err.count('\n') == 1
    assert err.startswith(
        "make_synthetic_animalpose.py: error: formats: expected some of "
        "['animalpose', 'deeplabcut',")
    assert "got ['deeplabcut', 'dlc']" in err
    monkeypatch.setitem(sys.modules, 'sleap_io', None)  # not installed
    assert cli.main(['--out-dir', str(out), '--formats',
                     'animalpose,sleap']) == 2
    err = capsys.readouterr().err
    assert err.count('\n') == 1 and "'sleap' needs the optional package " \
        'sleap-io' in err
    assert not out.exists()
