// SPDX-License-Identifier: MIT
// Checkpoints: everything needed to continue a run exactly, in one file that LibTorch 1.13 and 2.x both read
// and that Python opens with torch.load (weights_only=True too). The file is a pickled dict in torch.save's format
// (torch_file.h): "model" is a state dict with the article's key names, "optimizer" has the shape of
// torch.optim.SGD.state_dict(), so a PyTorch user can pick the run up as well; "tensor_checksum" covers every
// tensor in it (model, momentum buffers, generator states, in that order), so bytes that changed after the write
// are an error rather than another model.
//
// Weights files (weights.pt): the model's state dict alone, as model.load_state_dict() takes it in Python, and
// beside it an extra record the state dict does not show (archive/libtorch_resnet.pkl, a plain pickle) that says
// what the weights are: the preset, image size, class names, normalisation, the arithmetic they were trained in,
// and the checksum of the state dict's tensors. evaluate() and predict() read them as they read checkpoints.
#pragma once

#include <torch/torch.h>

#include <string>
#include <vector>

#include "cifar10_dataset.h"
#include "options.h"
#include "resnet34.h"

namespace libtorch_resnet::core {

// The extra record of a weights file that describes it (torch_file.h): what tells one from a bare state dict.
inline constexpr const char* kWeightsRecord = "libtorch_resnet.pkl";

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
  // A weights file has no optimizer state and no position within a run: it is scored, never resumed.
  enum class Kind { kCheckpoint, kWeights };
  Kind kind = Kind::kCheckpoint;
  std::string path;
  // The options the run was started with (data_dir as it was then; checkpoint_dir and resume_from empty).
  TrainOptions options;
  std::string libtorch_version;
  RunState state;
  // Parameters then buffers, as model.state_dict() names them.
  c10::Dict<std::string, torch::Tensor> model;
  // Momentum buffer of parameter i, where SGD has made one.
  c10::Dict<int64_t, torch::Tensor> momentum;
  // Label i's name.
  std::vector<std::string> classes;
  // What the run's data set was: the side its records were stored at and the normalisation of its pixels
  // (CIFAR-10's for files written before image folders).
  int64_t record_side = kImageSide;
  Normalization normalization = kCifarNormalization;
};

// Writes the file atomically: a temporary file beside it, fsync, rename, fsync of the folder. A crash leaves
// the previous file whole.
void save_checkpoint(const std::string& path, const TrainOptions& options, ResNet34& model,
                     torch::optim::SGD& optimizer, const RunState& state, const DatasetInfo& data = cifar10_info());

// A checkpoint or a weights file. Throws FileError when it cannot be read, CheckpointError naming the file when it
// is damaged (its tensors fail their checksum included) or not one of this package's.
Checkpoint load_checkpoint(const std::string& path);

// Copies the checkpoint's weights (and momentum, when `optimizer` is given) into a network of its preset.
void restore(const Checkpoint& checkpoint, ResNet34& model, torch::optim::SGD* optimizer);

// The model's state dict, for torch.load + load_state_dict in Python, described by `options` (the run's) and the
// number of epochs it was trained. Written atomically.
void save_weights(const std::string& path, ResNet34& model, const TrainOptions& options, int64_t epochs_trained,
                  const DatasetInfo& data = cifar10_info());

// Gives `from` a second name, replacing `to` atomically (a hard link, else a copy).
void publish_copy(const std::string& from, const std::string& to);

// Deletes the half-written temporary files in `folder` that a killed process left behind (named
// <file>.tmp-<pid>-<n>, from a pid that no longer runs). Returns how many were removed.
int remove_stale_temporaries(const std::string& folder);

}  // namespace libtorch_resnet::core
