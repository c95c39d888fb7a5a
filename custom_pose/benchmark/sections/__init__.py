# Copyright (c) custom_pose contributors. All rights reserved.
"""The benchmark's sections, registered by name in run and report order
(see :mod:`.base` for how to add one)."""
from .base import (SECTIONS, Section, default_sections, register_section,
                   section_number)
# the built-in sections, in this order
from . import train, infer, data, video, flops, train_e2e  # noqa: F401,I001

__all__ = [
    'SECTIONS', 'Section', 'default_sections', 'register_section',
    'section_number'
]
