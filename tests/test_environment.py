"""The installed stack: the imports the README promises, with compiled ops."""
import subprocess
import sys

import pytest


def test_stack_imports_together():
    # a fresh interpreter, so nothing imported by other tests hides a problem
    code = ('import custom_pose, mmpose.models, mmdet.models, mmcv.ops, '
            'torchvision; print(custom_pose.__version__)')
    out = subprocess.run([sys.executable, '-c', code], capture_output=True,
                         text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == __import__('custom_pose').__version__


def test_torchvision_ops_load_with_this_torch():
    import torch
    from torchvision.ops import nms
    boxes = torch.tensor([[0., 0., 10., 10.], [1., 1., 11., 11.], [20., 20., 30., 30.]])
    keep = nms(boxes, torch.tensor([0.9, 0.8, 0.7]), iou_threshold=0.5)
    assert keep.tolist() == [0, 2]


def test_mmcv_has_compiled_ops():
    import torch
    from mmcv.ops import nms, roi_align
    boxes = torch.tensor([[0., 0., 10., 10.], [1., 1., 11., 11.], [20., 20., 30., 30.]])
    dets, keep = nms(boxes, torch.tensor([0.9, 0.8, 0.7]), iou_threshold=0.5)
    assert keep.tolist() == [0, 2]
    assert dets.shape == (2, 5)
    feat = torch.arange(16.).view(1, 1, 4, 4)
    out = roi_align(feat, torch.tensor([[0., 0., 0., 3., 3.]]), (2, 2), 1.0, 0)
    assert out.shape == (1, 1, 2, 2)


@pytest.mark.parametrize('module,lo,hi', [
    ('mmengine', (0, 10, 0), (0, 11, 0)),
    ('mmcv', (2, 1, 0), (2, 2, 0)),
    ('mmdet', (3, 3, 0), (3, 4, 0)),
    ('mmpose', (1, 3, 0), (1, 4, 0)),
])
def test_supported_versions(module, lo, hi):
    from mmengine.utils import digit_version
    version = __import__(module).__version__
    assert digit_version('.'.join(map(str, lo))) <= digit_version(version) \
        < digit_version('.'.join(map(str, hi))), version


def test_xtcocotools_works_with_installed_numpy(tmp_path, capsys):
    """xtcocotools' C extension loads with the installed numpy, and its
    keypoint evaluation (what mmpose's CocoMetric runs) scores a perfect
    prediction 1 and a displaced one lower."""
    import json

    import numpy as np
    from xtcocotools.coco import COCO
    from xtcocotools.cocoeval import COCOeval

    kpts = [10, 10, 2, 30, 12, 2, 20, 40, 2]
    gt = tmp_path / 'gt.json'
    gt.write_text(json.dumps(dict(
        images=[dict(id=1, width=64, height=64, file_name='a.jpg')],
        categories=[dict(id=1, name='animal', keypoints=['a', 'b', 'c'],
                         skeleton=[])],
        annotations=[dict(id=1, image_id=1, category_id=1, iscrowd=0,
                          bbox=[5, 5, 30, 40], area=1200.0, keypoints=kpts,
                          num_keypoints=3)])))
    coco = COCO(str(gt))

    def ap(shift):
        moved = [v + shift if i % 3 != 2 else 1.0 for i, v in enumerate(kpts)]
        dets = coco.loadRes([dict(image_id=1, category_id=1, score=1.0,
                                  keypoints=moved)])
        ev = COCOeval(coco, dets, 'keypoints', np.full(3, 0.08),
                      use_area=True)
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
        return float(ev.stats[0])

    assert ap(0) == pytest.approx(1.0)
    assert ap(6) < 0.5
    capsys.readouterr()


def test_setup_script_parses():
    from conftest import REPO_ROOT
    out = subprocess.run(['bash', '-n', str(REPO_ROOT / 'tools' / 'setup_env.sh')],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr


def test_cuda_arch_for_the_mmcv_build():
    """What tools/setup_env.sh builds mmcv's CUDA kernels for: this
    machine's GPU architecture, or nothing (CPU kernels only) without a
    GPU."""
    import torch
    from conftest import REPO_ROOT
    out = subprocess.run(
        [sys.executable, str(REPO_ROOT / 'tools' / 'misc' / 'cuda_arch.py')],
        capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    if torch.cuda.is_available():
        major, minor = torch.cuda.get_device_capability(0)
        assert f'{major}.{minor}' in out.stdout.strip().split(';')
    else:
        assert out.stdout == ''
