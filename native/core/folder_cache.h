// SPDX-License-Identifier: MIT
// Image folders (train({ images })): lib/image-cache.ts decodes each split's pictures once into a cache file,
// and the core loads that file whole as a Cifar10Dataset (uint8 records, int64 labels), so folder data takes the
// same device pipeline as CIFAR-10.
//
// The cache file's byte layout (little-endian; lib/image-cache.ts writes it):
//   offset        size       field
//   0             8          magic "LTRNIMG1"
//   8             4          uint32 record side S (pixels; records are S x S)
//   12            4          uint32 record count N (files listed, bad ones included)
//   16            4          uint32 class count C
//   20            4          uint32 byte length L of the class-name block
//   24            L          class names in label order, UTF-8, each ended by '\n'
//   24+L          2N         uint16 labels; 0xFFFF marks a file that could not be decoded (its pixels are zero)
//   24+L+2N       N*3*S*S    pixels: per record its R, G and B planes, each S rows of S bytes
#pragma once

#include <string>

#include "cifar10_dataset.h"

namespace libtorch_resnet::core {

// The fraction of a folder's images a seeded draw sets aside as the test split when it has no test/ folder.
inline constexpr double kFolderTestFraction = 0.2;

struct FolderData {
  Cifar10Dataset data;
  // Folder names, the record side, ImageNet's normalisation (photos, not CIFAR-10).
  DatasetInfo info;
};

// Reads a cache file written by lib/image-cache.ts; the records of bad files are left out. Throws DataError
// naming the file when it is not one or is cut short.
FolderData load_image_cache(const std::string& path);

}  // namespace libtorch_resnet::core
