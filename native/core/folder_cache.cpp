// SPDX-License-Identifier: MIT
#include "folder_cache.h"

#include <cerrno>
#include <cstring>
#include <fstream>
#include <vector>

#include "failures.h"

namespace libtorch_resnet::core {

namespace {

constexpr char kMagic[8] = {'L', 'T', 'R', 'N', 'I', 'M', 'G', '1'};
constexpr uint16_t kBadLabel = 0xFFFF;

uint32_t read_u32(const unsigned char* p) {
  return static_cast<uint32_t>(p[0]) | static_cast<uint32_t>(p[1]) << 8 | static_cast<uint32_t>(p[2]) << 16 |
         static_cast<uint32_t>(p[3]) << 24;
}

[[noreturn]] void damaged(const std::string& path, const std::string& what) {
  throw DataError("image cache " + path + " " + what +
                  "; delete it (train() decodes the images again into a new one)");
}

void read_exactly(std::ifstream& in, void* into, int64_t bytes, const std::string& path) {
  if (!in.read(static_cast<char*>(into), bytes)) damaged(path, "is cut short");
}

std::vector<std::string> split_names(const std::string& block, uint32_t count, const std::string& path) {
  std::vector<std::string> names;
  size_t start = 0;
  for (size_t end; (end = block.find('\n', start)) != std::string::npos; start = end + 1)
    names.push_back(block.substr(start, end - start));
  if (names.size() != count || start != block.size()) damaged(path, "has a damaged class-name block");
  return names;
}

}  // namespace

FolderData load_image_cache(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw FileError::from_errno(errno, "cannot open image cache", path);
  unsigned char header[24];
  read_exactly(in, header, sizeof header, path);
  if (std::memcmp(header, kMagic, sizeof kMagic) != 0) damaged(path, "is not a libtorch-resnet image cache");
  const int64_t side = read_u32(header + 8), n = read_u32(header + 12);
  const uint32_t classes = read_u32(header + 16), names_bytes = read_u32(header + 20);
  if (side < 1 || side > 4096 || classes < 2 || names_bytes > (1u << 24)) damaged(path, "has a damaged header");

  std::string names(names_bytes, '\0');
  read_exactly(in, names.data(), names_bytes, path);
  std::vector<uint16_t> raw_labels(static_cast<size_t>(n));
  read_exactly(in, raw_labels.data(), 2 * n, path);
  auto images = torch::empty({n, 3, side, side}, torch::kUInt8);
  read_exactly(in, images.data_ptr<uint8_t>(), images.numel(), path);

  // Labels are little-endian on disk, as on every machine LibTorch builds for.
  std::vector<int64_t> labels, kept;
  for (int64_t i = 0; i < n; ++i) {
    const uint16_t label = raw_labels[static_cast<size_t>(i)];
    if (label == kBadLabel) continue;
    if (label >= classes) damaged(path, "has a label beyond its " + std::to_string(classes) + " classes");
    labels.push_back(label);
    kept.push_back(i);
  }
  auto label_tensor = torch::tensor(labels, torch::kInt64);
  if (static_cast<int64_t>(kept.size()) != n) images = images.index_select(0, torch::tensor(kept, torch::kInt64));
  DatasetInfo info{split_names(names, classes, path), side, kImageNetNormalization};
  return FolderData{Cifar10Dataset(images, label_tensor), std::move(info)};
}

}  // namespace libtorch_resnet::core
