// SPDX-License-Identifier: MIT
// A trained network as plain data, for writers that live outside LibTorch (lib/onnx.ts, lib/safetensors.ts): what it
// is (preset, image size, classes, normalisation) and its state dict's tensors, dense and on the CPU. Header-only:
// it only reorders what load_checkpoint() already read and checked.
#pragma once

#include <torch/torch.h>

#include <string>
#include <vector>

#include "checkpoint.h"
#include "cifar10_dataset.h"
#include "failures.h"
#include "normalization.h"
#include "resnet34.h"

namespace libtorch_resnet::core {

struct ModelTensor {
  // The state dict's key (conv1.0.weight, ..., layer0.0.conv1.1.num_batches_tracked).
  std::string name;
  // Contiguous, on the CPU: float32 for parameters and floating buffers, int64 for num_batches_tracked.
  torch::Tensor data;
};

struct ModelContents {
  Preset preset = Preset::kArticle;
  int64_t image_size = 0;
  // The side predict() shrinks a picture to before resizing it to image_size: its training records' side.
  int64_t record_side = 0;
  std::vector<std::string> classes;
  Normalization normalization{};
  // Parameters then buffers, in model.state_dict()'s order.
  std::vector<ModelTensor> tensors;
};

// A checkpoint or weights file's network. Throws as load_checkpoint() does (FileError, CheckpointError); a file
// whose state dict lacks a key of its preset is a CheckpointError too.
inline ModelContents read_model(const std::string& path) {
  const Checkpoint checkpoint = load_checkpoint(path);
  ModelContents model;
  model.preset = checkpoint.options.preset;
  model.image_size = checkpoint.options.image_size;
  model.classes = checkpoint.classes;
  model.record_side = checkpoint.record_side;
  model.normalization = checkpoint.normalization;
  // The preset's own key order, not the file's: writers and readers then agree whatever order the file kept.
  for (const auto& [key, shape] : state_dict_shapes(model.preset, static_cast<int64_t>(model.classes.size()))) {
    const auto found = checkpoint.model.find(key);
    if (found == checkpoint.model.end() || found->value().sizes().vec() != shape)
      throw CheckpointError("checkpoint " + path + " has no '" + key + "' of the shape preset '" +
                            name_of(model.preset) + "' needs; the file is damaged");
    const torch::Tensor& value = found->value();
    const auto dtype = value.is_floating_point() ? torch::kFloat32 : torch::kInt64;
    model.tensors.push_back({key, value.to(torch::kCPU, dtype).contiguous()});
  }
  return model;
}

}  // namespace libtorch_resnet::core
