// SPDX-License-Identifier: MIT
#include "resnet34.h"

namespace libtorch_resnet::core {

namespace nn = torch::nn;

namespace {

nn::Sequential conv_bn(int64_t in_channels, int64_t out_channels, int64_t kernel, int64_t stride, int64_t padding,
                       bool relu) {
  nn::Sequential seq(
      nn::Conv2d(nn::Conv2dOptions(in_channels, out_channels, kernel).stride(stride).padding(padding).bias(true)),
      nn::BatchNorm2d(out_channels));
  if (relu) seq->push_back(nn::ReLU());
  return seq;
}

nn::Conv2d conv_no_bias(int64_t in_channels, int64_t out_channels, int64_t kernel, int64_t stride) {
  return nn::Conv2d(nn::Conv2dOptions(in_channels, out_channels, kernel).stride(stride).padding(kernel / 2).bias(false));
}

}  // namespace

ResidualBlockImpl::ResidualBlockImpl(int64_t in_channels, int64_t out_channels, int64_t stride,
                                     nn::Sequential downsample)
    : conv1_(register_module("conv1", conv_bn(in_channels, out_channels, 3, stride, 1, true))),
      conv2_(register_module("conv2", conv_bn(out_channels, out_channels, 3, 1, 1, false))),
      relu_(register_module("relu", nn::ReLU())) {
  if (downsample) downsample_ = register_module("downsample", downsample);
}

torch::Tensor ResidualBlockImpl::forward(const torch::Tensor& x) {
  torch::Tensor out = conv2_->forward(conv1_->forward(x));
  torch::Tensor residual = downsample_ ? downsample_->forward(x) : x;
  return relu_->forward(out + residual);
}

// In the body, not the initialiser list: registration order is state_dict() order, torchvision's conv1, bn1,
// conv2, bn2, downsample.
BasicBlockImpl::BasicBlockImpl(int64_t in_channels, int64_t out_channels, int64_t stride, nn::Sequential downsample) {
  conv1_ = register_module("conv1", conv_no_bias(in_channels, out_channels, 3, stride));
  bn1_ = register_module("bn1", nn::BatchNorm2d(out_channels));
  conv2_ = register_module("conv2", conv_no_bias(out_channels, out_channels, 3, 1));
  bn2_ = register_module("bn2", nn::BatchNorm2d(out_channels));
  if (downsample) downsample_ = register_module("downsample", downsample);
}

torch::Tensor BasicBlockImpl::forward(const torch::Tensor& x) {
  torch::Tensor out = torch::relu(bn1_->forward(conv1_->forward(x)));
  out = bn2_->forward(conv2_->forward(out));
  return torch::relu(out + (downsample_ ? downsample_->forward(x) : x));
}

ResNet34Impl::ResNet34Impl(Preset preset, int64_t num_classes) : torchvision_(preset == Preset::kTorchvision) {
  const bool article = preset == Preset::kArticle;
  // Registration order is state_dict() order: torchvision's is conv1, bn1, layer1..layer4, fc.
  if (torchvision_) {
    stem_conv_ = register_module("conv1", conv_no_bias(3, 64, 7, 2));
    stem_bn_ = register_module("bn1", nn::BatchNorm2d(64));
  } else {
    conv1_ = register_module("conv1", article ? conv_bn(3, 64, 7, 2, 3, true) : conv_bn(3, 64, 3, 1, 1, true));
  }
  maxpool_ = article || torchvision_ ? nn::AnyModule(nn::MaxPool2d(nn::MaxPool2dOptions(3).stride(2).padding(1)))
                                     : nn::AnyModule(nn::Identity());
  register_module("maxpool", maxpool_.ptr());
  // torchvision counts its stages from 1, the article from 0.
  const int first = torchvision_ ? 1 : 0;
  layer0_ = register_module("layer" + std::to_string(first), make_layer(64, 3, 1));
  layer1_ = register_module("layer" + std::to_string(first + 1), make_layer(128, 4, 2));
  layer2_ = register_module("layer" + std::to_string(first + 2), make_layer(256, 6, 2));
  layer3_ = register_module("layer" + std::to_string(first + 3), make_layer(512, 3, 2));
  avgpool_ = article ? nn::AnyModule(nn::AvgPool2d(nn::AvgPool2dOptions(7).stride(1)))
                     : nn::AnyModule(nn::AdaptiveAvgPool2d(1));
  register_module("avgpool", avgpool_.ptr());
  fc_ = register_module("fc", nn::Linear(512, num_classes));
}

nn::Sequential ResNet34Impl::make_layer(int64_t planes, int64_t blocks, int64_t stride) {
  const bool project = stride != 1 || inplanes_ != planes;
  nn::Sequential layer;
  if (torchvision_) {
    nn::Sequential downsample{nullptr};
    if (project) downsample = nn::Sequential(conv_no_bias(inplanes_, planes, 1, stride), nn::BatchNorm2d(planes));
    layer->push_back(BasicBlock(inplanes_, planes, stride, downsample));
    for (int64_t i = 1; i < blocks; ++i) layer->push_back(BasicBlock(planes, planes));
  } else {
    nn::Sequential downsample{nullptr};
    if (project) downsample = conv_bn(inplanes_, planes, 1, stride, 0, false);
    layer->push_back(ResidualBlock(inplanes_, planes, stride, downsample));
    for (int64_t i = 1; i < blocks; ++i) layer->push_back(ResidualBlock(planes, planes));
  }
  inplanes_ = planes;
  return layer;
}

torch::Tensor ResNet34Impl::forward(torch::Tensor x) {
  x = torchvision_ ? torch::relu(stem_bn_->forward(stem_conv_->forward(x))) : conv1_->forward(x);
  x = maxpool_.forward(x);
  x = layer3_->forward(layer2_->forward(layer1_->forward(layer0_->forward(x))));
  x = avgpool_.forward(x);
  return fc_->forward(x.view({x.size(0), -1}));
}

void ResNet34Impl::set_freeze(Freeze freeze) {
  freeze_ = freeze;
  for (auto& item : named_parameters())
    item.value().requires_grad_(freeze == Freeze::kNone || item.key().rfind(kClassifierPrefix, 0) == 0);
  train(is_training());
}

std::vector<torch::Tensor> ResNet34Impl::trainable_parameters() const {
  if (freeze_ == Freeze::kNone) return parameters();
  return fc_->parameters();
}

void ResNet34Impl::train(bool on) {
  nn::Module::train(on);
  if (!on || freeze_ == Freeze::kNone) return;
  for (auto& child : named_children())
    if (child.key() != "fc") child.value()->eval();
}

int64_t count_parameters(const nn::Module& module) {
  int64_t total = 0;
  for (const auto& p : module.parameters()) total += p.numel();
  return total;
}

int64_t count_parameters(Preset preset) { return count_parameters(*ResNet34(preset)); }

double forward_flops(Preset preset, int64_t image_size, int64_t num_classes) {
  double macs = 0;
  int64_t side = image_size;
  // A k x k convolution with padding k/2: its output side, and its multiply-adds (bias as one more per output).
  // torchvision's convolutions have no bias.
  const int64_t bias = preset == Preset::kTorchvision ? 0 : 1;
  const auto conv = [&](int64_t in, int64_t out, int64_t k, int64_t stride) {
    side = (side + 2 * (k / 2) - k) / stride + 1;
    macs += static_cast<double>(side * side * out) * static_cast<double>(in * k * k + bias);
  };
  if (preset == Preset::kArticle || preset == Preset::kTorchvision) {
    conv(3, 64, 7, 2);
    side = (side + 2 - 3) / 2 + 1;  // 3x3/2 max pool, padding 1
  } else {
    conv(3, 64, 3, 1);
  }
  int64_t in = 64;
  const int64_t planes[] = {64, 128, 256, 512}, blocks[] = {3, 4, 6, 3}, strides[] = {1, 2, 2, 2};
  for (int stage = 0; stage < 4; ++stage) {
    for (int64_t b = 0; b < blocks[stage]; ++b) {
      const int64_t stride = b == 0 ? strides[stage] : 1;
      const int64_t block_in_side = side;
      if (b == 0 && (stride != 1 || in != planes[stage])) {
        conv(in, planes[stage], 1, stride);  // the projection, on the block's input
        side = block_in_side;
      }
      conv(in, planes[stage], 3, stride);
      conv(planes[stage], planes[stage], 3, 1);
      in = planes[stage];
    }
  }
  macs += static_cast<double>(512 * num_classes + num_classes);
  return 2 * macs;
}

std::vector<std::pair<std::string, std::vector<int64_t>>> state_dict_shapes(Preset preset, int64_t num_classes) {
  ResNet34 model(preset, num_classes);
  std::vector<std::pair<std::string, std::vector<int64_t>>> shapes;
  for (const auto& p : model->named_parameters()) shapes.emplace_back(p.key(), p.value().sizes().vec());
  for (const auto& b : model->named_buffers()) shapes.emplace_back(b.key(), b.value().sizes().vec());
  return shapes;
}

}  // namespace libtorch_resnet::core
