// SPDX-License-Identifier: MIT
// Everything a training run is told, as plain data; lib/config.ts has already validated it.
#pragma once

#include <cstdint>
#include <string>

namespace libtorch_resnet::core {

// Which network shape to build: the article's 224 px ImageNet-style stem, or a 32 px CIFAR stem.
enum class Preset { kArticle, kCifar };

inline const char* preset_name(Preset preset) { return preset == Preset::kArticle ? "article" : "cifar"; }

struct TrainOptions {
  // Number of passes over the training split.
  int64_t epochs = 20;
  // SGD learning rate.
  double lr = 0.01;
  // Images per training and evaluation step.
  int64_t batch_size = 64;
  // SGD momentum.
  double momentum = 0.9;
  // L2 penalty applied by SGD to every parameter.
  double weight_decay = 0.001;
  // Fraction of the training records held out for validation.
  double valid_split = 0.1;
  // Seeds weight initialisation, the train/validation split and the epoch shuffles.
  uint64_t seed = 42;
  // Network shape.
  Preset preset = Preset::kArticle;
  // Side length images are resized to before they enter the network.
  int64_t image_size = 224;
  // "auto", "cpu", "cuda" or "cuda:N".
  std::string device = "auto";
  // Intra-op CPU threads; 0 means every core (or OMP_NUM_THREADS when set).
  int threads = 0;
  // Folder holding the CIFAR-10 binary batches (data_batch_1.bin ... test_batch.bin).
  std::string data_dir;
  // Use only the first N training / test records; 0 means all.
  int64_t limit_train = 0;
  int64_t limit_test = 0;
  // Report a batchEnd event every this many training steps (and on the last step of an epoch).
  int64_t log_every = 10;
  // Folder for last.pt (after every epoch and when stopped), best.pt and, at the end, weights.pt; empty: none.
  std::string checkpoint_dir;
  // A checkpoint written by train() to continue from. The caller merges the checkpoint's options into these
  // (lib/config.ts); train() refuses ones that would build another network.
  std::string resume_from;
};

// Scoring a checkpoint on the test split.
struct EvalOptions {
  std::string checkpoint;
  std::string data_dir;
  int64_t limit_test = 0;  // 0: all records
  int64_t batch_size = 64;
  std::string device = "auto";
  int threads = 0;
};

// Classifying images with a checkpoint.
struct PredictOptions {
  std::string checkpoint;
  std::string device = "auto";
  int threads = 0;
};

}  // namespace libtorch_resnet::core
