// SPDX-License-Identifier: MIT
// CIFAR-10 in its official binary layout, held whole as uint8 tensors, and the batch transform that turns
// records into network input with tensor ops on the training device (no per-image loop, no host round trip).
#pragma once

#include <torch/torch.h>

#include <string>

#include "normalization.h"

namespace libtorch_resnet::core {

enum class Split { kTrain, kTest };

inline constexpr int64_t kNumClasses = 10;
inline constexpr int64_t kImageSide = 32;
inline constexpr int64_t kRecordBytes = 1 + 3 * kImageSide * kImageSide;  // label byte, then R, G, B planes
// Label i is kClassNames[i].
inline constexpr const char* kClassNames[kNumClasses] = {"airplane", "automobile", "bird", "cat",  "deer",
                                                         "dog",      "frog",       "horse", "ship", "truck"};
// The article's transforms.Normalize values, per RGB channel of pixels scaled to [0, 1].
inline constexpr float kMean[3] = {0.4914f, 0.4822f, 0.4465f};
inline constexpr float kStd[3] = {0.2023f, 0.1994f, 0.2010f};

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

// Any RGB picture, uint8 [H, W, 3], as a CIFAR-10 record would hold it: uint8 [3, 32, 32]. The centre square is
// kept, then averaged down (or interpolated up) to 32x32 and rounded, so it meets the network the way training
// data did: through BatchTransform.
torch::Tensor to_cifar_image(const torch::Tensor& rgb);

// uint8 [B,3,32,32] -> float [B,3,S,S]: scale to [0,1], bilinear resize (as PIL's upscaling in the article's
// transforms.Resize), normalize with `normalization` (the preset's: normalization_of in resnet34.h); laid out
// channels-last when asked, to match channels-last weights.
class BatchTransform {
 public:
  BatchTransform(int64_t image_size, const torch::Device& device, bool channels_last,
                 const Normalization& normalization);
  torch::Tensor operator()(const torch::Tensor& images) const;

 private:
  int64_t image_size_;
  bool channels_last_;
  torch::Tensor mean_;
  torch::Tensor inv_std_;
};

}  // namespace libtorch_resnet::core
