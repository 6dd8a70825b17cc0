// SPDX-License-Identifier: MIT
// The per-channel mean and standard deviation that network input is normalised with (pixels scaled to [0, 1],
// RGB order). A model is trained and scored with one of them; checkpoints and exported models record which.
#pragma once

#include <array>

namespace libtorch_resnet::core {

struct Normalization {
  std::array<float, 3> mean;
  std::array<float, 3> std;
};

// The article's transforms.Normalize values for CIFAR-10.
inline constexpr Normalization kCifarNormalization{{0.4914f, 0.4822f, 0.4465f}, {0.2023f, 0.1994f, 0.2010f}};

// ImageNet's, which torchvision's pretrained weights expect and which suits photos in general.
inline constexpr Normalization kImageNetNormalization{{0.485f, 0.456f, 0.406f}, {0.229f, 0.224f, 0.225f}};

}  // namespace libtorch_resnet::core
