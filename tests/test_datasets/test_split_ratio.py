"""The converter, the dataset browser, the dataset and the configs all split
Animal-Pose with one default ratio (0.9 of the images for training)."""
import json

import pytest
from mmengine.config import Config
from mmengine.registry import init_default_scope

from mmpose.registry import DATASETS
from conftest import load_tool

from .conftest import REPO_ROOT

QUICKSTART = 'configs/animal/custom_res18_quickstart_synthetic_128x128.py'
NUM_IMAGES = 20  # the session's synthetic_root

# mmpose's OpenCV visualizer calls int() on a 1-element array
pytestmark = pytest.mark.filterwarnings(
    'ignore:Conversion of an array with ndim > 0:DeprecationWarning')


def test_one_default_split_ratio(synthetic_root, tmp_path, capsys):
    from custom_pose.datasets.animalpose_format import DEFAULT_SPLIT_RATIO
    assert DEFAULT_SPLIT_RATIO == 0.9
    n_train = 18  # round(0.9 * 20); 0.8 would give 16

    # the converter without --split-ratio
    original2coco = load_tool('tools/dataset_converters/original2coco.py')
    out = tmp_path / 'train.json'
    assert original2coco.main([
        str(synthetic_root / 'keypoints.json'), str(out), '--split', 'train'
    ]) == 0
    capsys.readouterr()
    converted = sorted(img['id'] for img in json.loads(out.read_text())
                       ['images'])
    assert len(converted) == n_train

    # the train dataset of a config (from the dataset base)
    cfg = Config.fromfile(str(REPO_ROOT / QUICKSTART))
    ds_cfg = cfg.train_dataloader.dataset
    ds_cfg.update(data_root=str(synthetic_root), pipeline=[])
    init_default_scope('mmpose')
    dataset = DATASETS.build(ds_cfg)
    from_config = sorted({
        int(dataset.get_data_info(i)['img_id'])
        for i in range(len(dataset))
    })
    assert from_config == converted

    # the browser without --split-ratio: one file per image, '<id>_<name>'
    browse = load_tool('tools/misc/browse_dataset.py')
    vis = tmp_path / 'vis'
    assert browse.main([
        '--data-root', str(synthetic_root), '--split', 'train',
        '--output-dir', str(vis)
    ]) == 0
    browsed = sorted(int(f.name.split('_', 1)[0]) for f in vis.iterdir())
    assert browsed == converted
