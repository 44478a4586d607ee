#!/usr/bin/env bash
# Builds and runs the CUDA backend's checks on a machine with a GPU and nvcc, in ~6 minutes on
# 16 cores: configure with -DVLM_CUDA=ON -DCMAKE_CUDA_ARCHITECTURES=90, build test_cuda,
# bench_gemm_cuda (and the CPU bench_gemm if it exists), then write to $OUT:
#   env.txt (nvidia-smi, tool versions)  configure.txt  build.txt
#   test_cuda.txt (Catch2 output, per-case durations)  bench.jsonl (one JSON line per case)
#   bench_cpu.jsonl  bench_stderr.txt  summary.txt
# No network needed: if <repo>/.deps exists (tools/make_gpu_deps.sh), CMake finds Eigen,
# nlohmann/json, Catch2, stb, PCRE2 and utf8proc there.
# Exit status: 0 when the tests and the bench's CPU checks pass, else the first failure's.
set -uo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
OUT=${OUT:-$ROOT/out/gpu_check}
BUILD=${BUILD:-$ROOT/build-gpu}
JOBS=${JOBS:-$(nproc)}
mkdir -p "$OUT"
cd "$ROOT"

NVCC=$(command -v nvcc || true)
[ -z "$NVCC" ] && [ -x /usr/local/cuda/bin/nvcc ] && NVCC=/usr/local/cuda/bin/nvcc
[ -z "$NVCC" ] && { echo "gpu_check: nvcc not found" | tee "$OUT/summary.txt"; exit 2; }

CMAKE_ARGS=(-DCMAKE_BUILD_TYPE=Release -DVLM_CUDA=ON -DCMAKE_CUDA_ARCHITECTURES=90
            -DCMAKE_CUDA_COMPILER="$NVCC" -DVLM_BUILD_EXAMPLES=OFF -DVLM_BUILD_TESTS=ON -DVLM_BUILD_BENCH=ON)
if [ -d "$ROOT/.deps" ]; then
  CMAKE_ARGS+=(-DCMAKE_PREFIX_PATH="$ROOT/.deps")
  export LD_LIBRARY_PATH="$ROOT/.deps/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
fi
export VLM_GIT_COMMIT=${VLM_GIT_COMMIT:-$(git describe --always --dirty --abbrev=12 2>/dev/null || echo unknown)}

{
  date -u; echo "commit $VLM_GIT_COMMIT"; nvidia-smi || true; "$NVCC" --version; cmake --version | head -1
  g++ --version | head -1; echo "cores $(nproc)"
} > "$OUT/env.txt" 2>&1

t0=$(date +%s)
status=0
step() { echo "[gpu_check $(( $(date +%s) - t0 ))s] $*" | tee -a "$OUT/summary.txt"; }
: > "$OUT/summary.txt"

step "configure"
if ! cmake -S "$ROOT" -B "$BUILD" "${CMAKE_ARGS[@]}" > "$OUT/configure.txt" 2>&1; then
  step "configure FAILED (see configure.txt)"; tail -20 "$OUT/configure.txt"; exit 3
fi
targets=(test_cuda bench_gemm_cuda)
cmake --build "$BUILD" --target help 2>/dev/null | grep -qE '(^|[ .])bench_gemm($|[ ])' && targets+=(bench_gemm)
step "build ${targets[*]} with $JOBS jobs"
if ! cmake --build "$BUILD" --target "${targets[@]}" -j "$JOBS" > "$OUT/build.txt" 2>&1; then
  step "build FAILED (see build.txt)"; grep -E "error" "$OUT/build.txt" | head -20; exit 4
fi

step "test_cuda"
timeout 240 "$BUILD/tests/test_cuda" --durations yes > "$OUT/test_cuda.txt" 2>&1
rc=$?
step "test_cuda exit $rc: $(grep -E '^(All tests passed|test cases:)|NOT run' "$OUT/test_cuda.txt" | tail -1)"
[ $rc -ne 0 ] && status=$rc

step "bench_gemm_cuda"
timeout 150 "$BUILD/bench/bench_gemm_cuda" > "$OUT/bench.jsonl" 2> "$OUT/bench_stderr.txt"
rc=$?
step "bench_gemm_cuda exit $rc, $(wc -l < "$OUT/bench.jsonl") cases, $(grep -c '"FAILED"' "$OUT/bench.jsonl") failed checks"
[ $rc -ne 0 ] && [ $status -eq 0 ] && status=$rc

if [ -x "$BUILD/bench/bench_gemm" ]; then
  step "bench_gemm (CPU baseline)"
  timeout 60 "$BUILD/bench/bench_gemm" > "$OUT/bench_cpu.jsonl" 2>> "$OUT/bench_stderr.txt" || step "bench_gemm exit $?"
fi
step "done, status $status"
exit $status
