"""SLEAP label files (``.slp``, ``.pkg.slp``) through ``sleap-io``.

`sleap-io <https://io.sleap.ai>`__ is the maintained reader of SLEAP files
that does not need SLEAP itself; install it with the package's ``sleap``
extra (``pip install -e '.[sleap]'``). Without it, reading a ``.slp`` file
is one :class:`~.common.KeypointFormatError` naming the extra.

Reading rules:

- the file's one skeleton gives the keypoint names, links and, where it
  has any, symmetric pairs (a file with several skeletons is an error);
- every labelled frame with user-labelled instances is an image; predicted
  instances are not ground truth and are left out (counted in the notes);
- a point is labelled when it is visible and finite (``v = 2``);
- ``track`` is the instance's SLEAP track name;
- frames of image-sequence videos are read from their files; frames of
  media videos and of frames embedded in a ``.pkg.slp`` are written once as
  PNG files to ``frames_dir`` (default ``<file>.frames/`` beside the file),
  each file all-or-nothing, under a subfolder keyed by the ``.slp`` file's
  size and modification time so an edited file never reuses stale frames.

A ``.slp`` file stores the path of each video (or of each image of an
image-sequence video) as it was when labelled. A file that is not at that
path is looked for as sleap-io's ``load_slp`` does, extended to relative
paths (:func:`resolve_media_path`): the stored path (absolute, or relative
to the working directory); else the stored relative path under the ``.slp``
file's folder; else the file of the same name beside the ``.slp`` file.
The video found is relinked with sleap-io's ``Video.replace_filename``. A
file found nowhere is one error naming the stored path and the places
looked.
"""
import os
import os.path as osp
from typing import Any, Dict, List, Optional, Tuple

import numpy as np

from .common import (KeypointAnnotations, KeypointFormatError, KeypointImage,
                     KeypointInstance, atomic_output, check_keypoint_names,
                     instance_from_points, locate_image)

__all__ = ['read_sleap', 'write_sleap', 'read_sleap_keypoint_names',
           'import_sleap_io', 'resolve_media_path']


def import_sleap_io(path: str) -> Any:
    """``sleap_io``, or a one-line error naming the extra to install."""
    try:
        import sleap_io
    except ImportError:
        raise KeypointFormatError(
            f'{path}: reading SLEAP files needs the optional package '
            "sleap-io: pip install -e '.[sleap]' (or pip install sleap-io)"
        ) from None
    return sleap_io


def _load(path: str) -> Any:
    sio = import_sleap_io(path)
    if not osp.isfile(path):
        raise FileNotFoundError(f'{path}: SLEAP file does not exist')
    try:
        # videos are opened only for frames that are not image files
        return sio.load_slp(path, open_videos=False)
    except (OSError, KeyError, ValueError) as e:
        raise KeypointFormatError(
            f'{path}: not a readable SLEAP file ({type(e).__name__}: {e}); '
            'export it again from SLEAP') from None


def _skeleton(labels: Any, path: str) -> Any:
    if len(labels.skeletons) != 1:
        raise KeypointFormatError(
            f'{path}: {len(labels.skeletons)} skeletons '
            f'{[s.name for s in labels.skeletons]}; a dataset has one '
            'keypoint set: keep one skeleton in the file')
    return labels.skeletons[0]


def read_sleap_keypoint_names(path: str) -> Tuple[str, ...]:
    """The node names of a SLEAP file's skeleton."""
    labels = _load(path)
    return check_keypoint_names(
        list(_skeleton(labels, path).node_names), f'{path}: skeleton nodes')


def _frames_dir(path: str, frames_dir: Optional[str]) -> str:
    st = os.stat(path)
    key = f'{st.st_size:x}-{st.st_mtime_ns:x}'
    base = frames_dir or osp.join(
        osp.dirname(osp.abspath(path)), osp.basename(path) + '.frames')
    return osp.join(osp.abspath(base), key)


def _media_candidates(stored: str, slp_dir: str) -> List[str]:
    """The places :func:`resolve_media_path` looks, in order, without
    repeats."""
    name = stored.replace('\\', '/')
    places = [stored]
    is_abs = osp.isabs(name) or (len(name) > 1 and name[1] == ':')
    if not is_abs:
        places.append(osp.join(slp_dir, name))
    places.append(osp.join(slp_dir, name.rstrip('/').rsplit('/', 1)[-1]))
    out: List[str] = []
    for place in places:
        if osp.abspath(place) not in (osp.abspath(p) for p in out):
            out.append(place)
    return out


def resolve_media_path(stored: str, slp_path: str, where: str,
                       what: str = 'video') -> str:
    """Where a video or image a ``.slp`` file refers to is found.

    Looks, in order, at: the stored path (absolute, or relative to the
    working directory, as sleap-io opens it); the stored relative path under
    the ``.slp`` file's folder; the file of the same name beside the
    ``.slp`` file (sleap-io's ``load_slp`` fallback). A Windows path
    (``C:\\...``) counts as absolute.

    Args:
        stored (str): The path as the ``.slp`` file stores it.
        slp_path (str): The ``.slp`` file.
        where (str): ``'<file>: labeled frame 3 (...)'`` for messages.
        what (str): ``'video'`` or ``'image'``, for messages.

    Returns:
        str: The absolute path of the file found.

    Raises:
        KeypointFormatError: The file is in none of these places.
    """
    slp_dir = osp.dirname(osp.abspath(slp_path))
    places = _media_candidates(stored, slp_dir)
    for place in places:
        if osp.isfile(place):
            return osp.abspath(place)
    raise KeypointFormatError(
        f'{where}: {what} {stored!r} not found (looked for '
        f'{", ".join(osp.abspath(p) for p in places)}); put the {what} '
        f'beside {osp.basename(slp_path)} (or at its stored path), or '
        'relink it in SLEAP and save the file again')


def _relink_video(video: Any, slp_path: str, where: str) -> None:
    """Point a media video whose stored file is elsewhere at the file
    :func:`resolve_media_path` finds (embedded frames stay as they are)."""
    stored = video.filename
    if not isinstance(stored, str) or osp.exists(stored):
        return
    found = resolve_media_path(stored, slp_path, where)
    video.replace_filename(found, open=False)


def _video_frame_file(video: Any, frame_idx: int) -> Optional[str]:
    """The image file (as the file names it) of a frame of an
    image-sequence video, else None."""
    files = video.filename
    if not isinstance(files, (list, tuple)):
        return None
    return str(files[frame_idx])


def _extract_frame(video: Any, frame_idx: int, out_path: str,
                   slp_path: str, where: str) -> None:
    """Write one frame of a media video / embedded frame set as PNG."""
    import cv2
    _relink_video(video, slp_path, where)
    try:
        if video.backend is None:
            video.open()
        frame = np.asarray(video[frame_idx])
    except Exception as e:  # noqa: BLE001 - any backend failure
        raise KeypointFormatError(
            f'{where}: cannot read frame {frame_idx} of video '
            f'{video.filename!r} ({type(e).__name__}: {e}); make the video '
            'available or export a .pkg.slp with embedded frames') from None
    if frame.ndim == 3 and frame.shape[2] == 3:
        frame = frame[..., ::-1]  # sleap-io gives RGB
    ok, buf = cv2.imencode('.png', np.ascontiguousarray(frame))
    if not ok:
        raise KeypointFormatError(f'{where}: frame {frame_idx} cannot be '
                                  'encoded as PNG')
    with atomic_output() as out:
        out.write(out_path, buf.tobytes())


def read_sleap(path: str,
               frames_dir: Optional[str] = None) -> KeypointAnnotations:
    """Read a SLEAP ``.slp`` / ``.pkg.slp`` file.

    Args:
        path (str): The file.
        frames_dir (str, optional): Folder for frames that are not image
            files (media videos, embedded frames). Defaults to
            ``<path>.frames/`` beside the file.

    Returns:
        KeypointAnnotations: One image per labelled frame with user
        instances; ``flip_pairs`` from the skeleton's symmetries (None
        without any).

    Raises:
        KeypointFormatError: sleap-io missing, several skeletons, a frame
            whose image is missing, ...
    """
    labels = _load(path)
    skeleton = _skeleton(labels, path)
    names = check_keypoint_names(
        list(skeleton.node_names), f'{path}: skeleton nodes')
    slp_dir = osp.dirname(osp.abspath(path))
    video_index = {id(v): i for i, v in enumerate(labels.videos)}
    cache = None
    images: List[KeypointImage] = []
    instances: List[KeypointInstance] = []
    n_predicted = 0
    for f, lf in enumerate(labels.labeled_frames):
        user = list(lf.user_instances)
        n_predicted += len(lf.predicted_instances)
        if not user:
            continue
        vi = video_index.get(id(lf.video), 0)
        idx = int(lf.frame_idx)
        where = f'{path}: labeled frame {f} (video {vi}, frame {idx})'
        file_name = _video_frame_file(lf.video, idx)
        if file_name is None:
            cache = cache or _frames_dir(path, frames_dir)
            file_name = osp.join(cache, f'video{vi:03d}',
                                 f'frame{idx:06d}.png')
            if not osp.isfile(file_name):
                _extract_frame(lf.video, idx, file_name, path, where)
            found = file_name
        else:
            found = resolve_media_path(file_name, path, where, what='image')
        img_path, (w, h) = locate_image(slp_dir, found, where)
        img = KeypointImage(
            id=len(images) + 1, file_name=file_name, path=img_path, width=w,
            height=h)
        images.append(img)
        for inst in user:
            new = instance_from_points(
                np.asarray(inst.numpy()).reshape(len(names), 2),
                len(instances) + 1, img.id,
                inst.track.name if inst.track is not None else None)
            if new is not None:
                instances.append(new)
    index = {n: i for i, n in enumerate(names)}
    pairs = []
    for sym in skeleton.symmetries:
        a, b = sorted(index[n.name] for n in sym.nodes)
        pairs.append((a, b))
    notes = [f'{n_predicted} predicted instance(s) left out (not ground '
             'truth)'] if n_predicted else []
    return KeypointAnnotations(
        path=path,
        format='sleap',
        keypoint_names=names,
        skeleton=tuple(tuple(e) for e in skeleton.edge_inds),
        images=images,
        instances=instances,
        flip_pairs=tuple(sorted(set(pairs))) or None,
        notes=notes)


def write_sleap(annots: KeypointAnnotations,
                path: str,
                embed: bool = False) -> str:
    """Write ``annots`` as a SLEAP file with sleap-io (all or nothing).

    The images become image-sequence videos, one per image folder, with
    paths relative to the file's folder. With ``embed=True`` (use a
    ``.pkg.slp`` name) the labelled frames are stored inside the file (and
    the source paths are absolute).
    ``annots.flip_pairs`` become the skeleton's symmetries.

    Returns:
        str: ``path``.
    """
    sio = import_sleap_io(path)
    names = list(annots.keypoint_names)
    skeleton = sio.Skeleton(
        nodes=names,
        edges=[(names[i], names[j]) for i, j in annots.skeleton],
        symmetries=[(names[i], names[j])
                    for i, j in (annots.flip_pairs or ())])
    slp_dir = osp.dirname(osp.abspath(path))
    folders: Dict[str, List[KeypointImage]] = {}
    for img in annots.images:
        folders.setdefault(osp.dirname(osp.abspath(img.path)), []).append(img)
    frame_of: Dict[int, Tuple[Any, int]] = {}
    videos = []
    for imgs in folders.values():
        files = [osp.abspath(img.path) for img in imgs]
        if not embed:
            files = [osp.relpath(f, slp_dir) for f in files]
        video = sio.Video.from_filename(files, open_backend=False)
        videos.append(video)
        for k, img in enumerate(imgs):
            frame_of[img.id] = (video, k)
    tracks: Dict[str, Any] = {}
    per_image: Dict[int, List[Any]] = {}
    for inst in annots.instances:
        xy = np.where(inst.labelled[:, None], inst.keypoints, np.nan)
        track = None
        if inst.track is not None:
            track = tracks.setdefault(inst.track, sio.Track(inst.track))
        per_image.setdefault(inst.image_id, []).append(
            sio.Instance.from_numpy(xy, skeleton=skeleton, track=track))
    frames = [
        sio.LabeledFrame(video=frame_of[img.id][0],
                         frame_idx=frame_of[img.id][1],
                         instances=per_image[img.id])
        for img in annots.images if img.id in per_image
    ]
    labels = sio.Labels(labeled_frames=frames, videos=videos,
                        skeletons=[skeleton], tracks=list(tracks.values()))
    with atomic_output() as out:
        sio.save_slp(labels, out.temp_path(path),
                     embed='user' if embed else False, verbose=False)
    return path
