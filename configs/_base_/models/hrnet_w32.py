# mmpose's HRNet-W32 backbone and heatmap head (the highest-resolution
# branch, 1/4 of the input, to 20 heatmaps). A config sets the head's
# decoder (the dataset's codec).
#
# mmpose initialises HRNet from ImageNet weights
# (https://download.openmmlab.com/mmpose/pretrain_models/hrnet_w32-36af842e.pth);
# offline they cannot be fetched, so this trains from scratch. With a local
# copy: --cfg-options model.backbone.init_cfg="dict(type='Pretrained',checkpoint='/path/hrnet_w32-36af842e.pth')"
_base_ = ['./topdown.py']

model = dict(
    backbone=dict(
        type='HRNet',
        in_channels=3,
        extra=dict(
            stage1=dict(
                num_modules=1,
                num_branches=1,
                block='BOTTLENECK',
                num_blocks=(4, ),
                num_channels=(64, )),
            stage2=dict(
                num_modules=1,
                num_branches=2,
                block='BASIC',
                num_blocks=(4, 4),
                num_channels=(32, 64)),
            stage3=dict(
                num_modules=4,
                num_branches=3,
                block='BASIC',
                num_blocks=(4, 4, 4),
                num_channels=(32, 64, 128)),
            stage4=dict(
                num_modules=3,
                num_branches=4,
                block='BASIC',
                num_blocks=(4, 4, 4, 4),
                num_channels=(32, 64, 128, 256))),
        init_cfg=None),
    head=dict(
        type='HeatmapHead',
        in_channels=32,
        out_channels=20,
        deconv_out_channels=None,
        loss=dict(type='KeypointMSELoss', use_target_weight=True)))
