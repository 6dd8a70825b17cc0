// SPDX-License-Identifier: MIT
// Scoring a network on a split, and the two jobs that use a saved one: evaluate (the test split) and predict.
#pragma once

#include <torch/torch.h>

#include <optional>
#include <string>
#include <vector>

#include "cifar10_dataset.h"
#include "compute_mode.h"
#include "options.h"
#include "progress.h"
#include "resnet34.h"

namespace libtorch_resnet::core {

struct TestMetrics {
  double accuracy = 0;  // fraction in [0, 1]
  std::vector<double> per_class_accuracy;
  // [true class][predicted class] counts.
  std::vector<std::vector<int64_t>> confusion_matrix;
};

// Counts [true][predicted] over `data` in eval mode with gradients off, leaving the model in train mode.
// Returns nullopt when stopped (checked before every batch). With `mode`, forward runs in its precision (the
// training run's); without, in float32. With `flip_tta`, an image's class is that of the summed logits of it and
// its mirror image.
std::optional<torch::Tensor> confusion_counts(ResNet34& model, const Cifar10Dataset& data,
                                              const BatchTransform& transform, int64_t batch_size,
                                              const StopToken& stop, const ComputeMode* mode = nullptr,
                                              bool flip_tta = false);

// The batch size evaluation runs at for a run trained at `batch_size`: on CUDA at least 1024 images (256 above
// 64 px), since scoring keeps no activations for backward and small batches leave a GPU waiting on the host; on
// the CPU the run's own.
int64_t evaluation_batch_size(int64_t batch_size, int64_t image_size, const torch::Device& device);

double accuracy_of(const torch::Tensor& counts);
TestMetrics test_metrics(const torch::Tensor& counts);

// What the checkpoint says about the network it holds.
struct CheckpointSummary {
  TrainOptions options;
  int64_t epochs_done = 0;
  int64_t step = 0;
  std::string libtorch_version;
  bool weights_only = false;  // a weights file: options holds only what it describes (preset, image size, ...)
  std::vector<std::string> classes;
};

struct Checkpoint;
CheckpointSummary summary_of(const Checkpoint& checkpoint);

struct EvalResult {
  Status status = Status::kCompleted;
  TestMetrics test;  // filled when completed
  int64_t test_size = 0;
  std::string device;
  std::string libtorch_version;
  int threads = 0;
  double seconds = 0;
  bool flip_tta = false;  // whether mirror images were scored too
  std::string precision;  // the arithmetic it was scored in (never "auto")
  std::string checkpoint_path;  // the file scored, as the options named it
  CheckpointSummary checkpoint;
};

EvalResult evaluate(const EvalOptions& options, const ProgressFn& on_progress, const StopToken& stop);

// An RGB picture, rows of width * 3 bytes.
struct Image {
  int64_t height = 0;
  int64_t width = 0;
  std::vector<uint8_t> rgb;
};

struct PredictResult {
  // One row of 10 class probabilities per image, in the order given.
  std::vector<std::vector<double>> probabilities;
  std::string device;
  bool flip_tta = false;
  CheckpointSummary checkpoint;
};

PredictResult predict(const PredictOptions& options, const std::vector<Image>& images);

}  // namespace libtorch_resnet::core
