// SPDX-License-Identifier: MIT
// Fine-tuning: a run whose weights start from a file (TrainOptions::init_from) rather than from a seeded random
// initialisation. The file is one of this package's checkpoints or weights files, or a state dict Python wrote
// with torch.save(model.state_dict(), path) (torchvision's resnet34 for preset 'torchvision').
#pragma once

#include <torch/torch.h>

#include <optional>
#include <string>

#include "options.h"
#include "resnet34.h"

namespace libtorch_resnet::core {

struct InitWeights {
  std::string path;
  // What the file is, for messages: "checkpoint", "weights file" or "state dict".
  std::string kind;
  // The preset whose network the file's keys and stem fit; nullopt when none does.
  std::optional<Preset> preset;
  c10::Dict<std::string, torch::Tensor> tensors;
};

// Reads the file. Throws FileError when it cannot be read, CheckpointError naming it when it is damaged or holds
// something other than named tensors.
InitWeights load_init_weights(const std::string& path);

// Copies the file's tensors into `model`, a fresh network of `preset`, key by key with their shapes checked.
// A classifier (fc.*) for another class count is left as the model was built (seeded), and true is returned;
// keys that do not match (another network shape) or another shape anywhere else throw a CheckpointError that
// names the file, the preset it fits and what to do.
bool apply_init(const InitWeights& init, ResNet34& model, Preset preset);

}  // namespace libtorch_resnet::core
