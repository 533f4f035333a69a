#!/usr/bin/env bash
# Stages what a GPU machine without network or apt needs into .deps/ (git-
# ignored): the header-only libraries, zlib's headers, libjpeg-turbo's
# headers and static library, and the Fashion-MNIST files. Name .deps in the
# device run's carry; CMake finds it by itself.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh --no-build

rm -rf .deps
mkdir -p .deps/include .deps/fashion-mnist
cp -r /usr/include/eigen3/Eigen .deps/include/
cp -r /usr/include/catch2 /usr/include/CLI /usr/include/nlohmann .deps/include/
cp /usr/include/zlib.h /usr/include/zconf.h .deps/include/
mkdir -p .deps/lib
cp /usr/include/jpeglib.h /usr/include/jmorecfg.h /usr/include/jerror.h /usr/include/x86_64-linux-gnu/jconfig.h .deps/include/
cp /usr/lib/x86_64-linux-gnu/libjpeg.a .deps/lib/
cp /usr/share/datasets/fashion-mnist/*.gz .deps/fashion-mnist/
du -sh .deps
