"""Shared fixtures for the model tests: building full top-down estimators
from dict configs and mmpose-style packed input batches."""
from typing import Callable, Optional, Tuple

import numpy as np
import pytest
import torch
from mmengine.registry import init_default_scope

import custom_pose  # noqa: F401  (registers the custom_pose modules)
from mmpose.registry import MODELS
from mmpose.testing import get_packed_inputs

DATA_PREPROCESSOR = dict(
    type='PoseDataPreprocessor',
    mean=[123.675, 116.28, 103.53],
    std=[58.395, 57.12, 57.375],
    bgr_to_rgb=True)

FLIP_TEST_CFG = dict(flip_test=True, flip_mode='heatmap', shift_heatmap=True)


@pytest.fixture(autouse=True)
def _seed_and_scope():
    """Deterministic weights/inputs and the mmpose default scope."""
    torch.manual_seed(0)
    np.random.seed(0)  # get_packed_inputs shuffles flip_indices with it
    init_default_scope('mmpose')
    yield


@pytest.fixture
def build_estimator() -> Callable:
    """Build an initialized ``TopdownPoseEstimator`` from backbone and head
    configs (dict configs, as in an mmpose config file)."""

    def _build(backbone: dict,
               head: dict,
               test_cfg: Optional[dict] = None,
               init: bool = True):
        init_default_scope('mmpose')
        cfg = dict(
            type='TopdownPoseEstimator',
            data_preprocessor=DATA_PREPROCESSOR,
            backbone=backbone,
            head=head,
            test_cfg=dict(FLIP_TEST_CFG) if test_cfg is None else test_cfg)
        model = MODELS.build(cfg)
        if init:
            model.init_weights()
        return model

    return _build


@pytest.fixture
def make_batch() -> Callable:
    """A batch of ``PoseDataSample`` built by mmpose's own
    ``mmpose.testing.get_packed_inputs``, passed through the model's data
    preprocessor. Sizes are (w, h) like mmpose's codecs."""

    def _make(model,
              batch_size: int = 2,
              num_keypoints: int = 17,
              input_size: Tuple[int, int] = (64, 64),
              heatmap_size: Tuple[int, int] = (16, 16),
              training: bool = False) -> dict:
        packed = get_packed_inputs(
            batch_size=batch_size,
            num_keypoints=num_keypoints,
            img_shape=(input_size[1], input_size[0]),
            input_size=input_size,
            heatmap_size=heatmap_size,
            with_reg_label=False,
            with_simcc_label=False)
        return model.data_preprocessor(packed, training=training)

    return _make


def count_params(module: torch.nn.Module) -> int:
    """Number of parameters of ``module``."""
    return sum(p.numel() for p in module.parameters())


@pytest.fixture
def n_params() -> Callable[[torch.nn.Module], int]:
    return count_params
