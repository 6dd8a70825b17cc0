// SPDX-License-Identifier: MIT
// Checkpoints: everything needed to continue a run exactly, in one file that LibTorch 1.13 and 2.x both read
// and that Python opens with torch.load. The file is a pickled dict (torch::pickle_save, the format of
// torch.save): "model" is a state dict with the article's key names, "optimizer" has the shape of
// torch.optim.SGD.state_dict(), so a PyTorch user can pick the run up as well.
#pragma once

#include <torch/torch.h>

#include <string>
#include <vector>

#include "options.h"
#include "resnet34.h"

namespace libtorch_resnet::core {

struct EpochStats {
  int64_t epoch = 0;
  double train_loss = 0;  // mean over the epoch's training images
  double valid_accuracy = 0;  // fraction in [0, 1]
  double seconds = 0;  // training steps only, validation excluded
  double images_per_second = 0;
  double valid_seconds = 0;  // the epoch's validation pass (0 in checkpoints written before it was recorded)
};

// Where a run stands between two steps.
struct RunState {
  int64_t epochs_done = 0;
  // Steps of epoch epochs_done + 1 already taken; 0 at an epoch boundary.
  int64_t step = 0;
  // The shuffle generator's state at the start of epoch epochs_done + 1, so its permutation can be redrawn.
  torch::Tensor shuffle_rng;
  // LibTorch's default CPU generator (weight initialisation); restored so later draws continue the same stream.
  torch::Tensor torch_rng;
  // Sums over the steps already taken in the unfinished epoch.
  double partial_loss_sum = 0;
  double partial_correct = 0;
  double partial_seconds = 0;
  double best_valid_accuracy = -1;
  std::vector<EpochStats> history;
};

struct Checkpoint {
  std::string path;
  // The options the run was started with (data_dir as it was then; checkpoint_dir and resume_from empty).
  TrainOptions options;
  std::string libtorch_version;
  RunState state;
  // Parameters then buffers, as model.state_dict() names them.
  c10::Dict<std::string, torch::Tensor> model;
  // Momentum buffer of parameter i, where SGD has made one.
  c10::Dict<int64_t, torch::Tensor> momentum;
};

// Writes the file atomically: a temporary file beside it, fsync, rename, fsync of the folder. A crash leaves
// the previous file whole.
void save_checkpoint(const std::string& path, const TrainOptions& options, ResNet34& model,
                     torch::optim::SGD& optimizer, const RunState& state);

// Throws std::runtime_error naming the file when it is missing, damaged, or not a checkpoint of this package.
Checkpoint load_checkpoint(const std::string& path);

// Copies the checkpoint's weights (and momentum, when `optimizer` is given) into a network of its preset.
void restore(const Checkpoint& checkpoint, ResNet34& model, torch::optim::SGD* optimizer);

// The model's state dict alone, for torch.load + load_state_dict in Python. Written atomically.
void save_weights(const std::string& path, ResNet34& model);

// Gives `from` a second name, replacing `to` atomically (a hard link, else a copy).
void publish_copy(const std::string& from, const std::string& to);

// Deletes the half-written temporary files in `folder` that a killed process left behind (named
// <file>.tmp-<pid>-<n>, from a pid that no longer runs). Returns how many were removed.
int remove_stale_temporaries(const std::string& folder);

}  // namespace libtorch_resnet::core
