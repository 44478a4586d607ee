#!/usr/bin/env bash
# Installs vlm's build and test dependencies from Debian 12's packages (run as root),
# including the CJK font (fonts-wqy-microhei) that make-ocr-data and its tests draw with.
# The CUDA toolkit (nvcc, cuBLAS, CUB) is not installed here: the CUDA backend is built when
# nvcc is on PATH (or /usr/local/cuda/bin), and skipped otherwise.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO=sudo; fi
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends \
  cmake make g++ ccache pkg-config \
  libeigen3-dev nlohmann-json3-dev catch2 libstb-dev libpcre2-dev libutf8proc-dev \
  fonts-wqy-microhei python3 >/dev/null
