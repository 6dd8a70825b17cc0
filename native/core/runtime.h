// SPDX-License-Identifier: MIT
// What the machine offers (devices, CPU threads) and how a job claims it; shared by train, evaluate and predict.
#pragma once

#include <c10/core/Device.h>

#include <string>
#include <vector>

namespace libtorch_resnet::core {

struct RuntimeInfo {
  std::string libtorch_version;
  bool cuda_available = false;
  int cuda_devices = 0;
  // What a job uses when its threads option is 0.
  int default_threads = 1;
  // The c10d backends this build can train with ("gloo", "nccl").
  std::vector<std::string> distributed_backends;
  // What CUDA LibTorch loaded, as CUDA and cuDNN encode them (12040 = CUDA 12.4; 90100 = cuDNN 9.1.0); 0 when
  // this LibTorch has no CUDA runtime or no cuDNN.
  long cuda_runtime_version = 0;
  long cudnn_version = 0;
  // The libstdc++ ABI this binary was compiled with, which must be LibTorch's (_GLIBCXX_USE_CXX11_ABI).
  int cxx11_abi = 1;
};

RuntimeInfo runtime_info();

// "auto" -> CUDA when available, else CPU. Throws with a hint when the device does not exist.
c10::Device resolve_device(const std::string& spec);

// Sets LibTorch's intra-op threads for the calling thread's jobs: `threads`, or when 0 OMP_NUM_THREADS, else
// every core. Returns the count in effect.
int use_cpu_threads(int threads);

// Held by a training job (train, benchmark) for its whole run. LibTorch's seed, default CPU generator and thread
// count are process-wide, so two such jobs at once would corrupt each other's runs: the second is refused with a
// BusyError instead. Evaluation and prediction draw no random numbers and need no slot.
class TrainingSlot {
 public:
  explicit TrainingSlot(const char* job);
  ~TrainingSlot();
  TrainingSlot(const TrainingSlot&) = delete;
  TrainingSlot& operator=(const TrainingSlot&) = delete;
};

}  // namespace libtorch_resnet::core
