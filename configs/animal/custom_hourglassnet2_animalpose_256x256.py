# mmpose's HourglassNet (2 stacks of 3x3 basic blocks, 256 features at
# 64x64 and 128 below) and CPMHead with intermediate supervision, on our
# original-format Animal-Pose dataset. It has about the FLOPs of our 8-stack
# Newell hourglass (28 GFLOPs at 256x256) and trains 1.6-2.5x as fast on
# CPU; it is the benchmark's counterpart of custom_hourglass8 (see
# docs/benchmark.md). Trained from scratch.
_base_ = [
    '../_base_/default_runtime.py',
    '../_base_/datasets/org_animalpose.py',
    '../_base_/schedules/adam_210e.py',
    '../_base_/models/hourglassnet.py',
]

model = dict(head=dict(decoder=_base_.codec))
