"""``tools/analysis_tools/hourglass_design_study.py``: the block swap keeps
the network's interface, the designs are FLOP-comparable to mmpose's
counterpart, and a tiny run writes its report (timings not checked)."""
import json

import pytest
import torch

import custom_pose  # noqa: F401  (registers our modules)
from conftest import REPO_ROOT, load_tool
from custom_pose.models.backbones import CustomPoseHourglass
from custom_pose.models.backbones.hourglass import PreActBottleneck

STUDY = REPO_ROOT / 'tools' / 'analysis_tools' / 'hourglass_design_study.py'


@pytest.fixture(scope='module')
def study():
    return load_tool(STUDY)


def test_use_basic_blocks_replaces_every_bottleneck(study):
    torch.manual_seed(0)
    model = CustomPoseHourglass(
        out_channels=3, num_stacks=2, feat_channels=16, hourglass_depth=2)
    n_bottlenecks = sum(
        isinstance(m, PreActBottleneck) for m in model.modules())
    assert study.use_basic_blocks(model) == n_bottlenecks > 0
    assert not any(isinstance(m, PreActBottleneck) for m in model.modules())
    n_basic = sum(
        isinstance(m, study.PreActBasicBlock) for m in model.modules())
    assert n_basic == n_bottlenecks
    outs = model(torch.rand(2, 3, 64, 64))
    assert [tuple(o.shape) for o in outs] == [(2, 3, 16, 16)] * 2
    sum(o.sum() for o in outs).backward()
    assert all(p.grad is not None for p in model.parameters())


def test_study_reports_comparable_designs(study, tmp_path):
    out = tmp_path / 'study'
    report = study.main([
        '--designs', 'basic8,basic2,mmpose', '--paths', 'fp32', '--batch',
        '1', '--iters', '1', '--warmup', '0', '--threads', '1', '--out-dir',
        str(out)
    ])
    saved = json.loads((out / 'hourglass_study.json').read_text())
    assert saved['input'] == report['input'] == [256, 256]
    rows = {r['design']: r for r in saved['designs']}
    assert list(rows) == ['basic8', 'basic2', 'mmpose']
    mm = rows['mmpose']
    for name in ('basic8', 'basic2'):
        # the designs are compared at about the same work
        assert rows[name]['gflops'] == pytest.approx(mm['gflops'], rel=0.05)
        r = rows[name]['paths']['fp32']
        assert r['images_per_s'] > 0
        assert r['ratio'] == pytest.approx(
            r['images_per_s'] / mm['paths']['fp32']['images_per_s'])
    md = (out / 'hourglass_study.md').read_text()
    assert md.count('| fp32 |') == 3


def test_study_rejects_unknown_design(study, tmp_path, capsys):
    with pytest.raises(SystemExit) as exc:
        study.main(['--designs', 'newell9', '--out-dir', str(tmp_path)])
    assert exc.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].endswith(
        "error: --designs: unknown ['newell9']; choose from ['newell8', "
        "'basic8', 'basic2', 'mmpose']")
