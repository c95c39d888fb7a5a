#!/usr/bin/env bash
# Build the custom_pose environment in .venv/ from nothing, or bring an
# existing one up to date.  Idempotent: every step checks what is there first.
#
#   bash tools/setup_env.sh            # or: make install
#
# Environment overrides: PYTHON (interpreter for the venv, default python3.11),
# VENV (default <repo>/.venv), MAX_JOBS (parallel compile jobs for mmcv),
# MMCV_CUDA=0 (no mmcv CUDA kernels on a GPU machine), TORCH_CUDA_ARCH_LIST
# (their architectures; default: those of this machine's GPUs).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${VENV:-$ROOT/.venv}"
PYTHON="${PYTHON:-python3.11}"

# Exact versions this project is tested with (setup.cfg holds the ranges).
TORCH_VERSION=2.13.0
TORCHVISION_VERSION=0.28.0
NUMPY_SPEC='numpy>=1.24,<2'          # the OpenMMLab 2023/24 releases predate numpy 2
OPENCV_SPEC='opencv-python>=4.8,<4.12'  # 4.12+ requires numpy 2
SETUPTOOLS_SPEC='setuptools>=77.0.3,<81'  # torch 2.13 needs >=77; mmcv's build needs pkg_resources
MMENGINE_VERSION=0.10.7
MMCV_VERSION=2.1.0
MMDET_VERSION=3.3.0
MMPOSE_VERSION=1.3.2
XTCOCOTOOLS_VERSION=1.14.3

export PIP_DISABLE_PIP_VERSION_CHECK=1

START=$(date +%s)
step() { printf '\n==> [%s +%ss] %s\n' "$(date +%H:%M:%S)" "$(( $(date +%s) - START ))" "$*"; }
die() { printf '\nERROR: %s\n' "$*" >&2; exit 1; }
py() { "$VENV/bin/python" "$@"; }
pip_install() { py -m pip install --progress-bar off "$@"; }

step "1/8 Python virtual environment in $VENV"
if [[ ! -x "$VENV/bin/python" ]]; then
    command -v "$PYTHON" >/dev/null || die "$PYTHON not found; set PYTHON=/path/to/python3.11"
    "$PYTHON" -m venv "$VENV"
    echo "created with $("$VENV/bin/python" --version)"
else
    echo "exists ($("$VENV/bin/python" --version))"
fi

step "2/8 Build tools and numpy ($SETUPTOOLS_SPEC, $NUMPY_SPEC)"
pip_install -q "pip>=23.2" "$SETUPTOOLS_SPEC" wheel ninja "cython>=3" "$NUMPY_SPEC"

step "3/8 torch $TORCH_VERSION + torchvision $TORCHVISION_VERSION (a pair that imports together)"
# `===` pins the plain build: a local CPU-only build such as 2.13.0+cpu (which
# some pip configs offer through find-links) has no torchvision that loads with
# it ("operator torchvision::nms does not exist"), and `==` would accept it.
pip_install -q "torch===$TORCH_VERSION" "torchvision==$TORCHVISION_VERSION" "$NUMPY_SPEC"
py - <<'PY' || die "torch and torchvision do not import together (see above)"
import torch, torchvision
from torchvision.ops import nms
keep = nms(torch.tensor([[0., 0., 10., 10.], [1., 1., 11., 11.]]), torch.tensor([0.9, 0.8]), 0.5)
assert keep.tolist() == [0], keep
print(f"torch {torch.__version__} + torchvision {torchvision.__version__}: import and nms OK")
PY

step "4/8 mmengine $MMENGINE_VERSION, OpenCV"
pip_install -q "mmengine==$MMENGINE_VERSION" "$OPENCV_SPEC" "$NUMPY_SPEC"

step "5/8 mmcv $MMCV_VERSION with compiled ops"
# With a CUDA GPU that torch sees, mmcv's CUDA kernels are built too, for this
# machine's GPU architecture(s) only (TORCH_CUDA_ARCH_LIST, detected unless set;
# MMCV_CUDA=0 builds the CPU kernels only). Without one: the CPU kernels.
CUDA_ARCH=""
if [[ "${MMCV_CUDA:-1}" != 0 ]]; then
    GPU_ARCH=$(py "$ROOT/tools/misc/cuda_arch.py") \
        || die "could not ask torch for the GPU architecture (see above)"
    [[ -z "$GPU_ARCH" ]] || CUDA_ARCH="${TORCH_CUDA_ARCH_LIST:-$GPU_ARCH}"
fi
MMCV_CUDA_CHECK="import torch, mmcv.ops
boxes = torch.rand(4, 4, device='cuda') * 10
boxes[:, 2:] += boxes[:, :2]
mmcv.ops.nms(boxes, torch.rand(4, device='cuda'), 0.5)"
if [[ -n "$CUDA_ARCH" ]]; then
    if py -c "import mmcv, sys; sys.exit(mmcv.__version__ != '$MMCV_VERSION')" 2>/dev/null \
            && py -c "$MMCV_CUDA_CHECK" 2>/dev/null; then
        echo "mmcv $MMCV_VERSION with CUDA ops already installed"
    else
        command -v nvcc >/dev/null || [[ -x "${CUDA_HOME:-/usr/local/cuda}/bin/nvcc" ]] \
            || die "a CUDA GPU is here but no CUDA compiler (nvcc): install the CUDA toolkit of torch's CUDA ($(py -c 'import torch; print(torch.version.cuda)')), or run with MMCV_CUDA=0 for mmcv's CPU kernels only"
        echo "building mmcv's CPU and CUDA kernels for this GPU only (TORCH_CUDA_ARCH_LIST=$CUDA_ARCH)"
        BUILD_START=$(date +%s)
        # a CPU-only mmcv (installed, or in pip's wheel cache) must not be reused
        py -m pip uninstall -y -q mmcv 2>/dev/null || true
        TORCH_CUDA_ARCH_LIST="$CUDA_ARCH" FORCE_CUDA=1 MMCV_WITH_OPS=1 MAX_JOBS="${MAX_JOBS:-$(nproc)}" \
            pip_install --no-build-isolation --no-cache-dir "mmcv==$MMCV_VERSION" "$OPENCV_SPEC" "$NUMPY_SPEC"
        echo "mmcv with CUDA kernels for $CUDA_ARCH built in $(( $(date +%s) - BUILD_START )) s"
    fi
    py -c "$MMCV_CUDA_CHECK" || die "mmcv.ops has no working CUDA kernels (see above)"
elif py -c "import mmcv, mmcv.ops, sys; sys.exit(mmcv.__version__ != '$MMCV_VERSION')" 2>/dev/null; then
    echo "mmcv $MMCV_VERSION with ops already installed"
else
    echo "no wheel fits this torch: building from source (about 10-15 min on 2 cores the first time;"
    echo "pip keeps the built wheel in its cache, so later installs take seconds)"
    MMCV_WITH_OPS=1 MAX_JOBS="${MAX_JOBS:-$(nproc)}" \
        pip_install --no-build-isolation "mmcv==$MMCV_VERSION" "$OPENCV_SPEC" "$NUMPY_SPEC"
fi
py -c "import mmcv.ops, torch; mmcv.ops.nms(torch.rand(4, 4) * 10, torch.rand(4), 0.5)" \
    || die "mmcv.ops does not work (mmcv-lite or a broken build?)"

step "6/8 mmdet $MMDET_VERSION, mmpose $MMPOSE_VERSION (without chumpy, which is unused and does not build here)"
pip_install -q "mmdet==$MMDET_VERSION" "$NUMPY_SPEC" "$OPENCV_SPEC"
pip_install -q --no-deps "mmpose==$MMPOSE_VERSION"
# mmpose's own requirements minus chumpy and xtcocotools (next step)
pip_install -q json_tricks munkres scipy matplotlib pillow "$NUMPY_SPEC"

step "7/8 xtcocotools $XTCOCOTOOLS_VERSION built against the installed numpy"
if py -c "from xtcocotools.coco import COCO; from xtcocotools.cocoeval import COCOeval; import xtcocotools._mask" 2>/dev/null; then
    echo "xtcocotools works"
else
    pip_install --no-build-isolation --no-binary xtcocotools --force-reinstall --no-deps \
        "xtcocotools==$XTCOCOTOOLS_VERSION"
fi

step "8/8 custom_pose (editable) with its tests, deploy (onnx, onnxruntime), sleap and deeplabcut (pandas, PyTables) extras"
# Dependencies are installed above (mmpose's chumpy must stay out), so the
# package itself goes in without resolving them again; its extras (tests,
# deploy, sleap-io, which the tests use to read SLEAP files, and pandas +
# PyTables for DeepLabCut .h5 labels) are read from setup.cfg, the one place
# they are written.
EXTRAS=$(py - "$ROOT/setup.cfg" <<'PY'
import configparser, sys
cfg = configparser.ConfigParser()
cfg.read(sys.argv[1])
extras = cfg["options.extras_require"]
print(" ".join(l.strip() for name in ("tests", "deploy", "sleap", "deeplabcut")
               for l in extras[name].splitlines() if l.strip()))
PY
)
# shellcheck disable=SC2086
pip_install -q $EXTRAS "$NUMPY_SPEC"
pip_install -q --no-deps --no-build-isolation -e "$ROOT"

step "Check"
py - <<'PY' || die "the environment is not complete (see above)"
import custom_pose, mmpose.models, mmdet.models, mmcv.ops, torchvision  # noqa: F401
import mmcv, mmdet, mmengine, mmpose, numpy, torch, xtcocotools.cocoeval  # noqa: F401
import onnx, onnxruntime  # noqa: F401  (the deploy extra)
import sleap_io  # noqa: F401  (the sleap extra)
import pandas, tables  # noqa: F401  (the deeplabcut extra)
for m in (torch, torchvision, numpy, mmengine, mmcv, mmdet, mmpose, onnx, onnxruntime,
          sleap_io, pandas, tables, custom_pose):
    print(f"  {m.__name__:12s} {m.__version__}")
PY
# pip check, except mmpose's declared chumpy, which is deliberately left out
if ! py -m pip check > "$VENV/pip-check.txt" 2>&1; then
    if grep -v -i chumpy "$VENV/pip-check.txt" | grep -q .; then
        cat "$VENV/pip-check.txt"; die "pip check found inconsistent dependencies"
    fi
fi
touch "$VENV/.custom_pose_ready"
step "Environment ready: $VENV (activate with: source .venv/bin/activate)"
