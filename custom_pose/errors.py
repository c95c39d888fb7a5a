# Copyright (c) custom_pose contributors. All rights reserved.
"""The errors custom_pose raises on purpose, under one base class.

Every error the package raises for a bad input (a file, a config, a
checkpoint, a dataset, an option value) derives from :class:`CustomPoseError`,
so a tool catches one type and prints its message as one line
(:func:`custom_pose.utils.cli.one_line_errors`). Each also has the standard
exception it stands for as a second base, so ``except ValueError`` code
catches it.

The classes used across the package are defined here; the others live next
to the code that raises them (and are importable from there):

- here: :class:`InputError` (paths, devices, option values),
  :class:`ModelConfigError` (configs), :class:`CheckpointError`,
  :class:`UnreadableCheckpointError` and :class:`KeypointMismatchError`
  (checkpoints), all ``ValueError``; :class:`RunInterrupted` (Ctrl-C, exit
  status 130);
- ``VideoSourceError`` (``ValueError``): :mod:`custom_pose.apis.video`;
- ``AnimalPoseFormatError`` (``ValueError``):
  :mod:`custom_pose.datasets.file_io` (also importable from
  :mod:`custom_pose.datasets.animalpose_format`);
- ``DatasetNotFoundError`` (``FileNotFoundError``) and
  ``EmptySelectionError`` (``ValueError``):
  :mod:`custom_pose.datasets.org_animal_pose_dataset`;
- ``KeypointFormatError`` (a DeepLabCut, SLEAP or COCO file that cannot be
  used) and ``KeypointCountError`` (a model or config whose keypoint count
  is not the dataset's), both ``ValueError``:
  :mod:`custom_pose.datasets.formats.common`;
- ``NonFiniteLossError`` (``FloatingPointError``):
  :mod:`custom_pose.engine.hooks.invalid_loss_hook`;
- ``CheckpointSaveError`` (``OSError``): :mod:`custom_pose.engine.runner`;
- ``WorkDirLockedError`` (``RuntimeError``):
  :mod:`custom_pose.engine.work_dir_lock`;
- ``ImageLoadError`` (``OSError``):
  :mod:`custom_pose.datasets.transforms.loading`;
- ``PretrainedWeightsUnavailableError`` (``RuntimeError``):
  :mod:`custom_pose.models.backbones.base`;
- ``CfgOptionsError`` (``KeyError``): :mod:`custom_pose.utils.config`
  (also importable from :mod:`custom_pose.utils.cli`).
"""
import contextlib
from typing import Iterator

__all__ = [
    'CustomPoseError', 'InputError', 'ModelConfigError', 'CheckpointError',
    'UnreadableCheckpointError', 'KeypointMismatchError', 'RunInterrupted', 'first_line',
    'raised_by_ctrl_c', 'config_build_errors'
]


class CustomPoseError(Exception):
    """Base class of every error custom_pose raises on purpose.

    Its message is one line that names the offending file, key or value
    and says what to do. A command-line tool prints it as
    ``<prog>: error: <message>`` and exits with :attr:`exit_code`.
    """

    #: Exit status of a tool that stops on this error.
    exit_code: int = 1


class InputError(CustomPoseError, ValueError):
    """A path, device or other value given by the user that cannot be used
    (a missing input file, an unwritable output folder, no such GPU)."""


class ModelConfigError(CustomPoseError, ValueError):
    """A config file that is missing, does not parse or does not build."""


class CheckpointError(CustomPoseError, ValueError):
    """A checkpoint that is missing, unreadable or does not fit the model."""


class UnreadableCheckpointError(CheckpointError):
    """A checkpoint file that cannot be read at all: missing, empty,
    truncated or not a torch file (an interrupted write, a disk fault).

    ``--resume`` without a path falls back from such a file to the newest
    readable checkpoint of the work dir."""


class KeypointMismatchError(CheckpointError):
    """Checkpoint, config and metainfo disagree on the number of keypoints."""


class RunInterrupted(CustomPoseError):
    """Ctrl-C stopped a run; the message says how to continue."""

    exit_code = 130


def first_line(exc: BaseException) -> str:
    """``'<type>: <first line of the message>'`` of an exception raised by
    another library, for a one-line message that wraps it."""
    text = str(exc).strip()
    line = text.splitlines()[0] if text else ''
    return f'{type(exc).__name__}: {line}' if line else type(exc).__name__


@contextlib.contextmanager
def config_build_errors(what: str) -> Iterator[None]:
    """Inside, a ``TypeError``/``ValueError``/``KeyError`` of a config that
    does not build (mmengine's registries raise those) becomes one
    :class:`ModelConfigError` line, ``cannot build <what>: ...``; this
    package's own errors pass unchanged."""
    try:
        yield
    except CustomPoseError:
        raise
    except (TypeError, ValueError, KeyError) as exc:
        raise ModelConfigError(
            f'cannot build {what}: {first_line(exc)}') from None


def raised_by_ctrl_c(exc: BaseException) -> bool:
    """Whether ``exc`` is a ``KeyboardInterrupt`` or was raised while one
    was handled: some libraries turn it into another error with a bare
    ``except:`` (mmengine's ``Config.pretty_text``, run while a checkpoint
    is saved, raises a ``SyntaxError``)."""
    seen = set()
    while exc is not None and id(exc) not in seen:
        if isinstance(exc, KeyboardInterrupt):
            return True
        seen.add(id(exc))
        exc = exc.__context__
    return False
