# Copyright (c) custom_pose contributors. All rights reserved.
"""The SHA-256 of a file, read in blocks (checkpoints run to hundreds of
MB): for the hash prefixes of downloaded checkpoints and the generator's
list of the files it wrote."""
import hashlib

__all__ = ['file_sha256']


def file_sha256(path: str, block_size: int = 1 << 20) -> str:
    """The hex SHA-256 digest of file ``path``.

    Raises:
        OSError: If the file cannot be read.
    """
    digest = hashlib.sha256()
    with open(path, 'rb') as f:
        for block in iter(lambda: f.read(block_size), b''):
            digest.update(block)
    return digest.hexdigest()
