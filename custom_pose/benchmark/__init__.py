# Copyright (c) custom_pose contributors. All rights reserved.
"""Benchmark of custom_pose's models against mmpose's built-in equivalents.

Used by ``tools/analysis_tools/benchmark.py`` (the command line); see its
docstring for the command. Everything runs in one process, on the same
machine, inputs, batch composition, flip-test setting and thread count for
both sides, with the two sides' iterations interleaved (``A B B A ...``) so
that a change of background load hits both alike.

Sections (each a list of rows in the JSON report and a Markdown table;
:mod:`.sections.base` says how to add one):

``train``
    Training-step throughput (``model.train_step``: data preprocessor,
    forward, loss, backward, optimizer step) in images/s.
``infer``
    ``model.test_step`` latency and throughput at each batch size, with and
    without flip test.
``data``
    Samples/s of the training data pipeline on the synthetic dataset for
    each number of workers, and the time per sample of each transform.
``video``
    Frames/s of ``demo/top_down_video_demo_full_frame_without_det.py``
    against mmpose's own per-frame path (``inference_topdown`` + mmpose's
    visualizer + ``cv2.VideoWriter``) on the same clip and checkpoint.
``flops``
    Parameters and FLOPs (mmengine's counter; a multiply-add counts as one,
    as in the published figures) next to the published figures.

Numeric paths (``variants``): ``fp32`` is the plain path. The fast paths
are ``+``-joined tokens: a precision (``fp32``, ``bf16`` = CPU autocast,
``fp16`` = CUDA autocast) and flags ``cl`` (channels-last), ``fuse``
(BN folding, inference only) and ``compile`` (``torch.compile``). Every
variant runs on both sides, so each row has the ratio at the same path;
rows of fast paths also give the ratio against mmpose's plain ``fp32`` and
the check of the result against ours at ``fp32``: mean keypoint distance
in model-input pixels for inference (the goal: < 1 px), relative loss
difference and gradient cosine for training (the goal: cosine >= 0.99).

Modules: :mod:`.specs` (the models and numeric paths), :mod:`.timing`,
:mod:`.context` (options, shared state, datasets), :mod:`.sections`,
:mod:`.report` (Markdown, summaries, docs) and :mod:`.runner`.
"""
from .context import (BenchmarkContext, Options, build_dataset, fit_pipeline,
                      make_batch, train_pipeline, val_pipeline)
from .report import (DOCS_END, DOCS_START, SUMMARY_END, SUMMARY_START,
                     check_docs, load_report, render_markdown,
                     render_readme_summary, summarize_sections, write_docs)
from .runner import machine_info, run_benchmark
from .sections import (SECTIONS, Section, default_sections, register_section,
                       section_number)
from .sections.infer import keypoints_of
from .sections.train import optim_wrapper_for, train_step_fn
from .sections.video import MMPOSE, MMPOSE_NO_DRAW, mmpose_drawing_error
from .specs import (DEFAULT_MODELS, MAX_MEAN_KPT_DEV_PX,
                    MIN_TRAIN_GRAD_COSINE, MODEL_SPECS, ModelSpec, Variant,
                    build_model, calibrate_bn, count_params_flops,
                    default_variants, fit_heatmap_tail, input_size_of,
                    labelled_mask, load_model_config, model_cfg_for,
                    prepare_model, train_check_passes)
from .timing import (cpu_snapshot, foreign_load, profile_ops, summarize,
                     time_interleaved, wait_quiet)

__all__ = [
    'BenchmarkContext', 'DEFAULT_MODELS', 'DOCS_END', 'DOCS_START',
    'MAX_MEAN_KPT_DEV_PX', 'MIN_TRAIN_GRAD_COSINE', 'MMPOSE',
    'MMPOSE_NO_DRAW', 'MODEL_SPECS', 'ModelSpec', 'Options', 'SECTIONS',
    'SUMMARY_END', 'SUMMARY_START', 'Section', 'Variant', 'build_dataset',
    'build_model', 'calibrate_bn', 'check_docs', 'count_params_flops',
    'cpu_snapshot', 'default_sections', 'default_variants', 'fit_heatmap_tail',
    'fit_pipeline', 'foreign_load', 'input_size_of', 'keypoints_of',
    'labelled_mask', 'load_model_config', 'load_report', 'machine_info',
    'make_batch', 'mmpose_drawing_error', 'model_cfg_for',
    'optim_wrapper_for', 'prepare_model', 'profile_ops', 'register_section',
    'render_markdown', 'render_readme_summary', 'run_benchmark',
    'section_number', 'summarize', 'summarize_sections', 'time_interleaved',
    'train_check_passes', 'train_pipeline', 'train_step_fn', 'val_pipeline',
    'wait_quiet', 'write_docs'
]
