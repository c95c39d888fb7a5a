"""Stop before the first step when the model's keypoints are not the data's."""
from typing import Any, Mapping, Optional

import torch
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper
from mmengine.runner import BaseLoop

from mmpose.registry import HOOKS
from ...datasets.formats import KeypointCountError
from ...utils.checkpoint import model_num_keypoints

__all__ = ['CustomPoseKeypointCheckHook', 'predicted_channels',
           'check_model_keypoints']


def predicted_channels(model: torch.nn.Module) -> int:
    """Keypoint channels a top-down model predicts, measured.

    Runs one forward pass of a zero image of the codec's input size (256 x
    256 without a codec) in eval mode without gradients, so it holds for any
    backbone/head pair (for those that do not state their count, see
    :func:`~custom_pose.utils.checkpoint.model_num_keypoints`); training
    mode is restored afterwards.

    Returns:
        int: ``C`` of the head's output ``(N, C, ...)`` (the last stage's for
        multi-stage heads).
    """
    decoder = getattr(getattr(model, 'head', None), 'decoder', None)
    w, h = getattr(decoder, 'input_size', (256, 256))
    param = next(model.parameters())
    inputs = torch.zeros(1, 3, h, w, device=param.device, dtype=param.dtype)
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            out = model._forward(inputs)
    finally:
        model.train(was_training)
    while isinstance(out, (list, tuple)):
        out = out[-1]
    return int(out.shape[1])


def check_model_keypoints(model: torch.nn.Module,
                          metainfo: Mapping[str, Any],
                          where: str = 'dataset',
                          channels: Optional[int] = None) -> None:
    """Raise :class:`KeypointCountError` unless ``model`` predicts as many
    keypoints as ``metainfo`` (a dataset's) lists.

    Args:
        channels (int, optional): The model's keypoint channels if already
            known (by default the head's (or hourglass backbone's)
            ``out_channels``, else :func:`predicted_channels`).
    """
    k = int(metainfo['num_keypoints'])
    if channels is None:
        channels = model_num_keypoints(model) or predicted_channels(model)
    if channels != k:
        names = [metainfo['keypoint_id2name'][i] for i in range(k)]
        head = getattr(model, 'head', None)
        raise KeypointCountError(
            f'the model ({type(head).__name__}) predicts {channels} keypoints '
            f'but the {where} ({metainfo.get("dataset_name")}) has {k} '
            f'{names}; set the head\'s out_channels (hourglass: the '
            "backbone's) to None in the config to follow the dataset, or to "
            f'{k}')


@HOOKS.register_module()
class CustomPoseKeypointCheckHook(Hook):
    """Check, before training or testing starts, that the model predicts
    exactly the keypoints of every dataset the run uses.

    Without it a head with the wrong channel count fails deep inside the
    loss or the metric (or, in a checkpoint from another keypoint set,
    silently evaluates the wrong keypoints). Add it with::

        custom_hooks = [dict(type='CustomPoseKeypointCheckHook')]

    Raises:
        KeypointCountError: Naming the model's and the dataset's counts.
    """

    priority = 'VERY_HIGH'

    def before_run(self, runner) -> None:
        model = runner.model.module if is_model_wrapper(
            runner.model) else runner.model
        channels = None
        for name in ('train', 'val', 'test'):
            loop = getattr(runner, f'_{name}_loop', None)
            if isinstance(loop, BaseLoop):
                channels = channels or model_num_keypoints(
                    model) or predicted_channels(model)
                check_model_keypoints(model, loop.dataloader.dataset.metainfo,
                                      f'{name} dataset', channels)
