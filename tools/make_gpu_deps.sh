#!/usr/bin/env bash
# Fills <repo>/.deps with the third-party headers, CMake package files and shared libraries
# vlm needs at configure/build time, copied from this (Debian 12) machine's packages, so a
# bare GPU machine with no network (cmake, g++, nvcc only) can build: tools/gpu_check.sh points
# CMAKE_PREFIX_PATH at .deps. Layout mirrors /usr so the packages' relocatable configs work:
#   include/{eigen3,nlohmann,catch2,stb,pcre2*.h,utf8proc.h}  share/eigen3/cmake
#   share/cmake/nlohmann_json  lib/cmake/Catch2  lib/libCatch2WithMain.a
#   lib/lib{stb,pcre2-8,utf8proc}.so*
# Needs: libeigen3-dev nlohmann-json3-dev catch2 libstb-dev libpcre2-dev libutf8proc-dev.
# .deps/ is git-ignored; hand it to the GPU machine as a carried path.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
DEPS=${1:-$ROOT/.deps}
MULTI=$(gcc -print-multiarch 2>/dev/null || echo x86_64-linux-gnu)
LIBDIR=/usr/lib/$MULTI

need() { [ -e "$1" ] || { echo "make_gpu_deps: missing $1 (install $2)" >&2; exit 1; }; }
need /usr/include/eigen3/Eigen/Core libeigen3-dev
need /usr/include/nlohmann/json.hpp nlohmann-json3-dev
need /usr/include/catch2/catch.hpp catch2
need /usr/lib/libCatch2WithMain.a catch2
need /usr/include/stb/stb_image.h libstb-dev
need /usr/include/pcre2.h libpcre2-dev
need /usr/include/utf8proc.h libutf8proc-dev

rm -rf "$DEPS"
mkdir -p "$DEPS/include" "$DEPS/lib/cmake" "$DEPS/share/cmake" "$DEPS/share/eigen3"
cp -a /usr/include/eigen3 /usr/include/nlohmann /usr/include/catch2 /usr/include/stb "$DEPS/include/"
cp -a /usr/include/pcre2.h /usr/include/utf8proc.h "$DEPS/include/"
[ -e /usr/include/pcre2posix.h ] && cp -a /usr/include/pcre2posix.h "$DEPS/include/"
cp -a /usr/share/eigen3/cmake "$DEPS/share/eigen3/"
cp -a /usr/share/cmake/nlohmann_json "$DEPS/share/cmake/"
cp -a /usr/lib/cmake/Catch2 "$DEPS/lib/cmake/"
cp -a /usr/lib/libCatch2WithMain.a "$DEPS/lib/"  # Catch2's config checks that it exists
for lib in libstb libpcre2-8 libutf8proc; do
  cp -a "$LIBDIR/$lib".so* "$DEPS/lib/"
done
echo "make_gpu_deps: wrote $DEPS ($(du -sh "$DEPS" | cut -f1))"
