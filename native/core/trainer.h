// SPDX-License-Identifier: MIT
// The training job: the whole contract between a front end (the Node binding, tools/train_main) and the core.
#pragma once

#include <string>
#include <vector>

#include "checkpoint.h"
#include "evaluation.h"
#include "options.h"
#include "progress.h"
#include "runtime.h"

namespace libtorch_resnet::core {

struct TrainResult {
  Status status = Status::kCompleted;
  // Every epoch of the run, those before a resume included.
  std::vector<EpochStats> epochs;
  // Filled only when status is kCompleted.
  TestMetrics test;
  // Label i's name: CIFAR-10's classes, or an image folder's class folders.
  std::vector<std::string> classes;
  int64_t parameters = 0;
  std::string device;
  std::string libtorch_version;
  int threads = 0;
  // The layout and the arithmetic the run used once kAuto was resolved for the device.
  bool channels_last = false;
  std::string precision;
  int64_t train_size = 0;
  int64_t valid_size = 0;
  int64_t test_size = 0;
  // This process's share of the run (a resumed run counts from the resume), and of it the final test's.
  double seconds = 0;
  double test_seconds = 0;
  // Whether the training steps were captured in a CUDA graph and replayed (cudaGraph).
  bool cuda_graph = false;
  // Files written into checkpoint_dir (empty when none): the latest checkpoint, the best by validation
  // accuracy, and the final weights for Python.
  std::string last_checkpoint;
  std::string best_checkpoint;
  std::string weights;
  // A distributed run's size, this process's rank and the c10d backend ("" when not distributed).
  int world_size = 1;
  int rank = 0;
  std::string backend;
  // Where the run started from: the checkpoint ("" unless resumed), epochs already done and steps taken of the next.
  std::string resumed_from;
  int64_t resumed_epoch = 0;
  int64_t resumed_step = 0;
  // Fine-tuning: the file the weights started from ("" when none, or resumed), and whether its classifier was
  // replaced by a new seeded one (it had another class count).
  std::string init_from;
  bool init_head_replaced = false;
};

// Runs on the calling thread until done or until `stop` is requested (checked before every step); when
// stopped and checkpoint_dir is set, writes a checkpoint of the exact position first, so resume_from continues
// as if never stopped. Bad data, devices, shapes or checkpoints throw (std::runtime_error, c10::Error);
// cancelling is an outcome, not an exception.
TrainResult train(const TrainOptions& options, const ProgressFn& on_progress, const StopToken& stop);

}  // namespace libtorch_resnet::core
