"""The benchmark subpackage (``custom_pose.benchmark``) and its tool beyond
the full quick run of ``test_fast_paths.py``: a section run alone, the
section registry, mmpose's video baseline where its visualizer cannot draw,
and the docs and README summary written from a report's JSON.

Structure and rendering only: speed lives in the benchmark, never in tests.
"""
import json
import subprocess
import sys

import pytest

from conftest import (CONFIG_DIR, MMPOSE_CAN_DRAW, REPO_ROOT, load_tool,
                      subprocess_env)
from custom_pose import benchmark as bm
from custom_pose.benchmark.sections import video as video_section

BENCHMARK = REPO_ROOT / 'tools' / 'analysis_tools' / 'benchmark.py'
QUICKSTART = 'animal/custom_res18_quickstart_synthetic_128x128.py'


@pytest.fixture(scope='module')
def tool():
    return load_tool(BENCHMARK)


def test_data_section_runs_alone(tmp_path):
    """``--sections data`` in a fresh process: nothing else has set
    mmpose's default scope, and the dataloader still finds our dataset."""
    out = tmp_path / 'bench'
    env = subprocess_env(OMP_NUM_THREADS='1')
    proc = subprocess.run([
        sys.executable, str(BENCHMARK), '--quick', '--sections', 'data',
        '--threads', '1', '--out-dir', str(out)
    ], capture_output=True, text=True, env=env, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = json.loads((out / 'benchmark.json').read_text())
    assert list(report['sections']) == ['data']
    data = report['sections']['data']
    assert data['model'] == 'res18_128'
    assert [r['workers'] for r in data['rows']] == [0, 1]
    assert all(r['samples_per_s'] > 0 for r in data['rows'])
    assert 'TopdownAffine' in {t['transform']
                               for t in data['transform_profile']}
    md = (out / 'benchmark.md').read_text()
    assert '### 3. Training data pipeline (res18_128 pipeline' in md
    assert '### 1. Training step' not in md


def _metainfo(synthetic_root):
    cfg = bm.load_model_config(bm.MODEL_SPECS['res18_128'], CONFIG_DIR)
    return cfg, bm.build_dataset(cfg, str(synthetic_root), []).metainfo


def test_mmpose_drawing_probe(synthetic_root):
    """The probe draws with mmpose's visualizer as the video baseline does:
    it works with numpy 1, says why not with numpy 2, and a real failure of
    the visualizer (one keypoint more than the dataset has colours for) is
    reported, not raised."""
    cfg, metainfo = _metainfo(synthetic_root)
    error = bm.mmpose_drawing_error(cfg, metainfo)
    if MMPOSE_CAN_DRAW:
        assert error is None
    else:
        assert error.startswith('TypeError: ') and '0-dimensional' in error
    k = metainfo['num_keypoints']
    error = bm.mmpose_drawing_error(cfg, dict(metainfo, num_keypoints=k + 1))
    assert error.startswith('ValueError: ')
    assert f'({k + 1})' in error


def test_video_baseline_without_drawing(tmp_path, monkeypatch):
    """Where mmpose's visualizer cannot draw (mmpose 1.3.2 with numpy 2; this
    stack can, so the probe's answer is replaced), mmpose's loop runs
    without drawing, is the baseline of the ratios and keypoints, and the
    report says so instead of crashing."""
    monkeypatch.setattr(video_section, 'mmpose_drawing_error',
                        lambda cfg, metainfo: 'TypeError: simulated')
    out = tmp_path / 'bench'
    opts = bm.Options(
        sections=('video', ), quick=True, threads=1, out_dir=str(out),
        config_dir=str(CONFIG_DIR))
    report = bm.run_benchmark(opts)
    video = report['sections']['video']
    assert video['status'] == 'ok'
    assert video['baseline'] == bm.MMPOSE_NO_DRAW
    assert video['mmpose_draw_error'] == 'TypeError: simulated'
    rows = {r['pipeline']: r for r in video['rows']}
    onnx_row = 'ours_demo --backend onnxruntime'
    assert list(rows) == [bm.MMPOSE_NO_DRAW, 'ours_demo', onnx_row]
    assert video['onnx'].endswith('.onnx')
    assert rows[bm.MMPOSE_NO_DRAW]['ratio_vs_mmpose'] == 1.0
    assert rows['ours_demo']['frames'] == rows[onnx_row]['frames'] == 4
    # same checkpoint, fp32: the demo's keypoints are mmpose's, with the
    # PyTorch network and with the exported one run by onnxruntime
    assert rows['ours_demo']['kpt_dev_vs_mmpose_input_px']['mean'] < 0.5
    assert rows[onnx_row]['kpt_dev_vs_mmpose_input_px']['mean'] < 0.5
    # mmpose's loop never opened a video writer
    assert not (out / 'video' / 'out_mmpose.mp4').exists()
    assert list(report['summary']) == [
        'video ours_demo vs mmpose per-frame (without drawing)',
        f'video {onnx_row} vs mmpose per-frame (without drawing)'
    ]
    # the per-frame cost of propagation, track ids and the smoothers
    cost = video['tracking_cost']
    assert cost['frames'] == 30 and cost['instances'] == 2
    steps = ('propagation', 'tracking', 'smoothing_oneeuro',
             'smoothing_savgol', 'smoothing_gaussian')
    assert all(cost[k] > 0 for k in steps)
    md = (out / 'benchmark.md').read_text()
    assert 'cannot draw with this stack (`TypeError: simulated`)' in md
    assert f'| {bm.MMPOSE_NO_DRAW} | 4 |' in md
    assert f'| {onnx_row} | 4 |' in md
    assert f'| smoothing savgol | {cost["smoothing_savgol"]:.3f} |' in md
    summary = bm.render_readme_summary(report)
    assert ("| video demo vs mmpose's per-frame loop without drawing | "
            f'{rows["ours_demo"]["ratio_vs_mmpose"]:.2f}x |') in summary


def test_registered_section_runs_and_renders(tmp_path):
    """A section plugs in by name: it runs alone, its rows go into the JSON
    under its name and its table into the Markdown, numbered after the
    built-in ones; a taken name is refused."""
    calls = []

    def run(ctx):
        calls.append(ctx.opts.models_for('flops', with_counterpart=True))
        return [dict(model='res18_128', value=3)]

    def render(rows, number):
        return ['', f'### {number}. Probe section', ''] + [
            f'| {r["model"]} | {r["value"]} |' for r in rows
        ]

    bm.register_section('probe-section', run, render=render,
                        summarize=lambda rows: {'probe': str(len(rows))},
                        default=False)
    try:
        assert 'probe-section' not in bm.default_sections()
        with pytest.raises(ValueError, match='already registered'):
            bm.register_section('probe-section', run)
        out = tmp_path / 'bench'
        report = bm.run_benchmark(bm.Options(
            sections=('probe-section', ), quick=True, out_dir=str(out),
            config_dir=str(CONFIG_DIR)))
        number = bm.section_number('probe-section')
    finally:
        bm.SECTIONS.pop('probe-section')
    assert calls == [('res18_128', )]  # --quick's model, which has a pair
    saved = json.loads((out / 'benchmark.json').read_text())
    assert saved['sections'] == {'probe-section': [
        dict(model='res18_128', value=3)
    ]}
    assert saved['summary'] == {'probe': '1'}
    md = (out / 'benchmark.md').read_text()
    assert number == len(bm.SECTIONS) + 1  # after the built-in ones
    assert f'### {number}. Probe section\n\n| res18_128 | 3 |' in md
    assert '- probe: 1' in md


def test_context_needs_the_config_dir(tmp_path):
    with pytest.raises(ValueError, match='config_dir'):
        bm.BenchmarkContext(bm.Options(out_dir=str(tmp_path)))
    with pytest.raises(FileNotFoundError, match='no_configs'):
        bm.BenchmarkContext(bm.Options(
            out_dir=str(tmp_path), config_dir=str(tmp_path / 'no_configs')))


def _report() -> dict:
    """A saved report with known figures (what ``benchmark.json`` holds)."""

    def train(model, variant, ratio, vs_fp32, cos=None):
        r = dict(model=model, variant=variant, batch=8, input=[256, 256],
                 ours=dict(images_per_s=10 * ratio),
                 mmpose=dict(images_per_s=10.0), ratio=ratio,
                 ratio_vs_mmpose_fp32=vs_fp32, foreign_load=0.0)
        if cos is not None:
            r['check'] = dict(grad_cosine=cos, loss_rel_diff=1e-4)
        return r

    def infer(variant, ratio, vs_fp32, within_goal=None):
        r = dict(model='res50', variant=variant, batch=1, flip_test=False,
                 ours=dict(latency_ms=10.0, images_per_s=100 * ratio),
                 mmpose=dict(latency_ms=10.0, images_per_s=100.0),
                 ratio=ratio, ratio_vs_mmpose_fp32=vs_fp32, foreign_load=0.5)
        if within_goal is not None:
            r['check'] = dict(kpt_dev_input_px=dict(labelled=dict(
                mean=0.1 if within_goal else 3.0, max=1.0,
                within_goal=within_goal)))
        return r

    def video(pipeline, fps):
        return dict(pipeline=pipeline, frames=64, fps=fps, wall_s=1.0,
                    ratio_vs_mmpose=fps / 30.0)

    return dict(
        created='2026-11-22T07:41:26',
        command='python tools/analysis_tools/benchmark.py --fast-paths',
        machine=dict(cpu='Test CPU', logical_cores=2, torch='2.13.0',
                     mmpose='1.3.2', mmengine='0.10.7', mmcv='2.1.0',
                     python='3.11.7'),
        settings=dict(threads=2, device='cpu', iters=3, warmup=1),
        summary={'stale': 'from an older version'},
        sections=dict(
            train=[
                train('res50', 'fp32', 1.00, 1.00),
                train('res50', 'bf16+cl', 1.10, 2.50, cos=0.9995),
                train('hourglass8', 'fp32', 0.50, 0.50),
                train('hourglass8', 'bf16+cl', 0.90, 1.90, cos=0.86),
            ],
            infer=[
                infer('fp32', 0.98, 0.98),
                infer('fp32+fuse', 1.00, 1.30, within_goal=True),
                infer('bf16+fuse+cl', 1.05, 3.00, within_goal=False),
            ],
            video=dict(
                status='ok', model='res18_128', config=QUICKSTART,
                clip=dict(frames=64, size=[640, 480], fps=25),
                demo_batch_size=16,
                rows=[video('mmpose', 30.0),
                      video(bm.MMPOSE_NO_DRAW, 33.0),
                      video('ours_demo', 78.0)])))


README = """# custom_pose

## Performance

{start}
old summary
{end}

## Using the models
"""
DOCS = """# Benchmark

How to read the tables.

{start}
old tables
{end}

Notes after the tables.
"""


def test_docs_and_readme_summary_from_a_saved_report(tool, tmp_path, capsys):
    """``--from-json`` with ``--update-readme`` (alias of ``--update-docs``)
    measures nothing, puts the tables into docs/benchmark.md and a short
    summary with a link to them into README.md, both from the saved JSON
    (its summary computed again), and keeps the text around the blocks."""
    saved = tmp_path / 'benchmark.json'
    saved.write_text(json.dumps(_report()))
    readme = tmp_path / 'README.md'
    readme.write_text(README.format(start=bm.SUMMARY_START,
                                    end=bm.SUMMARY_END))
    (tmp_path / 'docs').mkdir()
    docs = tmp_path / 'docs' / 'benchmark.md'
    docs.write_text(DOCS.format(start=bm.DOCS_START, end=bm.DOCS_END))

    status = tool.main(['--from-json', str(saved), '--update-readme',
                        str(readme)])
    assert status == 0
    assert f'updated: {docs} and {readme}' in capsys.readouterr().out

    text = docs.read_text()
    head, _, rest = text.partition(bm.DOCS_START + '\n')
    block, _, tail = rest.partition(bm.DOCS_END)
    assert head == '# Benchmark\n\nHow to read the tables.\n\n'
    assert tail == '\n\nNotes after the tables.\n'
    assert block == bm.render_markdown(bm.load_report(str(saved)))
    assert block.startswith('## Benchmark: custom_pose vs mmpose built-ins')
    for title in ('### 1. Training step', '### 2. Inference',
                  '### 4. Video demo', '### Summary'):
        assert title in block
    assert 'stale' not in block
    assert block.count('(fails)') == 1  # hourglass8 bf16+cl, cosine 0.86
    assert '- train: best checked fast path of ours vs mmpose fp32, min .. '\
        'max over rows: 2.50 .. 2.50' in block
    # only the infer rows ran on a busy machine
    assert '| res50 * | 1 | no | fp32 |' in block
    assert '| res50 | 256x256 | 8 | fp32 |' in block

    text = readme.read_text()
    head, _, rest = text.partition(bm.SUMMARY_START + '\n')
    block, _, tail = rest.partition(bm.SUMMARY_END)
    assert head == '# custom_pose\n\n## Performance\n\n'
    assert tail == '\n\n## Using the models\n'
    lines = block.splitlines()
    assert len(lines) <= 12
    assert lines[0].startswith('Latest run: 2026-11-22, Test CPU (2 logical '
                               'cores), torch 2.13.0, 2 threads, device cpu.')
    assert lines[0].endswith('[benchmark.md](docs/benchmark.md).')
    # the figures: fast paths whose check fails (hourglass8 bf16+cl, the
    # bf16 inference row) do not count
    assert lines[2:] == [
        '| measurement | ours / mmpose |',
        '|---|---|',
        '| training step, both fp32 | 0.50 .. 1.00 |',
        '| training step, our best checked fast path vs mmpose fp32 | '
        '2.50 .. 2.50 |',
        '| inference, both fp32 | 0.98 .. 0.98 |',
        '| inference, our best checked fast path vs mmpose fp32 | '
        '1.30 .. 1.30 |',
        "| video demo vs mmpose's per-frame loop | 2.60x |",
    ]


def test_update_docs_checks_the_files_before_running(tool, tmp_path, capsys):
    """A README without the summary markers stops the run before it
    measures anything, with one line naming the file and the markers."""
    readme = tmp_path / 'README.md'
    readme.write_text('# custom_pose\n')
    (tmp_path / 'docs').mkdir()
    (tmp_path / 'docs' / 'benchmark.md').write_text(
        f'{bm.DOCS_START}\n{bm.DOCS_END}\n')
    out = tmp_path / 'bench'
    with pytest.raises(SystemExit) as exc:
        tool.main(['--quick', '--sections', 'flops', '--out-dir', str(out),
                   '--update-docs', str(readme)])
    assert exc.value.code == 1
    err = capsys.readouterr().err
    assert 'Traceback' not in err
    assert err.strip().splitlines()[-1] == (
        f'benchmark.py: error: {readme}: no "{bm.SUMMARY_START}" ... '
        f'"{bm.SUMMARY_END}" block to put the benchmark output in; add the '
        'two lines where it goes')
    assert not (out / 'benchmark.json').exists()
