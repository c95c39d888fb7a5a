"""Tests of the synthetic Animal-Pose generator (custom_pose.datasets.synthetic)
and its CLI (tools/make_synthetic_animalpose.py)."""
import json
import os.path as osp
import subprocess
import sys

import cv2
import numpy as np
import pytest

from conftest import load_tool, read_tree, read_video
from custom_pose.datasets import synthetic as syn

REPO_ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))


def _generate(out_dir, **kwargs):
    args = dict(
        num_images=6,
        seed=0,
        image_size=(160, 128),
        max_animals=2,
        with_clip=True,
        clip_frames=12,
        clip_size=(128, 96))
    args.update(kwargs)
    return syn.generate_synthetic_animalpose(str(out_dir), **args)


def test_same_seed_byte_identical_different_seed_differs(tmp_path):
    _generate(tmp_path / 'a')
    _generate(tmp_path / 'b')
    _generate(tmp_path / 'c', seed=1)
    files_a = read_tree(tmp_path / 'a')
    files_b = read_tree(tmp_path / 'b')
    files_c = read_tree(tmp_path / 'c')
    written = {'keypoints.json', 'clip.mp4', 'clip_keypoints.json'} | {
        osp.join('images', f'synth_{i:06d}.jpg')
        for i in range(1, 7)
    }
    # and the list of what it wrote (what --overwrite removes)
    expected = written | {syn.generate.MANIFEST_NAME}
    assert set(files_a) == expected
    assert set(json.loads(files_a[syn.generate.MANIFEST_NAME])) == written
    assert set(files_b) == expected
    for name in expected:
        assert files_a[name] == files_b[name], name
    # a different seed changes the annotations, every image and the clip
    assert files_a['keypoints.json'] != files_c['keypoints.json']
    assert files_a['clip.mp4'] != files_c['clip.mp4']
    assert files_a['clip_keypoints.json'] != files_c['clip_keypoints.json']
    for i in range(1, 7):
        name = osp.join('images', f'synth_{i:06d}.jpg')
        assert files_a[name] != files_c[name], name


def test_keypoints_json_schema(tmp_path):
    summary = _generate(
        tmp_path, num_images=12, image_size=(192, 160), with_clip=False)
    assert summary['clip'] is None
    assert summary['num_images'] == 12
    with open(tmp_path / 'keypoints.json') as f:
        data = json.load(f)
    assert list(data) == ['images', 'annotations', 'categories']

    # categories: the release's ids, names, keypoints and 0-based skeleton
    cats = {c['id']: c for c in data['categories']}
    assert {i: c['name'] for i, c in cats.items()} == {
        1: 'dog', 2: 'cat', 3: 'sheep', 4: 'cow', 5: 'horse'}
    for cat in cats.values():
        assert cat['supercategory'] == 'animal'
        assert cat['keypoints'] == list(syn.KEYPOINT_NAMES)
        assert len(cat['keypoints']) == 20
        assert cat['keypoints'][17:] == ['throat', 'withers', 'tailbase']
        assert [2, 17] in cat['skeleton'] and [18, 19] in cat['skeleton']
        for i, j in cat['skeleton']:
            assert 0 <= i < 20 and 0 <= j < 20

    # images: {"<id>": "<file name>"}, every file decodes with the size
    images = data['images']
    assert sorted(int(k) for k in images) == list(range(1, 13))
    for image_id, name in images.items():
        assert isinstance(image_id, str) and isinstance(name, str)
        img = cv2.imread(str(tmp_path / 'images' / name))
        assert img is not None, name
        assert img.shape == (160, 192, 3)

    anns = data['annotations']
    assert len(anns) == summary['num_annotations'] >= 12
    assert {a['image_id'] for a in anns} == set(range(1, 13))
    n_visible = 0
    for ann in anns:
        assert set(ann) == {'image_id', 'bbox', 'keypoints', 'num_keypoints',
                            'category_id'}
        assert str(ann['image_id']) in images
        assert ann['category_id'] in cats
        xmin, ymin, xmax, ymax = ann['bbox']
        assert 0 <= xmin < xmax <= 191 and 0 <= ymin < ymax <= 159
        kpts = ann['keypoints']
        assert len(kpts) == 20 and all(len(k) == 3 for k in kpts)
        vis = [k[2] for k in kpts]
        assert set(vis) <= {0, 1}
        assert all(isinstance(v, int) for v in vis)
        assert ann['num_keypoints'] == sum(vis)
        for x, y, v in kpts:
            if v == 1:  # visible points are inside the image and the bbox
                assert 0 <= x <= 191 and 0 <= y <= 159
                assert xmin - 1 <= x <= xmax + 1 and ymin - 1 <= y <= ymax + 1
        n_visible += ann['num_keypoints']
    assert n_visible == summary['num_visible_keypoints']
    # the animals are clearly visible on average
    assert n_visible / len(anns) > 8
    # animals fill a reasonable part of the image
    sizes = [max(a['bbox'][2] - a['bbox'][0], a['bbox'][3] - a['bbox'][1])
             for a in anns]
    assert np.median(sizes) > 0.3 * 160


def test_truncation_puts_invisible_points_outside(tmp_path):
    _generate(
        tmp_path,
        num_images=8,
        max_animals=1,
        occlusion_prob=0.0,
        truncation_prob=1.0,
        with_clip=False)
    with open(tmp_path / 'keypoints.json') as f:
        anns = json.load(f)['annotations']
    outside = 0
    for ann in anns:
        for x, y, v in ann['keypoints']:
            if not (0 <= x <= 159 and 0 <= y <= 127):
                assert v == 0
                outside += 1
    assert outside >= 8
    for ann in anns:  # the bbox is clipped to the image
        xmin, ymin, xmax, ymax = ann['bbox']
        assert 0 <= xmin < xmax <= 159 and 0 <= ymin < ymax <= 127


def test_occluders_hide_points_inside_the_image():
    occluded_inside = 0
    for i in range(8):
        rng = np.random.default_rng([3, i])
        res = syn.render_scene(
            rng, (160, 160), occlusion_prob=1.0, truncation_prob=0.0)
        for kpts in res.keypoints:
            for x, y, v in kpts:
                xi, yi = int(round(x)), int(round(y))
                if 0 <= xi < 160 and 0 <= yi < 160:
                    on_occluder = res.label_map[yi, xi] == 255
                    if on_occluder:
                        assert v == 0
                        occluded_inside += 1
    assert occluded_inside >= 4
    # without occluders no point sits under an occluder label
    rng = np.random.default_rng([3, 0])
    res = syn.render_scene(
        rng, (160, 160), occlusion_prob=0.0, truncation_prob=0.0)
    assert not (res.label_map == 255).any()


def test_clip_reads_back(tmp_path):
    info = syn.make_clip(
        str(tmp_path), seed=2, num_frames=20, fps=25, image_size=(160, 128))
    cap = cv2.VideoCapture(info['video'])
    assert cap.isOpened()
    assert int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)) == 160
    assert int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT)) == 128
    assert cap.get(cv2.CAP_PROP_FPS) == pytest.approx(25.0)
    n = 0
    while True:
        ok, frame = cap.read()
        if not ok:
            break
        assert frame.shape == (128, 160, 3)
        n += 1
    cap.release()
    assert n == 20
    with open(info['keypoints_file']) as f:
        gt = json.load(f)
    assert gt['video'] == 'clip.mp4' and gt['fps'] == 25
    assert (gt['width'], gt['height'], gt['num_frames']) == (160, 128, 20)
    assert [fr['frame_id'] for fr in gt['frames']] == list(range(20))
    paws = []
    for fr in gt['frames']:
        assert len(fr['keypoints']) == 20
        assert fr['num_keypoints'] == sum(k[2] for k in fr['keypoints'])
        assert fr['num_keypoints'] >= 6
        paws.append(np.mean([fr['keypoints'][k][0] for k in range(13, 17)]))
    # the animal walks: its paws move across the frame
    assert max(paws) - min(paws) > 10


def test_arena_clip_two_small_animals_cross(tmp_path):
    info = syn.make_arena_clip(
        str(tmp_path), seed=2, num_frames=30, fps=10, image_size=(320, 240))
    assert info['categories'] == ['sheep', 'cow']
    frames = read_video(info['video'])[0]
    assert len(frames) == 30 and frames[0].shape == (240, 320, 3)
    gt = syn.read_arena_keypoints(info['keypoints_file'])
    assert gt['video'] == info['video'] and gt['fps'] == 10
    assert gt['track_ids'].tolist() == [0, 1]
    # animal 0 in every frame, animal 1 from a third of the way in
    present = gt['present']
    assert present[:, 0].all()
    assert present[:, 1].tolist() == [False] * 10 + [True] * 20
    assert info['two_animal_frames'] == 20
    assert np.isnan(gt['keypoints'][:10, 1]).all()
    boxes = gt['bboxes']
    width = (boxes[..., 2] - boxes[..., 0]) / 320
    inside = (boxes[..., 0] > 0.5) & (boxes[..., 2] < 318.5)
    assert inside[:, 0].all() and inside[:, 1].sum() >= 15
    # small animals: 15-25 % of the frame width in every frame they are
    # fully inside
    assert ((width[inside] >= 0.15) & (width[inside] <= 0.25)).all()
    # animal 1 enters at the right edge, partly outside (labels v=0 there)
    kpts, vis = gt['keypoints'], gt['visible']
    out_x = kpts[10, 1, :, 0] > 319
    assert out_x.any() and not vis[10, 1][out_x].any()
    # 0 walks right, 1 walks left: their order along x swaps (they cross),
    # and where they overlap animal 1 (nearer) hides keypoints of animal 0
    cx = (boxes[..., 0] + boxes[..., 2]) / 2
    assert np.all(np.diff(cx[:, 0]) > 0) and np.all(np.diff(cx[10:, 1]) < 0)
    assert cx[10, 1] > cx[10, 0] and cx[29, 1] < cx[29, 0]
    cross = 10 + int(np.argmin(np.abs(cx[10:, 0] - cx[10:, 1])))
    assert vis[cross, 0].sum() <= vis[:, 0].sum(axis=1).max() - 5
    # the JSON keeps the same records, per frame sorted by track id
    with open(info['keypoints_file']) as f:
        data = json.load(f)
    assert data['animals'][1] == dict(track_id=1, category_id=4,
                                      first_frame=10)
    inst = data['frames'][cross]['instances']
    assert [a['track_id'] for a in inst] == [0, 1]
    assert inst[0]['num_keypoints'] == int(vis[cross, 0].sum())
    assert np.allclose(np.array(inst[1]['keypoints'])[:, :2],
                       kpts[cross, 1])
    # one animal only
    one = syn.make_arena_clip(
        str(tmp_path / 'one'), seed=2, num_frames=6, image_size=(320, 240),
        num_animals=1)
    assert one['two_animal_frames'] == 0
    with pytest.raises(ValueError, match='num_animals'):
        syn.make_arena_clip(str(tmp_path), num_animals=3)
    with pytest.raises(ValueError, match='even'):
        syn.make_arena_clip(str(tmp_path), image_size=(321, 240))


def test_arena_clip_cli_is_deterministic(tmp_path):
    """--arena-clip through the tool writes the library's bytes, and the
    library the same bytes again; another seed gives other bytes; without
    the flag nothing of it is written."""
    script = osp.join(REPO_ROOT, 'tools', 'make_synthetic_animalpose.py')
    proc = subprocess.run(
        [sys.executable, script, '--out-dir', str(tmp_path / 'cli'),
         '--seed', '3', '--num-images', '1', '--image-size', '64', '64',
         '--no-clip', '--no-progress', '--arena-clip', '--arena-frames',
         '8', '--arena-size', '192', '128', '--clip-fps', '12'],
        capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert 'arena clip 8 frames (6 with two animals)' in proc.stdout
    arena = ('arena_clip.mp4', 'arena_clip_keypoints.json')
    cli = read_tree(tmp_path / 'cli')
    for name, seed in (('a', 3), ('b', 3), ('c', 4)):
        syn.make_arena_clip(str(tmp_path / name), seed=seed, num_frames=8,
                            fps=12, image_size=(192, 128))
    a, b, c = (read_tree(tmp_path / n) for n in 'abc')
    assert set(a) == set(arena)
    assert all(cli[n] == a[n] == b[n] != c[n] for n in arena)
    summary = _generate(tmp_path / 'd', num_images=1, with_clip=False)
    assert summary['arena_clip'] is None
    assert not (tmp_path / 'd' / 'arena_clip.mp4').exists()


@pytest.mark.parametrize('facing_right', [True, False])
def test_left_right_near_side_shading(facing_right):
    """Facing right the LEFT side faces the camera: left legs are drawn in
    front in the lighter near-side shade, right legs in the darker far-side
    shade (and vice versa when facing left)."""
    checked_near = checked_far = 0
    for i in range(6):
        rng = np.random.default_rng([11, i])
        spec = syn.sample_animal_spec(rng, category=('dog', 'horse',
                                                     'cow')[i % 3])
        spec.yaw = 0.0 if facing_right else np.pi
        res = syn.render_scene(
            rng, (256, 256),
            occlusion_prob=0.0,
            truncation_prob=0.0,
            specs=[spec],
            postprocess=False)
        info = res.animals[0]
        assert info['near_side'] == ('left' if facing_right else 'right')
        near = np.array(info['near_paw'], dtype=float)
        far = np.array(info['far_paw'], dtype=float)
        assert near.sum() > far.sum() + 30  # near side is clearly lighter
        assert np.array(info['near_leg']).sum() > np.array(
            info['far_leg']).sum() + 30
        kpts = res.keypoints[0]
        # the head points in the facing direction
        body_x = (kpts[18, 0] + kpts[19, 0]) / 2
        assert (kpts[2, 0] > body_x) == facing_right
        left_paws, right_paws = (13, 15), (14, 16)
        near_paws = left_paws if facing_right else right_paws
        far_paws = right_paws if facing_right else left_paws
        for k in near_paws:
            x, y, v = kpts[k]
            if v:
                pix = res.image[int(round(y)), int(round(x))].astype(float)
                assert np.abs(pix - near).max() <= 3, (k, pix, near)
                checked_near += 1
        for k in far_paws:
            x, y, v = kpts[k]
            if v:
                pix = res.image[int(round(y)), int(round(x))].astype(float)
                assert np.abs(pix - far).max() <= 3, (k, pix, far)
                checked_far += 1
        # where a near leg overlaps a far one, the near leg is in front
        lbl = res.label_map
        for k in far_paws:
            x, y, v = kpts[k]
            if not v:
                value = lbl[int(round(y)), int(round(x))]
                assert value != 0  # hidden by a body part, not by nothing
    assert checked_near >= 10
    assert checked_far >= 4


def test_near_eye_visible_far_eye_hidden_in_profile():
    rng = np.random.default_rng(5)
    spec = syn.sample_animal_spec(rng, category='dog')
    spec.yaw, spec.head_turn = 0.0, 0.0
    res = syn.render_scene(
        rng, (256, 256), occlusion_prob=0.0, truncation_prob=0.0,
        specs=[spec], postprocess=False)
    vis = res.keypoints[0][:, 2]
    assert vis[0] == 1 and vis[1] == 0  # left eye seen, right eye hidden
    assert vis[2] == 1  # nose


def test_invalid_arguments(tmp_path):
    with pytest.raises(ValueError, match='num_images'):
        syn.generate_synthetic_animalpose(str(tmp_path), num_images=0)
    with pytest.raises(ValueError, match='categories'):
        syn.generate_synthetic_animalpose(
            str(tmp_path), num_images=1, categories=['zebra'])
    with pytest.raises(ValueError, match='occlusion_prob'):
        syn.generate_synthetic_animalpose(
            str(tmp_path), num_images=1, occlusion_prob=1.5)
    with pytest.raises(ValueError, match='max_animals'):
        syn.generate_synthetic_animalpose(
            str(tmp_path), num_images=1, max_animals=0)
    with pytest.raises(ValueError, match='image_size'):
        syn.generate_synthetic_animalpose(
            str(tmp_path), num_images=1, image_size=(8, 8))
    with pytest.raises(ValueError, match='image_size'):
        syn.make_clip(str(tmp_path), image_size=(127, 128))


def test_categories_subset(tmp_path):
    _generate(
        tmp_path, num_images=5, categories=['horse'], with_clip=False)
    with open(tmp_path / 'keypoints.json') as f:
        anns = json.load(f)['annotations']
    assert {a['category_id'] for a in anns} == {5}


def test_cli_from_other_cwd(tmp_path):
    out = tmp_path / 'out'
    script = osp.join(REPO_ROOT, 'tools', 'make_synthetic_animalpose.py')
    proc = subprocess.run(
        [
            sys.executable, script, '--out-dir', 'out', '--num-images', '3',
            '--seed', '4', '--image-size', '96', '64', '--max-animals', '2',
            '--no-clip', '--no-progress'
        ],
        cwd=str(tmp_path),
        capture_output=True,
        text=True,
        timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert 'wrote 3 images' in proc.stdout
    with open(out / 'keypoints.json') as f:
        data = json.load(f)
    assert len(data['images']) == 3
    assert not (out / 'clip.mp4').exists()
    img = cv2.imread(str(out / 'images' / data['images']['1']))
    assert img.shape == (64, 96, 3)
    # same arguments through the library give the same bytes
    syn.generate_synthetic_animalpose(
        str(tmp_path / 'lib'), num_images=3, seed=4, image_size=(96, 64),
        max_animals=2, with_clip=False)
    with open(out / 'keypoints.json', 'rb') as f1, open(
            tmp_path / 'lib' / 'keypoints.json', 'rb') as f2:
        assert f1.read() == f2.read()


def test_cli_bad_input_exit_status(tmp_path, capsys):
    cli = load_tool('tools/make_synthetic_animalpose.py')
    out = str(tmp_path / 'x')
    assert cli.main(['--out-dir', out, '--num-images', '0']) == 2
    assert 'num_images' in capsys.readouterr().err
    assert cli.main(['--out-dir', out, '--truncation-prob', '-0.1']) == 2
    assert 'truncation_prob' in capsys.readouterr().err
    assert not osp.exists(osp.join(out, 'keypoints.json'))
    with pytest.raises(SystemExit):  # argparse rejects unknown categories
        cli.parse_args(['--categories', 'zebra'])
