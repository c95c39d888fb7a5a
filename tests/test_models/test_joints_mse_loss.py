"""CustomPoseJointsMSELoss against an explicit hand computation."""
import pytest
import torch

from custom_pose.models.losses import CustomPoseJointsMSELoss
from mmpose.models.losses import KeypointMSELoss
from mmpose.registry import MODELS


def _hand_loss(output, target, weights, use_target_weight, loss_weight=1.0):
    """0.5 * per-joint pixel-mean squared error, times the joint weight,
    averaged over joints and batch -- with explicit Python loops."""
    n, k, h, w = output.shape
    total = 0.0
    for b in range(n):
        for j in range(k):
            sq = 0.0
            for y in range(h):
                for x in range(w):
                    d = float(output[b, j, y, x]) - float(target[b, j, y, x])
                    sq += d * d
            joint = 0.5 * sq / (h * w)
            if use_target_weight:
                joint *= float(weights[b, j])
            total += joint
    return loss_weight * total / (n * k)


@pytest.fixture
def small_batch():
    g = torch.Generator().manual_seed(1)
    output = torch.rand(2, 3, 4, 5, generator=g)
    target = torch.rand(2, 3, 4, 5, generator=g)
    weights = torch.tensor([[1.0, 0.0, 1.0], [0.5, 1.0, 0.0]])
    return output, target, weights


@pytest.mark.parametrize('use_target_weight', [True, False])
@pytest.mark.parametrize('loss_weight', [1.0, 2.5])
def test_matches_hand_computation(small_batch, use_target_weight,
                                  loss_weight):
    output, target, weights = small_batch
    loss_fn = CustomPoseJointsMSELoss(
        use_target_weight=use_target_weight, loss_weight=loss_weight)
    got = loss_fn(output, target, weights)
    expected = _hand_loss(output, target, weights, use_target_weight,
                          loss_weight)
    assert got.dim() == 0
    assert got.item() == pytest.approx(expected, rel=1e-6)


def test_target_weight_masks_joints(small_batch):
    output, target, _ = small_batch
    loss_fn = CustomPoseJointsMSELoss(use_target_weight=True)
    # only joint 0 of sample 0 counts -> 0.5 * its pixel MSE / (N * K)
    weights = torch.zeros(2, 3)
    weights[0, 0] = 1
    expected = 0.5 * ((output[0, 0] - target[0, 0])**2).mean() / 6
    assert loss_fn(output, target, weights).item() == pytest.approx(
        expected.item(), rel=1e-6)
    # (N, K, 1) weights are accepted too
    assert loss_fn(output, target, weights[..., None]).item() == \
        pytest.approx(expected.item(), rel=1e-6)


def test_half_of_mmpose_keypoint_mse(small_batch):
    """mmpose's KeypointMSELoss is the plain weighted mean; ours has the 0.5
    factor of Xiao et al."""
    output, target, weights = small_batch
    ours = CustomPoseJointsMSELoss(use_target_weight=True)(output, target,
                                                           weights)
    theirs = KeypointMSELoss(use_target_weight=True)(output, target, weights)
    assert ours.item() == pytest.approx(0.5 * theirs.item(), rel=1e-6)


def test_gradient_and_registry(small_batch):
    output, target, weights = small_batch
    loss_fn = MODELS.build(
        dict(type='CustomPoseJointsMSELoss', use_target_weight=True))
    assert isinstance(loss_fn, CustomPoseJointsMSELoss)
    output = output.clone().requires_grad_(True)
    loss_fn(output, target, weights).backward()
    # invisible joints get no gradient, visible ones do
    assert torch.all(output.grad[0, 1] == 0)
    assert torch.all(output.grad[1, 2] == 0)
    assert output.grad[0, 0].abs().sum() > 0


def test_errors(small_batch):
    output, target, weights = small_batch
    with pytest.raises(ValueError, match='target_weights'):
        CustomPoseJointsMSELoss(use_target_weight=True)(output, target)
    with pytest.raises(ValueError, match='target_weights'):
        CustomPoseJointsMSELoss(use_target_weight=True)(output, target,
                                                        weights[:, :2])
    with pytest.raises(ValueError, match='same shape'):
        CustomPoseJointsMSELoss()(output, target[:, :2])
