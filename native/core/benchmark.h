// SPDX-License-Identifier: MIT
// Timing the training step and the data path on their own, without a whole run: what `npm run bench` measures
// against the article's PyTorch program.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "options.h"
#include "progress.h"

namespace libtorch_resnet::core {

struct BenchOptions {
  Preset preset = Preset::kArticle;
  int64_t image_size = 224;
  int64_t batch_size = 64;
  // Timed steps, after `warmup` untimed ones (allocator, cuDNN autotuning, oneDNN primitive caches).
  int64_t steps = 20;
  int64_t warmup = 3;
  std::string device = "auto";
  int threads = 0;
  Precision precision = Precision::kFp32;
  MemoryFormat memory_format = MemoryFormat::kAuto;
  CudaGraph cuda_graph = CudaGraph::kAuto;
  // CIFAR-10 binary batches; up to 4096 training records are read and batches drawn from them at random.
  std::string data_dir;
  uint64_t seed = 42;
};

struct BenchResult {
  Status status = Status::kCompleted;
  // Whole training steps, batch making included: images/s over the timed steps.
  double images_per_second = 0;
  double seconds_per_step = 0;
  // The data path alone (index, resize, normalise on the device; no model): batches/s.
  double data_batches_per_second = 0;
  // Share of a step the data path takes, in [0, 1].
  double data_fraction = 0;
  // Model FLOPs of one training image (3x the forward pass) and what the timed steps achieved, in FLOP/s.
  double train_flops_per_image = 0;
  double flops_per_second = 0;
  bool channels_last = false;
  // Whether the timed steps replayed a CUDA graph.
  bool cuda_graph = false;
  // Where one step's time goes: the host's time to issue it (timed from an idle GPU, no sync inside), and the GPU's
  // time to run it once everything is queued (CUDA events; 0 on the CPU, where the two are one).
  double host_seconds_per_step = 0;
  double gpu_seconds_per_step = 0;
  int64_t parameters = 0;
  std::string device;
  std::string libtorch_version;
  int threads = 0;
};

// Runs on the calling thread; stops early (status kCancelled) when `stop` is requested (checked every step).
BenchResult benchmark(const BenchOptions& options, const StopToken& stop);

}  // namespace libtorch_resnet::core
