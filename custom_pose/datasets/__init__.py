from .animalpose_format import (CATEGORY_NAMES, MMPOSE_KEYPOINT_NAMES,
                                MMPOSE_SKELETON, MMPOSE_TO_ORIGINAL_INDEX,
                                MMPOSE_TO_ORIGINAL_NAME,
                                ORIGINAL_KEYPOINT_NAMES,
                                ORIGINAL_TO_MMPOSE_INDEX,
                                ORIGINAL_TO_MMPOSE_NAME,
                                AnimalPoseFormatError)
from . import transforms  # noqa: F401  (registers the device-path transforms)
from .org_animal_pose_dataset import (DatasetNotFoundError, EmptySelectionError,
                                      OrgAnimalPoseDataset)
from .custom_keypoint_dataset import CustomPoseKeypointDataset
from .formats import KeypointCountError, KeypointFormatError
from .num_keypoints import resolve_num_keypoints

__all__ = [
    'OrgAnimalPoseDataset', 'DatasetNotFoundError', 'EmptySelectionError', 'AnimalPoseFormatError', 'ORIGINAL_KEYPOINT_NAMES',
    'MMPOSE_KEYPOINT_NAMES', 'ORIGINAL_TO_MMPOSE_NAME',
    'MMPOSE_TO_ORIGINAL_NAME', 'ORIGINAL_TO_MMPOSE_INDEX',
    'MMPOSE_TO_ORIGINAL_INDEX', 'MMPOSE_SKELETON', 'CATEGORY_NAMES',
    'CustomPoseKeypointDataset', 'KeypointFormatError', 'KeypointCountError',
    'resolve_num_keypoints'
]
