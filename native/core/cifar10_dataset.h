// SPDX-License-Identifier: MIT
// CIFAR-10 in its official binary layout, held whole as uint8 tensors, and the batch transform that turns
// records into network input with tensor ops on the training device (no per-image loop, no host round trip).
#pragma once

#include <torch/torch.h>

#include <string>
#include <vector>

#include "normalization.h"

namespace libtorch_resnet::core {

enum class Split { kTrain, kTest };

inline constexpr int64_t kNumClasses = 10;
inline constexpr int64_t kImageSide = 32;
inline constexpr int64_t kRecordBytes = 1 + 3 * kImageSide * kImageSide;  // label byte, then R, G, B planes
// Label i is kClassNames[i].
inline constexpr const char* kClassNames[kNumClasses] = {"airplane", "automobile", "bird", "cat",  "deer",
                                                         "dog",      "frog",       "horse", "ship", "truck"};

// What a data set tells the network and the files written of it: label i's name, the side its records are stored
// at, the normalisation its pixels get. CIFAR-10's is cifar10_info(); image folders bring their own
// (folder_cache.h), and checkpoints record it.
struct DatasetInfo {
  std::vector<std::string> classes;
  int64_t record_side = kImageSide;
  Normalization normalization = kCifarNormalization;
  int64_t num_classes() const { return static_cast<int64_t>(classes.size()); }
};

DatasetInfo cifar10_info();

class Cifar10Dataset {
 public:
  // Reads data_batch_1..5.bin (train) or test_batch.bin (test) from `dir`, or from `dir`/cifar-10-batches-bin.
  // `limit` > 0 keeps only the first `limit` records. Throws std::runtime_error naming the file on bad input.
  static Cifar10Dataset load(const std::string& dir, Split split, int64_t limit = 0);

  Cifar10Dataset(torch::Tensor images, torch::Tensor labels);

  // uint8 [N, 3, 32, 32].
  const torch::Tensor& images() const { return images_; }
  // int64 [N], values 0..9.
  const torch::Tensor& labels() const { return labels_; }
  int64_t size() const { return labels_.size(0); }

  Cifar10Dataset subset(const torch::Tensor& indices) const;
  Cifar10Dataset to(const torch::Device& device) const;

 private:
  torch::Tensor images_;
  torch::Tensor labels_;
};

// Any RGB picture, uint8 [H, W, 3], as a record of side `side` would hold it: uint8 [3, side, side]. The centre
// square is kept, then averaged down (or interpolated up) to side x side and rounded, so it meets the network the
// way training data did: through BatchTransform.
torch::Tensor to_cifar_image(const torch::Tensor& rgb, int64_t side = kImageSide);

// uint8 [B,3,R,R] -> float [B,3,S,S]: scale to [0,1], bilinear resize (as PIL's upscaling in the article's
// transforms.Resize; none when R is S), normalize with the data set's mean and std (the article's CIFAR-10 ones
// by default); laid out channels-last when asked, to match channels-last weights.
class BatchTransform {
 public:
  BatchTransform(int64_t image_size, const torch::Device& device, bool channels_last = false,
                 const Normalization& normalization = kCifarNormalization, int64_t record_side = kImageSide);
  torch::Tensor operator()(const torch::Tensor& images) const;

 private:
  int64_t image_size_;
  int64_t record_side_;
  bool channels_last_;
  torch::Tensor mean_;
  torch::Tensor inv_std_;
};

}  // namespace libtorch_resnet::core
