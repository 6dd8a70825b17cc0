// SPDX-License-Identifier: MIT
// What a captured training step needs from CUDA itself: graphs, a side stream, events. This header needs no CUDA
// headers, so every build includes it; cuda_graph.cpp is real where LIBTORCH_RESNET_CUDA is defined (CMakeLists.txt
// sets it for a CUDA LibTorch 2.4 or newer) and a stub elsewhere, whose graphs_available() says false.
// `npm run check:cuda` compiles the real side on a machine without a GPU.
#pragma once

#include <functional>
#include <memory>

namespace libtorch_resnet::core::cuda {

// Whether this build can capture CUDA graphs (a GPU must still be there to use them).
bool graphs_available();

// Work recorded once and replayed: every kernel of the work in one launch. Capture records without running, so
// the first replay is the captured call's real run. The work must not synchronise with the host, and the tensors it
// reads must be the same ones at every replay (fill them in place before replay()).
class Graph {
 public:
  Graph();
  ~Graph();
  Graph(const Graph&) = delete;
  Graph& operator=(const Graph&) = delete;

  // Runs `work` for real on a side stream, ordered after everything queued on the current stream and before
  // anything queued after it: PyTorch's recipe for the steps before a capture, so that lazy set-up (cuDNN autotuning,
  // workspaces, the allocator's pools) happens outside the graph.
  void warm_up(const std::function<void()>& work);
  // Records `work` into the graph (on a side stream, allocating from the graph's own memory pool).
  void capture(const std::function<void()>& work);
  // Launches the graph on the current stream.
  void replay();
  bool captured() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// GPU time between start() and stop() on the current stream, from CUDA events.
class StreamTimer {
 public:
  StreamTimer();
  ~StreamTimer();
  StreamTimer(const StreamTimer&) = delete;
  StreamTimer& operator=(const StreamTimer&) = delete;
  void start();
  void stop();
  // Waits for stop() to be reached.
  double seconds();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Keeps the current stream busy for about `seconds`, so that what the host queues meanwhile waits and then runs
// back to back: timed with StreamTimer, that is the GPU's own time for the work, free of the host's gaps.
void hold_stream(double seconds);

}  // namespace libtorch_resnet::core::cuda
