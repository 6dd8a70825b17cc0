// SPDX-License-Identifier: MIT
// The article's ResNet-34, module for module, so that its state-dict keys are the article's
// (conv1.0.weight, layer0.0.conv1.0.weight, layer1.0.downsample.0.weight, fc.bias, ...).
#pragma once

#include <torch/torch.h>

#include <string>
#include <utility>
#include <vector>

#include "normalization.h"
#include "options.h"

namespace libtorch_resnet::core {

// conv3x3(stride)+BN+ReLU, conv3x3+BN, plus the input (or its 1x1-conv projection), then ReLU.
// Convolutions keep their bias, as the article's do.
class ResidualBlockImpl : public torch::nn::Module {
 public:
  ResidualBlockImpl(int64_t in_channels, int64_t out_channels, int64_t stride = 1,
                    torch::nn::Sequential downsample = nullptr);
  torch::Tensor forward(const torch::Tensor& x);

 private:
  torch::nn::Sequential conv1_{nullptr};
  torch::nn::Sequential conv2_{nullptr};
  torch::nn::Sequential downsample_{nullptr};
  torch::nn::ReLU relu_{nullptr};
};
TORCH_MODULE(ResidualBlock);

// torchvision's BasicBlock, with its names (conv1, bn1, conv2, bn2, downsample.0/.1) and no convolution biases.
class BasicBlockImpl : public torch::nn::Module {
 public:
  BasicBlockImpl(int64_t in_channels, int64_t out_channels, int64_t stride = 1,
                 torch::nn::Sequential downsample = nullptr);
  torch::Tensor forward(const torch::Tensor& x);

 private:
  torch::nn::Conv2d conv1_{nullptr}, conv2_{nullptr};
  torch::nn::BatchNorm2d bn1_{nullptr}, bn2_{nullptr};
  torch::nn::Sequential downsample_{nullptr};
};
TORCH_MODULE(BasicBlock);

// Stem, four stages of [3, 4, 6, 3] blocks with 64/128/256/512 planes, pooling, a linear classifier.
// kArticle: 7x7/2 conv stem, 3x3/2 max pool, AvgPool2d(7): needs 193..224 px input (a 7x7 final map).
// kCifar: 3x3/1 conv stem, no max pool, global average pooling: any input of at least 8 px.
// kTorchvision: torchvision.models.resnet34 module for module (conv1, bn1, layer1..layer4 of BasicBlocks, fc),
// the article's stem without biases and AdaptiveAvgPool2d(1): any input of at least 32 px (a 1x1 final map).
class ResNet34Impl : public torch::nn::Module {
 public:
  explicit ResNet34Impl(Preset preset, int64_t num_classes = 10);
  torch::Tensor forward(torch::Tensor x);

  // Freeze::kBackbone: every parameter but the classifier's stops requiring gradients, and train() keeps the
  // backbone in eval mode (BatchNorm normalises with, and no longer updates, its running statistics).
  void set_freeze(Freeze freeze);
  // The parameters an optimizer should hold: all of them, or the classifier's when the backbone is frozen.
  std::vector<torch::Tensor> trainable_parameters() const;
  void train(bool on = true) override;

 private:
  torch::nn::Sequential make_layer(int64_t planes, int64_t blocks, int64_t stride);

  bool torchvision_ = false;
  Freeze freeze_ = Freeze::kNone;
  int64_t inplanes_ = 64;
  torch::nn::Sequential conv1_{nullptr};
  // The torchvision stem's own modules, where the other presets have conv1_.
  torch::nn::Conv2d stem_conv_{nullptr};
  torch::nn::BatchNorm2d stem_bn_{nullptr};
  torch::nn::AnyModule maxpool_;
  torch::nn::Sequential layer0_{nullptr}, layer1_{nullptr}, layer2_{nullptr}, layer3_{nullptr};
  torch::nn::AnyModule avgpool_;
  torch::nn::Linear fc_{nullptr};
};
TORCH_MODULE(ResNet34);

// The normalisation a run of `preset` gives data that is normalised with `data` (the data set's own: DatasetInfo):
// torchvision's network is ImageNet's, whatever the data, as its pretrained weights expect; the other presets take
// the data's. Checkpoints record the result, and scoring reads it from them.
inline const Normalization& normalization_for(Preset preset, const Normalization& data) {
  return preset == Preset::kTorchvision ? kImageNetNormalization : data;
}

// The classifier's key prefix ("fc."), which fine-tuning replaces when the class count differs.
inline constexpr const char* kClassifierPrefix = "fc.";

int64_t count_parameters(const torch::nn::Module& module);

// Builds the network on the CPU to count it: 21,298,314 for kArticle.
int64_t count_parameters(Preset preset);

// Multiply-adds of one forward pass of one image, times 2: convolutions (bias included) and the classifier;
// batch norm, ReLU, pooling and the residual sums (under 1% together) are left out, as FLOP counts for ResNets
// usually do. About 7.3e9 for kArticle at 224 px. Training costs about 3x this (forward, then two backward
// products per layer): the figure model FLOP utilisation is computed from. (The "3.6 GFLOPs" often quoted for
// ResNet-34 counts multiply-adds.)
double forward_flops(Preset preset, int64_t image_size, int64_t num_classes = 10);

// The state-dict keys (parameters, then buffers) with their shapes, as PyTorch's model.state_dict() names them.
std::vector<std::pair<std::string, std::vector<int64_t>>> state_dict_shapes(Preset preset, int64_t num_classes = 10);

}  // namespace libtorch_resnet::core
