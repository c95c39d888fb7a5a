"""Make mmengine checkpoints loadable under torch's safe ``weights_only`` mode.

torch >= 2.6 loads with ``weights_only=True`` by default and refuses every
pickled global that is not allow-listed.  mmengine 0.10.x calls plain
``torch.load(file)`` when resuming, and its checkpoints hold a few non-tensor
objects: the message hub's :class:`~mmengine.logging.HistoryBuffer` logs and
numpy arrays/scalars (history values, the dataset metainfo in ``meta``).  So
``Runner.resume`` of a checkpoint mmengine has just written fails with
``_pickle.UnpicklingError: Weights only load failed``.

A ``HistoryBuffer`` also pickles its statistics methods (``HistoryBuffer.min``
...), which pickle protocol 2 writes as ``getattr(HistoryBuffer, 'min')``.
Allowing ``builtins.getattr`` itself would let a file read any attribute of
any allowed object, so the name ``builtins.getattr`` is bound to
:func:`_history_buffer_getattr`, which resolves exactly those methods and
refuses everything else.

Instead of disabling safe loading, :func:`register_checkpoint_safe_globals`
allow-lists exactly those types through torch's public
``torch.serialization.add_safe_globals``; anything else in a file is still
refused.  ``import custom_pose`` calls it once.
"""
import pickle
from typing import Any, List

import numpy as np
import torch

__all__ = ['checkpoint_safe_globals', 'register_checkpoint_safe_globals']


def _numpy_multiarray() -> Any:
    """numpy's ``multiarray`` module (``numpy._core`` in numpy 2)."""
    try:
        from numpy._core import multiarray  # numpy >= 2
    except ImportError:  # pragma: no cover - numpy 1.x
        from numpy.core import multiarray
    return multiarray


def _history_buffer_getattr(obj: Any, name: str) -> Any:
    """``getattr`` restricted to ``HistoryBuffer``'s statistics methods."""
    from mmengine.logging import HistoryBuffer

    if obj is HistoryBuffer and isinstance(name, str) and not name.startswith('_'):
        method = HistoryBuffer.__dict__.get(name)
        if callable(method):
            return getattr(HistoryBuffer, name)
    raise pickle.UnpicklingError(
        f'refusing getattr({obj!r}, {name!r}) while loading a checkpoint: '
        'custom_pose only allows HistoryBuffer statistics methods')


def checkpoint_safe_globals() -> List[Any]:
    """The types mmengine writes into checkpoints, besides tensors.

    Returns:
        list: Callables/classes to pass to ``torch.serialization.add_safe_globals``.
    """
    from mmengine.logging import HistoryBuffer

    multiarray = _numpy_multiarray()
    types: List[Any] = [
        HistoryBuffer,             # MessageHub.log_scalars values
        multiarray._reconstruct,   # numpy arrays (history, metainfo)
        multiarray.scalar,         # numpy scalars (runtime info, metrics)
        np.ndarray,
        np.dtype,
        (_history_buffer_getattr, 'builtins.getattr'),  # HistoryBuffer.min ...
    ]
    # numpy >= 1.25 pickles dtypes through their concrete dtype classes
    dtypes = getattr(np, 'dtypes', None)
    if dtypes is not None:
        types += [
            getattr(dtypes, name) for name in sorted(dir(dtypes))
            if name.endswith('DType') and isinstance(getattr(dtypes, name), type)
        ]
    return types


def register_checkpoint_safe_globals() -> None:
    """Allow-list :func:`checkpoint_safe_globals` for ``torch.load``.

    A no-op on torch versions without ``add_safe_globals`` (< 2.4), which
    load these checkpoints anyway. Safe to call more than once.
    """
    add_safe_globals = getattr(torch.serialization, 'add_safe_globals', None)
    if add_safe_globals is None:  # pragma: no cover - old torch
        return
    known = torch.serialization.get_safe_globals()
    add_safe_globals([t for t in checkpoint_safe_globals() if t not in known])
