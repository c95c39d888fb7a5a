"""Checkpoints named by a URL or a model-zoo name: downloaded into torch
hub's cache, checked against the hash in their file name, and read with
the package's safe loading.

mmengine 0.10 hands URLs and ``torchvision://`` names to
``torch.hub.load_state_dict_from_url``, which unpickles the cached file with
``weights_only=False``: a crafted file in the cache runs code.  The loaders
here replace every scheme of mmengine's ``CheckpointLoader`` (local paths,
``http(s)://``, ``torchvision://`` / ``modelzoo://``, ``open-mmlab://`` /
``openmmlab://``, ``mmcls://``, ``s3://`` / ``petrel://``, ``pavi://``), so
mmengine's ``Runner`` (``load_from``, ``resume``), its ``Pretrained``
``init_cfg`` and :func:`mmengine.runner.load_checkpoint` read files the way
:func:`custom_pose.utils.checkpoint.load_checkpoint_file` does:

- ``torch.load(weights_only=True)`` with the package's allow-list;
- a zip file whose CRC-32 checksums do not match its bytes is refused;
- where the file name carries a SHA-256 prefix, as torchvision's do
  (``resnet50-0676ba61.pth``, torch hub's ``HASH_REGEX``, eight or more hex
  digits), the download is checked and so is a file already in the cache.

``import custom_pose`` registers them
(:func:`register_safe_checkpoint_schemes`).  Download errors (``OSError``,
e.g. ``URLError`` offline) propagate unchanged for the caller to explain.
"""
import io
import os
import os.path as osp
import re
import sys
import tempfile
from typing import Any, Callable, Dict, Optional, Sequence, Tuple
from urllib.parse import urlparse

import torch

from custom_pose.errors import CheckpointError
from .checkpoint import is_remote, load_checkpoint_file, safe_torch_load
from .file_hash import file_sha256

__all__ = [
    'hub_checkpoint_dir', 'hash_prefix_in_name', 'check_cached_hash',
    'download_to_cache', 'load_url', 'load_remote_checkpoint',
    'register_safe_checkpoint_schemes', 'SAFE_SCHEMES'
]

#: The fewest hex digits read as a SHA-256 prefix (torch hub documents
#: "the first eight or more digits"); shorter runs such as the ``50`` of
#: ``resnet-50.pth`` are parts of a name.
MIN_HASH_DIGITS = 8


def hub_checkpoint_dir() -> str:
    """torch hub's checkpoint cache: ``<torch.hub.get_dir()>/checkpoints``
    (``$TORCH_HOME/hub/checkpoints`` unless set otherwise)."""
    return osp.join(torch.hub.get_dir(), 'checkpoints')


def hash_prefix_in_name(filename: str) -> Optional[str]:
    """The SHA-256 prefix a file name carries (``'0676ba61'`` for
    ``resnet50-0676ba61.pth``), by torch hub's ``HASH_REGEX``; ``None``
    without one of at least :data:`MIN_HASH_DIGITS` digits."""
    match = torch.hub.HASH_REGEX.search(osp.basename(filename))
    if match is None or len(match.group(1)) < MIN_HASH_DIGITS:
        return None
    return match.group(1)


def check_cached_hash(cached: str, url: str,
                      what: str = 'checkpoint') -> None:
    """Refuse a cached download whose SHA-256 does not start with the
    prefix in its file name (nothing to check without one).

    Raises:
        CheckpointError: On a mismatch; the message says to delete the
            file so that it is downloaded again.
    """
    prefix = hash_prefix_in_name(cached)
    if prefix is None:
        return
    digest = file_sha256(cached)
    if not digest.startswith(prefix):
        raise CheckpointError(
            f"{what} {cached} (torch hub's cached download of {url}) does "
            f'not match the SHA-256 prefix {prefix} in its name (its '
            f'SHA-256 starts {digest[:len(prefix)]}): delete it to download '
            'it again')


def _cache_path(url: str, model_dir: Optional[str], what: str) -> str:
    filename = osp.basename(urlparse(url).path)
    if not filename:
        raise CheckpointError(
            f'{what} {url}: the URL names no file (it ends with "/")')
    return osp.join(model_dir or hub_checkpoint_dir(), filename)


def download_to_cache(url: str,
                      model_dir: Optional[str] = None,
                      progress: Optional[bool] = None,
                      what: str = 'checkpoint') -> str:
    """The cached copy of ``url``, downloaded with
    ``torch.hub.download_url_to_file`` (into a temporary file, moved into
    place when whole) unless already in the cache; either way checked
    against the SHA-256 prefix in its name.

    Args:
        url (str): An ``http(s)://`` URL.
        model_dir (str, optional): The cache folder. Defaults to
            :func:`hub_checkpoint_dir`.
        progress (bool, optional): Show a progress bar. Defaults to whether
            stderr is a terminal.
        what (str): What the file is, for messages.

    Returns:
        str: The cached file.

    Raises:
        CheckpointError: The download or the cached file does not match
            the hash in its name.
        OSError: The download failed (``URLError`` offline).
    """
    cached = _cache_path(url, model_dir, what)
    prefix = hash_prefix_in_name(cached)
    if osp.exists(cached):
        check_cached_hash(cached, url, what)
        return cached
    os.makedirs(osp.dirname(cached), exist_ok=True)
    from mmengine.logging import print_log
    print_log(f'Downloading {url} to {cached}', logger='current')
    if progress is None:
        progress = sys.stderr.isatty()
    try:
        torch.hub.download_url_to_file(url, cached, prefix, progress=progress)
    except RuntimeError as exc:
        if 'invalid hash value' not in str(exc):
            raise
        got = re.search(r'got "([0-9a-f]+)"', str(exc))
        got = f' (its SHA-256 starts {got.group(1)[:len(prefix)]})' \
            if got and prefix else ''
        raise CheckpointError(
            f'{what} downloaded from {url} does not match the SHA-256 '
            f'prefix {prefix} in its name{got}: nothing was kept in the '
            f'cache ({osp.dirname(cached)}); check the URL') from None
    return cached


def load_url(url: str,
             map_location: Any = None,
             model_dir: Optional[str] = None,
             progress: Optional[bool] = None,
             *,
             what: str = 'checkpoint') -> Any:
    """A checkpoint at ``url`` through torch hub's cache
    (:func:`download_to_cache`), read with the package's safe loading. In
    distributed runs rank 0 downloads while the others wait.

    Raises:
        CheckpointError: A hash mismatch, a damaged file, a refused object.
        OSError: The download failed.
    """
    from mmengine.dist import get_dist_info
    rank, world_size = get_dist_info()
    if rank == 0:
        cached = download_to_cache(url, model_dir, progress, what)
    if world_size > 1:
        torch.distributed.barrier()
        if rank > 0:
            cached = download_to_cache(url, model_dir, progress, what)
    return safe_torch_load(cached, map_location, what,
                           name=f'{cached} (from {url})',
                           fix=f'delete {cached} to download it again')


# ---------------------------------------------------------------------------
# mmengine's CheckpointLoader schemes
# ---------------------------------------------------------------------------
def load_from_local(filename: str, map_location: Any = None, *,
                    what: str = 'checkpoint') -> Any:
    """A local file (:func:`load_checkpoint_file`); a name with an unknown
    scheme (``ftp://...``) is refused."""
    if is_remote(filename):
        raise CheckpointError(
            f'{what} {filename}: unknown scheme; use a local file, an '
            'http(s):// URL or a torchvision:// / open-mmlab:// name')
    return load_checkpoint_file(osp.expanduser(filename), map_location,
                                what=what)


def load_from_http(filename: str,
                   map_location: Any = None,
                   model_dir: Optional[str] = None,
                   progress: Optional[bool] = None,
                   *,
                   what: str = 'checkpoint') -> Any:
    """An ``http(s)://`` URL (:func:`load_url`)."""
    return load_url(filename, map_location, model_dir, progress, what=what)


def _name_after(filename: str, prefixes: Sequence[str]) -> str:
    for prefix in prefixes:
        if filename.startswith(prefix):
            return filename[len(prefix):]
    return filename


def load_from_torchvision(filename: str, map_location: Any = None, *,
                          what: str = 'checkpoint') -> Any:
    """``torchvision://NAME`` (or ``modelzoo://NAME``): the URL mmengine
    lists for ``NAME``; an unknown name raises ``KeyError`` as in
    mmengine."""
    from mmengine.runner.checkpoint import get_torchvision_models
    name = _name_after(filename, ('torchvision://', 'modelzoo://'))
    return load_url(get_torchvision_models()[name], map_location, what=what)


def load_from_openmmlab(filename: str, map_location: Any = None, *,
                        what: str = 'checkpoint') -> Any:
    """``open-mmlab://NAME`` (or ``openmmlab://NAME``): a URL or a file
    under mmengine's home folder, as mmengine lists them."""
    from mmengine.runner.checkpoint import (_get_mmengine_home,
                                            get_deprecated_model_names,
                                            get_external_models)
    name = _name_after(filename, ('open-mmlab://', 'openmmlab://'))
    name = get_deprecated_model_names().get(name, name)
    target = get_external_models()[name]
    if target.startswith(('http://', 'https://')):
        return load_url(target, map_location, what=what)
    return load_checkpoint_file(
        osp.join(_get_mmengine_home(), target), map_location, what=what)


def load_from_mmcls(filename: str, map_location: Any = None, *,
                    what: str = 'checkpoint') -> Any:
    """``mmcls://NAME``: the backbone weights of an mmcls model."""
    from mmengine.runner.checkpoint import (_process_mmcls_checkpoint,
                                            get_mmcls_models)
    name = _name_after(filename, ('mmcls://', ))
    return _process_mmcls_checkpoint(
        load_url(get_mmcls_models()[name], map_location, what=what))


def load_from_ceph(filename: str, map_location: Any = None,
                   backend: str = 'petrel', *,
                   what: str = 'checkpoint') -> Any:
    """``s3://`` / ``petrel://`` through mmengine's file backend."""
    from mmengine.fileio import get_file_backend
    data = get_file_backend(
        filename, backend_args={'backend': backend}).get(filename)
    with io.BytesIO(data) as buffer:
        return safe_torch_load(buffer, map_location, what, name=filename)


def load_from_pavi(filename: str, map_location: Any = None, *,
                   what: str = 'checkpoint') -> Any:
    """``pavi://``: downloaded into a temporary folder (needs ``pavi``)."""
    try:
        from pavi import modelcloud
    except ImportError:
        raise CheckpointError(
            f'{what} {filename}: install pavi to load pavi:// '
            'checkpoints') from None
    model = modelcloud.get(_name_after(filename, ('pavi://', )))
    with tempfile.TemporaryDirectory() as tmp_dir:
        downloaded = osp.join(tmp_dir, model.name)
        model.download(downloaded)
        return safe_torch_load(downloaded, map_location, what,
                               name=filename)


#: mmengine's ``CheckpointLoader`` prefixes (regular expressions matched
#: at the start of a name) and the loader of each.
SAFE_SCHEMES: Dict[Tuple[str, ...], Callable[..., Any]] = {
    ('', ): load_from_local,
    ('http://', 'https://'): load_from_http,
    ('pavi://', ): load_from_pavi,
    (r'(\S+\:)?s3://', r'(\S+\:)?petrel://'): load_from_ceph,
    ('modelzoo://', 'torchvision://'): load_from_torchvision,
    ('open-mmlab://', 'openmmlab://'): load_from_openmmlab,
    ('mmcls://', ): load_from_mmcls,
}


def _loader_for(path: str) -> Callable[..., Any]:
    """The loader of the longest matching prefix, as mmengine picks it."""
    by_prefix = {p: loader for ps, loader in SAFE_SCHEMES.items() for p in ps}
    for prefix in sorted(by_prefix, reverse=True):
        if re.match(prefix, path) is not None:
            return by_prefix[prefix]
    return load_from_local


def load_remote_checkpoint(path: str, map_location: Any = None, *,
                           what: str = 'checkpoint') -> Any:
    """A checkpoint named by a URL or a model-zoo name, by the loader of its
    scheme (:data:`SAFE_SCHEMES`).

    Raises:
        CheckpointError: Unknown scheme, hash mismatch, damaged file,
            refused object.
        KeyError: Unknown ``torchvision://`` / ``open-mmlab://`` name.
        OSError: The download failed.
    """
    return _loader_for(str(path))(str(path), map_location, what=what)


def register_safe_checkpoint_schemes() -> None:
    """Make mmengine's ``CheckpointLoader`` use :data:`SAFE_SCHEMES` for
    every prefix (its public ``register_scheme(..., force=True)``). Safe to
    call more than once."""
    from mmengine.runner.checkpoint import CheckpointLoader
    for prefixes, loader in SAFE_SCHEMES.items():
        CheckpointLoader.register_scheme(list(prefixes), loader, force=True)
