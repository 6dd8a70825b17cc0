// SPDX-License-Identifier: MIT
// The one place where LibTorch 1.13 (Debian, CPU) and 2.x (pip or zip, CUDA) differ for this project.
// See shared/notes/libtorch-portability.md for what was checked.
#pragma once

#include <ATen/autocast_mode.h>
#include <torch/cuda.h>
#include <torch/torch.h>
#include <torch/version.h>

#include <sstream>
#include <string>
#include <type_traits>

#define LIBTORCH_RESNET_TORCH_AT_LEAST(major, minor) \
  (TORCH_VERSION_MAJOR > (major) || (TORCH_VERSION_MAJOR == (major) && TORCH_VERSION_MINOR >= (minor)))

namespace c10d {
class ProcessGroup;
class Backend;
}  // namespace c10d

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

// Autocast for one scope on one device type, as Python's torch.autocast does it: save the thread's state, set it,
// count the nesting; on leaving, drop the cast-weight cache when the outermost scope ends, then restore. 1.13 has
// per-device functions (CUDA "gpu", CPU); 2.4 made them take the device type. Autocast state is thread-local, so the
// guard must live on the thread that runs the model.
class AutocastGuard {
 public:
  // `weight_cache` false turns off the cache of cast weights for the scope, as torch.autocast(cache_enabled=False)
  // does: what a CUDA graph capture needs, since a cached cast would be replayed as it was when captured.
  AutocastGuard(c10::DeviceType device, at::ScalarType dtype, bool weight_cache = true) : device_(device) {
    previous_enabled_ = enabled();
    previous_dtype_ = get_dtype();
    previous_cache_ = at::autocast::is_autocast_cache_enabled();
    set_enabled(true);
    set_dtype(dtype);
    at::autocast::set_autocast_cache_enabled(weight_cache && previous_cache_);
    at::autocast::increment_nesting();
  }
  ~AutocastGuard() {
    if (at::autocast::decrement_nesting() == 0) at::autocast::clear_cache();
    at::autocast::set_autocast_cache_enabled(previous_cache_);
    set_enabled(previous_enabled_);
    set_dtype(previous_dtype_);
  }
  AutocastGuard(const AutocastGuard&) = delete;
  AutocastGuard& operator=(const AutocastGuard&) = delete;

 private:
#if LIBTORCH_RESNET_TORCH_AT_LEAST(2, 4)
  bool enabled() const { return at::autocast::is_autocast_enabled(device_); }
  void set_enabled(bool on) const { at::autocast::set_autocast_enabled(device_, on); }
  at::ScalarType get_dtype() const { return at::autocast::get_autocast_dtype(device_); }
  void set_dtype(at::ScalarType t) const { at::autocast::set_autocast_dtype(device_, t); }
#else
  bool cuda() const { return device_ == c10::DeviceType::CUDA; }
  bool enabled() const { return cuda() ? at::autocast::is_enabled() : at::autocast::is_cpu_enabled(); }
  void set_enabled(bool on) const { cuda() ? at::autocast::set_enabled(on) : at::autocast::set_cpu_enabled(on); }
  at::ScalarType get_dtype() const {
    return cuda() ? at::autocast::get_autocast_gpu_dtype() : at::autocast::get_autocast_cpu_dtype();
  }
  void set_dtype(at::ScalarType t) const {
    cuda() ? at::autocast::set_autocast_gpu_dtype(t) : at::autocast::set_autocast_cpu_dtype(t);
  }
#endif
  c10::DeviceType device_;
  bool previous_enabled_ = false;
  bool previous_cache_ = true;
  at::ScalarType previous_dtype_ = at::kFloat;
};

// c10d. The concrete process groups (ProcessGroupGloo, ProcessGroupNCCL) derive from c10d::ProcessGroup in 1.13
// and from c10d::Backend in 2.x; both bases declare the collectives used here with the same signatures.
#if LIBTORCH_RESNET_TORCH_AT_LEAST(2, 0)
using C10dBackend = c10d::Backend;
#else
using C10dBackend = c10d::ProcessGroup;
#endif

// 2.4+ TCPStore defaults to a libuv server that Debian's 2.x build lacks (and whose uv_* symbols would meet
// Node's); 1.13 has no such option. The int/long pair picks the first overload only where the field exists.
template <class StoreOptions>
auto disable_libuv(StoreOptions& options, int) -> decltype(options.useLibUV = false, void()) {
  options.useLibUV = false;
}
template <class StoreOptions>
void disable_libuv(StoreOptions&, long) {}

// 2.x process groups want shutdown() before they are destroyed (NCCL warns, and may hang, otherwise).
template <class Group>
void shutdown(Group& group) {
  if constexpr (requires { group.shutdown(); }) group.shutdown();
}

}  // namespace libtorch_resnet::compat
