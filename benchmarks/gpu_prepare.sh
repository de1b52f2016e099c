#!/usr/bin/env bash
# Fill _carry/gpu/ (git-ignored) with what benchmarks/bench_gpu.py needs on the `device`
# machine, which has torch, numpy, OpenCV, click and tqdm but not PyAV or kornia, no
# network and no ../shared: Python 3.12 x86-64 wheels of av and kornia (+ kornia_rs),
# and the source clip. About 45 MB; the device call's working tree limit is 64 MiB.
#
#   bash benchmarks/gpu_prepare.sh            # then see benchmarks/bench_gpu.py for the call
set -euo pipefail
cd "$(dirname "$0")/.."
dest=_carry/gpu
mkdir -p "$dest/whl"
py=${PYTHON:-python3}
av_version=$($py -c "import av; print(av.__version__)")
kornia_version=$($py -c "import importlib.metadata as m; print(m.version('kornia'))")
kornia_rs_version=$($py -c "import importlib.metadata as m; print(m.version('kornia_rs'))")
rm -f "$dest"/whl/*.whl
$py -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
    --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
    -d "$dest/whl" "av==$av_version" "kornia==$kornia_version" "kornia_rs==$kornia_rs_version"
src=../shared/data/video-frames/sam2_bedroom.mp4
if [ ! -f "$src" ]; then echo "missing $src: give bench_gpu.py another --source" >&2; exit 1; fi
cp "$src" "$dest/source.mp4"
du -sh "$dest"/whl/* "$dest/source.mp4"
