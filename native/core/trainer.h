// SPDX-License-Identifier: MIT
// The training job: the whole contract between a front end (the Node binding, tools/train_main) and the core.
#pragma once

#include <c10/core/Device.h>

#include <string>
#include <vector>

#include "options.h"
#include "progress.h"

namespace libtorch_resnet::core {

enum class Status { kCompleted, kCancelled };

struct EpochStats {
  int64_t epoch = 0;
  double train_loss = 0;  // mean over the epoch's training images
  double valid_accuracy = 0;  // fraction in [0, 1]
  double seconds = 0;  // training steps only, validation excluded
  double images_per_second = 0;
};

struct TrainResult {
  Status status = Status::kCompleted;
  std::vector<EpochStats> epochs;
  // Filled only when status is kCompleted.
  double test_accuracy = 0;
  std::vector<double> per_class_accuracy;
  // [true class][predicted class] counts over the test split.
  std::vector<std::vector<int64_t>> confusion_matrix;
  int64_t parameters = 0;
  std::string device;
  std::string libtorch_version;
  int threads = 0;
  int64_t train_size = 0;
  int64_t valid_size = 0;
  int64_t test_size = 0;
  double seconds = 0;
};

// Runs on the calling thread until done or until `stop` is requested (checked before every step).
// Bad data, devices or shapes throw (std::runtime_error, c10::Error); cancelling is an outcome, not an exception.
TrainResult train(const TrainOptions& options, const ProgressFn& on_progress, const StopToken& stop);

struct RuntimeInfo {
  std::string libtorch_version;
  bool cuda_available = false;
  int cuda_devices = 0;
  // What train() uses when TrainOptions::threads is 0.
  int default_threads = 1;
};

RuntimeInfo runtime_info();

// "auto" -> CUDA when available, else CPU. Throws with a hint when the device does not exist.
c10::Device resolve_device(const std::string& spec);

}  // namespace libtorch_resnet::core
