# SimpleBaseline schedule (Xiao et al. 2018): Adam 5e-4, linear warm-up for
# 500 iterations, step decay x0.1 at epochs 170 and 200, 210 epochs.
train_cfg = dict(by_epoch=True, max_epochs=210, val_interval=10)

optim_wrapper = dict(optimizer=dict(type='Adam', lr=5e-4))

param_scheduler = [
    dict(type='LinearLR', begin=0, end=500, start_factor=0.001,
         by_epoch=False),  # warm-up
    dict(type='MultiStepLR', begin=0, end=210, milestones=[170, 200],
         gamma=0.1, by_epoch=True),
]

# scale the LR linearly with the total batch size (--auto-scale-lr)
auto_scale_lr = dict(base_batch_size=512)
