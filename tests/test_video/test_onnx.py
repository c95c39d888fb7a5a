"""``custom_pose.deploy``: ONNX export checked with onnxruntime, the
onnxruntime heatmap model, and ``tools/deployment/pytorch2onnx.py``."""
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from conftest import load_tool, subprocess_env
from custom_pose.apis import (KeypointMismatchError, TopdownBatchInferencer,
                              decode_msra_heatmaps)
from custom_pose.deploy import (OnnxHeatmapModel, OnnxModelError,
                                PoseHeatmapModel, export_onnx, pytorch2onnx)

REPO_ROOT = Path(__file__).resolve().parents[2]
TOOL = REPO_ROOT / 'tools' / 'deployment' / 'pytorch2onnx.py'


@pytest.fixture(scope='module')
def res18_onnx(res18_files, tmp_path_factory):
    """Static batch-1 export of the quickstart ResNet-18, and its check."""
    out = tmp_path_factory.mktemp('onnx') / 'res18.onnx'
    result = pytorch2onnx(*res18_files, str(out), check_batch_sizes=(1, 3))
    return out, result


def test_res18_export_matches_pytorch(res18_onnx):
    path, result = res18_onnx
    assert result.input_size == (128, 128) and result.num_keypoints == 20
    assert result.batch_sizes == (1, 3)  # batch 3 runs as 3 x batch 1
    assert result.keypoint_mean_diff_px <= 0.1, result.summary()
    assert result.passed and 'OK' in result.summary()
    assert result.heatmap_max_abs_diff <= 1e-4 * result.heatmap_max_abs


def test_onnx_model_is_a_drop_in_for_the_inferencers_forward(
        res18_onnx, res18_model):
    """On real crops of an image (the inferencer's own normalised batch,
    with its flip-test doubling), onnxruntime's heatmaps decode to the
    PyTorch keypoints."""
    inferencer = TopdownBatchInferencer(res18_model)
    rng = np.random.default_rng(0)
    img = rng.integers(0, 255, (120, 200, 3), np.uint8)
    boxes = np.array([[0, 0, 200, 120], [20, 10, 90, 100], [100, 30, 190,
                                                             110]])
    inferencer.infer_bboxes(img, boxes)  # fills the crop buffer
    inputs = inferencer._inputs(len(boxes))
    batch = torch.cat([inputs, inputs.flip(-1)])
    onnx_model = OnnxHeatmapModel(
        str(res18_onnx[0]), num_keypoints=inferencer.num_keypoints,
        input_size=inferencer.input_size)
    assert onnx_model.batch_size == 1
    with torch.no_grad():
        ref = PoseHeatmapModel(res18_model)(batch)
    out = onnx_model(batch)
    assert out.shape == ref.shape == (6, 20, 32, 32)
    assert out.dtype == torch.float32 and out.device == batch.device
    diff = (decode_msra_heatmaps(out)[0] - decode_msra_heatmaps(ref)[0])
    assert float(diff.norm(dim=-1).mean()) * 4 <= 0.1  # 4 input px per cell


def test_tiny_hourglass_dynamic_batch_runs_1_and_32(hourglass_files,
                                                    tmp_path):
    out = tmp_path / 'hourglass.onnx'
    result = pytorch2onnx(*hourglass_files, str(out), dynamic_batch=True,
                          opset=17, check_batch_sizes=(1, 32))
    assert result.batch_sizes == (1, 32)
    assert result.keypoint_mean_diff_px <= 0.1, result.summary()
    model = OnnxHeatmapModel(str(out), num_keypoints=20,
                             input_size=(64, 64))
    assert model.batch_size is None  # symbolic
    shape = model.session.get_inputs()[0].shape
    assert isinstance(shape[0], str) and shape[1:] == [3, 64, 64]


def test_bad_onnx_files_are_one_line_errors(res18_onnx, tmp_path):
    garbage = tmp_path / 'garbage.onnx'
    garbage.write_bytes(np.random.default_rng(0).bytes(2048))
    empty = tmp_path / 'empty.onnx'
    empty.write_bytes(b'')
    cases = [(tmp_path / 'missing.onnx', 'ONNX model file not found'),
             (empty, 'is empty (0 bytes)'),
             (garbage, 'not a valid ONNX model')]
    for path, message in cases:
        with pytest.raises(OnnxModelError) as err:
            OnnxHeatmapModel(str(path), num_keypoints=20)
        assert message in str(err.value) and '\n' not in str(err.value)
    with pytest.raises(KeypointMismatchError) as err:
        OnnxHeatmapModel(str(res18_onnx[0]), num_keypoints=17,
                         config_name='animal_17.py')
    assert str(err.value) == (
        f'keypoint-count mismatch: ONNX model {res18_onnx[0]} predicts 20 '
        'keypoints but the model of animal_17.py predicts 17')
    with pytest.raises(OnnxModelError, match=r'takes 128x128 \(w x h\) '
                       'inputs but the model of the config takes 64x64'):
        OnnxHeatmapModel(str(res18_onnx[0]), input_size=(64, 64))


def test_export_arguments_are_checked(res18_model, tmp_path):
    with pytest.raises(ValueError, match='use an opset from 11 to 20'):
        export_onnx(res18_model, str(tmp_path / 'a.onnx'), opset=9)
    with pytest.raises(ValueError, match='is a directory'):
        export_onnx(res18_model, str(tmp_path))


def _run_tool(args):
    env = subprocess_env(OMP_NUM_THREADS='2')
    return subprocess.run([sys.executable, str(TOOL), *map(str, args)],
                          capture_output=True, text=True, env=env,
                          timeout=300)


def _tool_main(args, capsys, monkeypatch):
    """The tool's ``main`` in this process: (exit code, stdout, stderr)."""
    monkeypatch.setattr(sys, 'argv', [str(TOOL)])  # argparse's prog
    tool = load_tool(TOOL)
    with pytest.raises(SystemExit) as exit_:
        tool.main([str(a) for a in args])
    out = capsys.readouterr()
    return exit_.value.code, out.out, out.err


def test_pytorch2onnx_tool(res18_files, tmp_path):
    out = tmp_path / 'res18_dynamic.onnx'
    run = _run_tool([*res18_files, '--output', out, '--dynamic-batch',
                     '--check-batch-sizes', 1, 2])
    assert run.returncode == 0, run.stderr
    lines = run.stdout.strip().splitlines()
    assert lines[0] == f'pytorch2onnx.py: wrote {out}'
    assert lines[1].startswith('pytorch2onnx.py: onnxruntime vs PyTorch, '
                               'batch 1, 2: keypoints differ by 0.0')
    assert lines[1].endswith(': OK (tolerance 0.1 px mean)')
    assert out.stat().st_size > 1_000_000


def test_pytorch2onnx_tool_errors(res18_files, tmp_path, capsys,
                                  monkeypatch):
    code, _, err = _tool_main(
        [res18_files[0], TOOL, '--output', tmp_path / 'b.onnx'], capsys,
        monkeypatch)
    assert code == 1
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(
        f'pytorch2onnx.py: error: cannot load checkpoint {TOOL}: not a '
        'torch checkpoint file'), err
    assert not (tmp_path / 'b.onnx').exists()
    code, _, err = _tool_main(
        [*res18_files, '--output', tmp_path / 'c.onnx', '--opset', 9], capsys,
        monkeypatch)
    assert code == 2
    assert err.strip().splitlines()[-1].endswith(
        'error: --opset must be from 11 to 20, got 9')
    code, _, err = _tool_main(
        [*res18_files, '--output', tmp_path / 'd.onnx', '--tolerance', -1],
        capsys, monkeypatch)
    assert code == 2 and 'error: --tolerance must be >= 0, got -1.0' in err
