// SPDX-License-Identifier: MIT
// The one place where LibTorch 1.13 (Debian, CPU) and 2.x (pip or zip, CUDA) differ for this project.
// See shared/notes/libtorch-portability.md for what was checked.
#pragma once

#include <torch/cuda.h>
#include <torch/torch.h>
#include <torch/version.h>

#include <sstream>
#include <string>
#include <type_traits>

#define LIBTORCH_RESNET_TORCH_AT_LEAST(major, minor) \
  (TORCH_VERSION_MAJOR > (major) || (TORCH_VERSION_MAJOR == (major) && TORCH_VERSION_MINOR >= (minor)))

namespace libtorch_resnet::compat {

inline const char* libtorch_version() { return TORCH_VERSION; }

// size_t in 1.13, c10::DeviceIndex (int8) in 2.x.
inline int cuda_device_count() { return static_cast<int>(torch::cuda::device_count()); }

// Debian's 1.13 pins a thread's first parallel region to one OpenMP thread; setting the count explicitly
// restores all cores and reaches the pool used by worker threads too. 2.x defaults to all cores already.
inline void set_cpu_threads(int threads) {
  if (threads > 0 && at::get_num_threads() != threads) at::set_num_threads(threads);
}

// SGD keeps a parameter's momentum buffer under its TensorImpl address: printed as hex text in 1.13, a void* in
// 2.x. That is why the optimizer's own torch::save is not portable across the two, and why checkpoints store
// the buffers by parameter index instead.
// A template only so that the branch for the other version's key type is discarded, not compiled.
template <class Optimizer>
torch::optim::SGDParamState* sgd_state(Optimizer& optimizer, const torch::Tensor& param, bool create) {
  auto& states = optimizer.state();
  using Key = typename std::decay_t<decltype(states)>::key_type;
  Key key{};
  if constexpr (std::is_same_v<Key, std::string>) {
    std::ostringstream text;
    text << static_cast<const void*>(param.unsafeGetTensorImpl());
    key = text.str();
  } else {
    key = static_cast<Key>(param.unsafeGetTensorImpl());
  }
  auto found = states.find(key);
  if (found == states.end()) {
    if (!create) return nullptr;
    found = states.emplace(key, std::make_unique<torch::optim::SGDParamState>()).first;
  }
  return static_cast<torch::optim::SGDParamState*>(found->second.get());
}

}  // namespace libtorch_resnet::compat
