# Stacked Hourglass (Newell et al. 2016), 2 stacks, intermediate supervision,
# trained from scratch, as in the paper.
_base_ = [
    '../_base_/default_runtime.py',
    '../_base_/datasets/org_animalpose.py',
    '../_base_/schedules/adam_210e.py',
    '../_base_/models/hourglass.py',
]

model = dict(head=dict(decoder=_base_.codec))
