// SPDX-License-Identifier: MIT
#include "cifar10_dataset.h"

#include <cerrno>
#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <vector>

#include "failures.h"

namespace libtorch_resnet::core {

namespace fs = std::filesystem;

namespace {

fs::path batches_dir(const std::string& dir) {
  const fs::path nested = fs::path(dir) / "cifar-10-batches-bin";
  return fs::is_directory(nested) ? nested : fs::path(dir);
}

// Appends up to `max_records` records of `file` to `out`; returns how many were read.
int64_t read_records(const fs::path& file, int64_t max_records, std::vector<uint8_t>& out) {
  std::error_code ec;
  if (!fs::exists(file, ec))
    throw FileError("CIFAR-10 file " + file.string() +
                        " is missing; point dataDir at a folder holding the binary batches (cifar-10-batches-bin/)",
                    FileError::Kind::kMissing);
  if (!fs::is_regular_file(file, ec))
    throw FileError("CIFAR-10 file " + file.string() + " is not a file", FileError::Kind::kOther);
  const auto bytes = static_cast<int64_t>(fs::file_size(file, ec));
  if (ec || bytes % kRecordBytes != 0 || bytes == 0)
    throw DataError("CIFAR-10 file " + file.string() + " has " + std::to_string(bytes) +
                             " bytes, not a whole number of 3073-byte records; the file is damaged, delete it and "
                             "fetch the data again");
  const int64_t records = std::min(bytes / kRecordBytes, max_records);
  const size_t offset = out.size();
  out.resize(offset + static_cast<size_t>(records * kRecordBytes));
  std::ifstream in(file, std::ios::binary);
  if (!in.read(reinterpret_cast<char*>(out.data() + offset), records * kRecordBytes))
    throw FileError::from_errno(errno, "cannot read CIFAR-10 file", file.string());
  return records;
}

}  // namespace

Cifar10Dataset Cifar10Dataset::load(const std::string& dir, Split split, int64_t limit) {
  const fs::path root = batches_dir(dir);
  std::vector<std::string> names;
  if (split == Split::kTrain) {
    for (int i = 1; i <= 5; ++i) names.push_back("data_batch_" + std::to_string(i) + ".bin");
  } else {
    names.push_back("test_batch.bin");
  }
  int64_t wanted = limit > 0 ? limit : std::numeric_limits<int64_t>::max();
  std::vector<uint8_t> raw;
  for (const auto& name : names) {
    if (wanted == 0) break;
    wanted -= read_records(root / name, wanted, raw);
  }
  const int64_t n = static_cast<int64_t>(raw.size()) / kRecordBytes;
  auto records = torch::from_blob(raw.data(), {n, kRecordBytes}, torch::kUInt8);
  auto labels = records.select(1, 0).to(torch::kInt64);
  // clone() copies out of `raw`, which dies with this frame.
  auto images = records.slice(1, 1).reshape({n, 3, kImageSide, kImageSide}).clone();
  if (n > 0 && labels.max().item<int64_t>() >= kNumClasses)
    throw DataError("CIFAR-10 data in " + root.string() + " has a label above 9; the files are damaged");
  return Cifar10Dataset(images, labels);
}

DatasetInfo cifar10_info() { return DatasetInfo{{std::begin(kClassNames), std::end(kClassNames)}, kImageSide, kCifarNormalization}; }

Cifar10Dataset::Cifar10Dataset(torch::Tensor images, torch::Tensor labels)
    : images_(std::move(images)), labels_(std::move(labels)) {}

Cifar10Dataset Cifar10Dataset::subset(const torch::Tensor& indices) const {
  return Cifar10Dataset(images_.index_select(0, indices), labels_.index_select(0, indices));
}

Cifar10Dataset Cifar10Dataset::to(const torch::Device& device) const {
  return Cifar10Dataset(images_.to(device), labels_.to(device));
}

torch::Tensor to_cifar_image(const torch::Tensor& rgb, int64_t out_side) {
  namespace F = torch::nn::functional;
  TORCH_CHECK(rgb.dim() == 3 && rgb.size(2) == 3 && rgb.scalar_type() == torch::kUInt8,
              "an image must be uint8 [height, width, 3]");
  const int64_t side = std::min(rgb.size(0), rgb.size(1));
  const int64_t top = (rgb.size(0) - side) / 2;
  const int64_t left = (rgb.size(1) - side) / 2;
  auto x = rgb.slice(0, top, top + side).slice(1, left, left + side).permute({2, 0, 1}).unsqueeze(0).to(torch::kFloat32);
  if (side > out_side) {
    // Area averaging: a photo shrunk without aliasing, like the downsampling CIFAR-10 was made with.
    x = F::adaptive_avg_pool2d(x, F::AdaptiveAvgPool2dFuncOptions({out_side, out_side}));
  } else if (side < out_side) {
    x = F::interpolate(x, F::InterpolateFuncOptions()
                              .size(std::vector<int64_t>{out_side, out_side})
                              .mode(torch::kBilinear)
                              .align_corners(false));
  }
  return x.round().clamp(0, 255).to(torch::kUInt8).squeeze(0).contiguous();
}

BatchTransform::BatchTransform(int64_t image_size, const torch::Device& device, bool channels_last,
                               const Normalization& normalization, int64_t record_side)
    : image_size_(image_size), record_side_(record_side), channels_last_(channels_last) {
  auto opts = torch::TensorOptions().dtype(torch::kFloat32);
  const auto& m = normalization.mean;
  const auto& d = normalization.std;
  auto mean = torch::tensor({m[0], m[1], m[2]}, opts).view({1, 3, 1, 1});
  auto std = torch::tensor({d[0], d[1], d[2]}, opts).view({1, 3, 1, 1});
  // Folds ToTensor's /255 into the normalisation: (x/255 - mean)/std = x * 1/(255 std) - mean/std.
  mean_ = (mean * 255.0).to(device);
  inv_std_ = (1.0 / (std * 255.0)).to(device);
}

torch::Tensor BatchTransform::operator()(const torch::Tensor& images) const {
  auto x = images.to(torch::kFloat32);
  // Converting the small uint8-derived batch before the resize lets interpolate write NHWC directly.
  if (channels_last_) x = x.contiguous(at::MemoryFormat::ChannelsLast);
  if (image_size_ != record_side_) {
    namespace F = torch::nn::functional;
    x = F::interpolate(x, F::InterpolateFuncOptions()
                              .size(std::vector<int64_t>{image_size_, image_size_})
                              .mode(torch::kBilinear)
                              .align_corners(false));
  }
  x = (x - mean_) * inv_std_;
  return channels_last_ ? x.contiguous(at::MemoryFormat::ChannelsLast) : x;
}

}  // namespace libtorch_resnet::core
