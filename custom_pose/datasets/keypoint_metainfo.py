"""mmpose metainfo built at run time from a dataset's own keypoints.

mmpose describes a keypoint set by a metainfo file (names, left/right swap,
skeleton, colours, loss weights, OKS sigmas). For a user's own body parts
:func:`build_pose_metainfo` writes that description from the data, so no
metainfo file is needed:

**Flip pairs.** Given in the config (pairs of names or indices), else stated
by the file (SLEAP's symmetries), else derived from the names by
:func:`derive_flip_pairs`. A name's side marker is found by these rules, and
two keypoints pair when each is the other's name with the marker swapped
(``left`` <-> ``right``, ``l`` <-> ``r``, keeping the case):

1. a whole word ``left`` / ``right`` / ``l`` / ``r``, words split at
   ``_``, ``-``, ``.``, spaces and camelCase humps: ``left_ear``,
   ``ear_left``, ``front-left-paw``, ``LeftEar``, ``earLeft``, ``L_Eye``,
   ``paw_R``, ``L F Paw``;
2. a word that starts or ends with ``left`` / ``right``: ``leftear``,
   ``rightear``, ``earleft``.

A name with no marker or with more than one (``left_right_bar``) flips onto
itself, and so does one whose mirrored name is not a keypoint (only
``leftear`` labelled). A pair needs both names to exist, so a word that
merely contains the letters pairs only with its contrived mirror
(``bright`` with ``bleft``); ``Rump`` has no marker at all. Other naming
schemes (``FL_paw`` / ``FR_paw``) need ``flip_pairs`` in the config.

**OKS sigmas.** :data:`DEFAULT_SIGMA` (0.1, the value DeepLabCut's COCO-style
evaluation uses for every keypoint) unless the config gives one number, a
list, or ``{name: sigma}`` (names left out keep the default).

**Colours.** Left keypoints and links green, right orange, the rest blue, as
in mmpose's own metainfo files.
"""
import re
from typing import (Dict, List, Mapping, Optional, Sequence, Tuple, Union)

__all__ = [
    'DEFAULT_SIGMA', 'keypoint_side', 'mirror_keypoint_name',
    'derive_flip_pairs', 'resolve_flip_pairs', 'resolve_per_keypoint',
    'build_pose_metainfo'
]

#: OKS sigma of a keypoint the config says nothing about.
DEFAULT_SIGMA: float = 0.1

#: mmpose's colours (RGB) for left, right and centre keypoints / links.
SIDE_COLORS: Dict[Optional[str], List[int]] = {
    'left': [0, 255, 0],
    'right': [255, 128, 0],
    None: [51, 153, 255],
}

_SWAP = {'left': 'right', 'right': 'left', 'l': 'r', 'r': 'l'}
# words: runs of letters or digits (anything else separates), split again
# at camelCase humps ("LeftEar", "LEye")
_WORD = re.compile(r'[A-Z]+(?=[A-Z][a-z])|[A-Z]?[a-z]+|[A-Z]+|\d+')

FlipPairs = Union[str, None, Sequence[Sequence[Union[str, int]]]]


def _match_case(word: str, like: str) -> str:
    if like.isupper():
        return word.upper()
    if like[:1].isupper():
        return word.capitalize()
    return word


def _markers(name: str) -> List[Tuple[int, int, str]]:
    """``(start, end, side word)`` of every side marker in ``name``."""
    found = []
    for m in _WORD.finditer(name):
        word = m.group(0)
        low = word.lower()
        if low in _SWAP:
            found.append((m.start(), m.end(), low))
            continue
        for side in ('left', 'right'):
            if low.startswith(side):
                found.append((m.start(), m.start() + len(side), side))
                break
            if low.endswith(side):
                found.append((m.end() - len(side), m.end(), side))
                break
    return found


def keypoint_side(name: str) -> Optional[str]:
    """``'left'``, ``'right'`` or None (no marker, or more than one)."""
    marks = _markers(name)
    if len(marks) != 1:
        return None
    return {'l': 'left', 'r': 'right'}.get(marks[0][2], marks[0][2])


def mirror_keypoint_name(name: str) -> Optional[str]:
    """``name`` with its one side marker swapped, None without exactly one
    marker (see the module docstring for the rules)."""
    marks = _markers(name)
    if len(marks) != 1:
        return None
    start, end, side = marks[0]
    return name[:start] + _match_case(_SWAP[side], name[start:end]) + \
        name[end:]


def derive_flip_pairs(names: Sequence[str]) -> List[Tuple[int, int]]:
    """Left/right pairs ``(i, j)``, ``i < j``, derived from the names."""
    index = {n: i for i, n in enumerate(names)}
    pairs = []
    for i, name in enumerate(names):
        j = index.get(mirror_keypoint_name(name))
        if j is not None and j > i and mirror_keypoint_name(names[j]) == name:
            pairs.append((i, j))
    return pairs


def resolve_flip_pairs(names: Sequence[str],
                       flip_pairs: FlipPairs = 'auto',
                       file_pairs: Optional[Sequence[Tuple[int, int]]] = None
                       ) -> List[Tuple[int, int]]:
    """The flip pairs a dataset uses.

    Args:
        names (Sequence[str]): The keypoint names.
        flip_pairs: ``'auto'`` (the file's pairs where it states them, else
            :func:`derive_flip_pairs`), ``None`` / ``[]`` (no flipping
            pairs), or pairs of names or 0-based indices.
        file_pairs (Sequence, optional): Pairs stated by the file.

    Raises:
        ValueError: Unknown names, out-of-range indices, a keypoint in two
            pairs or paired with itself.
    """
    if isinstance(flip_pairs, str):
        if flip_pairs != 'auto':
            raise ValueError(f"flip_pairs: expected 'auto', None or a list "
                             f'of pairs, got {flip_pairs!r}')
        if file_pairs is not None:
            return [tuple(p) for p in file_pairs]
        return derive_flip_pairs(names)
    if flip_pairs is None:
        return []
    index = {n: i for i, n in enumerate(names)}
    out, used = [], set()
    for pair in flip_pairs:
        if not isinstance(pair, (list, tuple)) or len(pair) != 2:
            raise ValueError(f'flip_pairs: {pair!r} is not a pair')
        ids = []
        for p in pair:
            if isinstance(p, str):
                if p not in index:
                    raise ValueError(f'flip_pairs: {p!r} is not a keypoint '
                                     f'({list(names)})')
                ids.append(index[p])
            elif isinstance(p, int) and not isinstance(p, bool) and \
                    0 <= p < len(names):
                ids.append(p)
            else:
                raise ValueError(f'flip_pairs: {p!r} is neither a keypoint '
                                 f'name nor an index in 0..{len(names) - 1}')
        if ids[0] == ids[1] or used & set(ids):
            raise ValueError(
                f'flip_pairs: {list(pair)}: a keypoint pairs with one other '
                'keypoint, once')
        used |= set(ids)
        out.append((min(ids), max(ids)))
    return out


def resolve_per_keypoint(names: Sequence[str],
                         value: Union[None, float, Sequence[float],
                                      Mapping[str, float]],
                         default: float, what: str) -> List[float]:
    """A per-keypoint number (sigma, loss weight) from a config value.

    Args:
        value: None (``default`` for all), one number, a list of K numbers,
            or ``{name: number}`` (others keep ``default``).
        what (str): The option's name, for messages.

    Raises:
        ValueError: Wrong length, unknown names, non-positive numbers.
    """
    def number(v, key):
        if isinstance(v, bool) or not isinstance(v, (int, float)) or v <= 0:
            raise ValueError(f'{what}{key}: expected a positive number, got '
                             f'{v!r}')
        return float(v)

    if value is None:
        return [float(default)] * len(names)
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return [number(value, '')] * len(names)
    if isinstance(value, Mapping):
        unknown = [k for k in value if k not in names]
        if unknown:
            raise ValueError(f'{what}: {unknown} are not keypoints '
                             f'({list(names)})')
        return [number(value[n], f'[{n!r}]') if n in value else
                float(default) for n in names]
    values = list(value)
    if len(values) != len(names):
        raise ValueError(f'{what}: {len(values)} values for {len(names)} '
                         f'keypoints {list(names)}')
    return [number(v, f'[{i}]') for i, v in enumerate(values)]


def build_pose_metainfo(names: Sequence[str],
                        skeleton: Sequence[Tuple[int, int]] = (),
                        flip_pairs: Sequence[Tuple[int, int]] = (),
                        sigmas: Optional[Sequence[float]] = None,
                        joint_weights: Optional[Sequence[float]] = None,
                        upper_body: Sequence[str] = (),
                        lower_body: Sequence[str] = (),
                        dataset_name: str = 'custom_keypoints') -> dict:
    """A metainfo dict in mmpose's format (what ``parse_pose_metainfo``
    reads from a ``configs/_base_/datasets/*.py`` file).

    Args:
        names (Sequence[str]): Keypoint names.
        skeleton (Sequence): Links as 0-based index pairs.
        flip_pairs (Sequence): Symmetric ``(i, j)`` pairs.
        sigmas (Sequence[float], optional): OKS sigmas; default
            :data:`DEFAULT_SIGMA` each.
        joint_weights (Sequence[float], optional): Loss weights; default 1.
        upper_body, lower_body (Sequence[str]): Names of the keypoints
            ``RandomHalfBody`` treats as the upper / lower half; keypoints in
            neither are never chosen for a half body (by default none are,
            which makes ``RandomHalfBody`` a no-op).
        dataset_name (str): ``dataset_name`` (also the prefix of the
            annotation-file key CocoMetric looks up).
    """
    k = len(names)
    swap = {}
    for i, j in flip_pairs:
        swap[i], swap[j] = names[j], names[i]
    body = {**{n: 'lower' for n in lower_body},
            **{n: 'upper' for n in upper_body}}
    keypoint_info = {
        i: dict(name=name, id=i, color=SIDE_COLORS[keypoint_side(name)],
                type=body.get(name, ''), swap=swap.get(i, ''))
        for i, name in enumerate(names)
    }
    skeleton_info = {}
    for n, (i, j) in enumerate(skeleton):
        sides = {keypoint_side(names[i]), keypoint_side(names[j])}
        side = sides.pop() if len(sides) == 1 else None
        skeleton_info[n] = dict(
            link=(names[i], names[j]), id=n, color=SIDE_COLORS[side])
    return dict(
        dataset_name=dataset_name,
        paper_info=dict(),
        keypoint_info=keypoint_info,
        skeleton_info=skeleton_info,
        joint_weights=list(joint_weights) if joint_weights is not None else
        [1.0] * k,
        sigmas=list(sigmas) if sigmas is not None else [DEFAULT_SIGMA] * k)
