# Stacked Hourglass with 8 stacks (the paper's full model).
_base_ = ['./custom_hourglass2_animalpose_256x256.py']

model = dict(backbone=dict(num_stacks=8))
