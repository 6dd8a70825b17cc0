// SPDX-License-Identifier: MIT
#include "cuda_graph.h"

#include <stdexcept>

#if LIBTORCH_RESNET_CUDA
// Events come from the CUDA runtime itself: ATen's CUDAEvent.h would pull in CUDAContext.h and with it the cuBLAS,
// cuSPARSE and cuSOLVER headers, which a CUDA LibTorch does not always have beside it.
#include <ATen/cuda/CUDAGraph.h>
#include <ATen/cuda/Sleep.h>
#include <c10/cuda/CUDAException.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>
#include <cuda_runtime_api.h>
#include <torch/cuda.h>

#endif

namespace libtorch_resnet::core::cuda {

#if LIBTORCH_RESNET_CUDA

bool graphs_available() { return true; }

namespace {

class Event {
 public:
  explicit Event(unsigned flags) { C10_CUDA_CHECK(cudaEventCreateWithFlags(&event_, flags)); }
  ~Event() { cudaEventDestroy(event_); }
  Event(const Event&) = delete;
  Event& operator=(const Event&) = delete;
  void record(const c10::cuda::CUDAStream& stream) { C10_CUDA_CHECK(cudaEventRecord(event_, stream.stream())); }
  void block(const c10::cuda::CUDAStream& stream) { C10_CUDA_CHECK(cudaStreamWaitEvent(stream.stream(), event_, 0)); }
  void synchronize() { C10_CUDA_CHECK(cudaEventSynchronize(event_)); }
  // Milliseconds from `earlier` to this one.
  float since(const Event& earlier) const {
    float ms = 0;
    C10_CUDA_CHECK(cudaEventElapsedTime(&ms, earlier.event_, event_));
    return ms;
  }

 private:
  cudaEvent_t event_ = nullptr;
};

// Orders everything queued on `from` so far before anything queued on `to` from now on.
void wait_for(const c10::cuda::CUDAStream& from, const c10::cuda::CUDAStream& to) {
  Event event(cudaEventDisableTiming);
  event.record(from);
  event.block(to);
}

}  // namespace

struct Graph::Impl {
  at::cuda::CUDAGraph graph;
  bool captured = false;
};

Graph::Graph() : impl_(std::make_unique<Impl>()) {}
Graph::~Graph() = default;

void Graph::warm_up(const std::function<void()>& work) {
  const auto current = c10::cuda::getCurrentCUDAStream();
  const auto side = c10::cuda::getStreamFromPool();
  wait_for(current, side);
  {
    c10::cuda::CUDAStreamGuard on_side(side);
    work();
  }
  wait_for(side, current);
  // Tensors made on the side stream go back to the allocator as the side stream's; waiting here keeps the current
  // stream's later work from meeting a block the side stream reuses. A few warm-up steps a run: the wait is cheap.
  torch::cuda::synchronize(current.device_index());
}

void Graph::capture(const std::function<void()>& work) {
  if (impl_->captured) throw std::logic_error("cuda::Graph::capture: already captured");
  const auto current = c10::cuda::getCurrentCUDAStream();
  // As torch.cuda.graph does: nothing may be in flight that the capture could depend on.
  torch::cuda::synchronize(current.device_index());
  const auto side = c10::cuda::getStreamFromPool();
  {
    c10::cuda::CUDAStreamGuard on_side(side);
    impl_->graph.capture_begin();
    try {
      work();
    } catch (...) {
      // Leave capture mode so that the error, not a broken stream, is what the caller sees.
      try {
        impl_->graph.capture_end();
      } catch (...) {
      }
      throw;
    }
    impl_->graph.capture_end();
  }
  impl_->captured = true;
}

void Graph::replay() {
  if (!impl_->captured) throw std::logic_error("cuda::Graph::replay: nothing captured");
  impl_->graph.replay();
}

bool Graph::captured() const { return impl_->captured; }

struct StreamTimer::Impl {
  Event begin{cudaEventDefault};
  Event end{cudaEventDefault};
};

StreamTimer::StreamTimer() : impl_(std::make_unique<Impl>()) {}
StreamTimer::~StreamTimer() = default;
void StreamTimer::start() { impl_->begin.record(c10::cuda::getCurrentCUDAStream()); }
void StreamTimer::stop() { impl_->end.record(c10::cuda::getCurrentCUDAStream()); }

double StreamTimer::seconds() {
  impl_->end.synchronize();
  return impl_->end.since(impl_->begin) / 1000.0;
}

void hold_stream(double seconds) {
  // at::cuda::sleep spins for a number of clock cycles; how many make a second is measured once, on this GPU,
  // rather than read from the device's properties (CUDA 13 dropped cudaDeviceProp::clockRate).
  static const double cycles_per_second = [] {
    constexpr int64_t kProbe = 20'000'000;
    StreamTimer timer;
    timer.start();
    at::cuda::sleep(kProbe);
    timer.stop();
    return static_cast<double>(kProbe) / timer.seconds();
  }();
  at::cuda::sleep(static_cast<int64_t>(seconds * cycles_per_second));
}

#else

bool graphs_available() { return false; }

namespace {

[[noreturn]] void unavailable() {
  throw std::logic_error("CUDA graphs are not in this build (it was made without LIBTORCH_RESNET_CUDA)");
}

}  // namespace

struct Graph::Impl {};
Graph::Graph() = default;
Graph::~Graph() = default;
void Graph::warm_up(const std::function<void()>&) { unavailable(); }
void Graph::capture(const std::function<void()>&) { unavailable(); }
void Graph::replay() { unavailable(); }
bool Graph::captured() const { return false; }

struct StreamTimer::Impl {};
StreamTimer::StreamTimer() = default;
StreamTimer::~StreamTimer() = default;
void StreamTimer::start() { unavailable(); }
void StreamTimer::stop() { unavailable(); }
double StreamTimer::seconds() { unavailable(); }
void hold_stream(double) { unavailable(); }

#endif

}  // namespace libtorch_resnet::core::cuda
