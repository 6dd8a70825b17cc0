// SPDX-License-Identifier: MIT
#include "fine_tune.h"

#include <filesystem>
#include <set>
#include <vector>

#include "checkpoint.h"
#include "failures.h"
#include "torch_file.h"

namespace libtorch_resnet::core {

namespace {

// The preset a set of state-dict keys belongs to: torchvision names its stem conv1 + bn1, the article and CIFAR
// presets conv1.0 + conv1.1, told apart by the stem's kernel (7x7 or 3x3).
std::optional<Preset> preset_of_keys(const c10::Dict<std::string, torch::Tensor>& tensors) {
  if (tensors.contains("conv1.weight") && tensors.contains("bn1.weight")) return Preset::kTorchvision;
  const auto stem = tensors.find("conv1.0.weight");
  if (stem == tensors.end() || stem->value().dim() != 4) return std::nullopt;
  if (stem->value().size(3) == 7) return Preset::kArticle;
  if (stem->value().size(3) == 3) return Preset::kCifar;
  return std::nullopt;
}

// What to do about a file that does not fit `preset`.
std::string advice(const InitWeights& init, Preset preset) {
  const std::string wanted = std::string("'") + name_of(preset) + "'";
  if (init.preset && *init.preset != preset)
    return "it fits preset '" + std::string(name_of(*init.preset)) + "': train with preset '" +
           name_of(*init.preset) + "', or init from a file of preset " + wanted;
  return "init from a file of preset " + wanted +
         (preset == Preset::kTorchvision ? " (torch.save(torchvision.models.resnet34(...).state_dict(), path))" : "");
}

bool is_classifier(const std::string& key) { return key.rfind(kClassifierPrefix, 0) == 0; }

// A BatchNorm batch counter: state dicts from before PyTorch 0.4.1 lack them, and nothing a run computes reads them.
bool is_counter(const std::string& key) {
  const std::string suffix = "num_batches_tracked";
  return key.size() >= suffix.size() && key.compare(key.size() - suffix.size(), suffix.size(), suffix) == 0;
}

void check_keys(const InitWeights& init, const std::vector<std::pair<std::string, torch::Tensor>>& own,
                Preset preset) {
  std::vector<std::string> missing, unexpected;
  std::set<std::string> names;
  for (const auto& [key, _] : own) {
    names.insert(key);
    if (!init.tensors.contains(key) && !is_counter(key)) missing.push_back(key);
  }
  for (const auto& item : init.tensors)
    if (names.count(item.key()) == 0) unexpected.push_back(item.key());
  if (missing.empty() && unexpected.empty()) return;
  std::string counts;
  if (!missing.empty())
    counts += std::to_string(missing.size()) + " of its keys missing (such as '" + missing.front() + "')";
  if (!unexpected.empty())
    counts += std::string(counts.empty() ? "" : ", ") + std::to_string(unexpected.size()) +
              " keys it does not have (such as '" + unexpected.front() + "')";
  throw CheckpointError("init file " + init.path + " is a " + init.kind + " of another network than preset '" +
                        name_of(preset) + "' builds (" + counts + "); " + advice(init, preset));
}

}  // namespace

InitWeights load_init_weights(const std::string& path) {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec))
    throw FileError("init file " + path + " does not exist or is not a file; pass a checkpoint, a weights.pt or a "
                    "state dict saved with torch.save(model.state_dict(), path)",
                    std::filesystem::exists(path, ec) ? FileError::Kind::kOther : FileError::Kind::kMissing);
  InitWeights init;
  init.path = path;
  Archive archive;
  try {
    archive = load_archive(path, {kWeightsRecord});
  } catch (const FileError&) {
    throw;
  } catch (const std::exception&) {
    throw CheckpointError("init file " + path + " cannot be read: it is truncated, damaged or not a file of "
                          "torch.save's format; pass a checkpoint, a weights.pt or torch.save(model.state_dict())'s file");
  }
  const bool dict = archive.value.isGenericDict();
  if (archive.extra.count(kWeightsRecord) > 0 || (dict && archive.value.toGenericDict().contains("format"))) {
    // One of ours: read as evaluate() reads it, its checksum and description checked.
    Checkpoint c = load_checkpoint(path);
    init.kind = c.kind == Checkpoint::Kind::kWeights ? "weights file" : "checkpoint";
    init.preset = c.options.preset;
    init.tensors = c.model;
    return init;
  }
  init.kind = "state dict";
  if (dict) {
    for (const auto& item : archive.value.toGenericDict()) {
      if (!item.key().isString() || !item.value().isTensor()) {
        init.tensors = c10::Dict<std::string, torch::Tensor>();
        break;
      }
      init.tensors.insert(item.key().toStringRef(), item.value().toTensor());
    }
  }
  if (init.tensors.empty())
    throw CheckpointError("init file " + path + " holds no state dict (a dict of named tensors); save one with "
                          "torch.save(model.state_dict(), path), not the model itself or other objects");
  init.preset = preset_of_keys(init.tensors);
  return init;
}

bool apply_init(const InitWeights& init, ResNet34& model, Preset preset) {
  std::vector<std::pair<std::string, torch::Tensor>> own;
  for (auto& item : model->named_parameters()) own.emplace_back(item.key(), item.value());
  for (auto& item : model->named_buffers()) own.emplace_back(item.key(), item.value());
  check_keys(init, own, preset);
  // The classifier is replaced whole, weight and bias together, when the class count differs; its input (512
  // features) must still match.
  bool replace_head = false;
  for (const auto& [key, target] : own) {
    if (!is_classifier(key) || !init.tensors.contains(key)) continue;
    const torch::Tensor& value = init.tensors.at(key);
    if (value.dim() != target.dim() || (value.dim() == 2 && value.size(1) != target.size(1)))
      throw CheckpointError("init file " + init.path + ": '" + key + "' has shape " + c10::str(value.sizes()) +
                            " where preset '" + name_of(preset) + "' has " + c10::str(target.sizes()) + "; " +
                            advice(init, preset));
    if (value.sizes() != target.sizes()) replace_head = true;
  }
  torch::NoGradGuard no_grad;
  for (auto& [key, target] : own) {
    if ((replace_head && is_classifier(key)) || !init.tensors.contains(key)) continue;
    const torch::Tensor& value = init.tensors.at(key);
    if (value.sizes() != target.sizes())
      throw CheckpointError("init file " + init.path + ": '" + key + "' has shape " + c10::str(value.sizes()) +
                            " where preset '" + name_of(preset) + "' has " + c10::str(target.sizes()) + "; " +
                            advice(init, preset));
    target.copy_(value);
  }
  return replace_head;
}

}  // namespace libtorch_resnet::core
