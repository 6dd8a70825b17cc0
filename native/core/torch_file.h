// SPDX-License-Identifier: MIT
// Files in torch.save's format (a zip holding data.pkl and one record per tensor storage), written so that the
// strictest reader accepts them and read so that no damaged file can crash the process.
//
// - Written without the TorchScript type tags that torch::pickle_save adds (torch.jit._pickle.restore_type_tag,
//   build_intlist, ...): PyTorch 2.6 and later load with weights_only=True by default, and that loader refuses
//   every global it does not know. Lists are therefore plain lists (c10::impl::GenericList), never c10::List<T>.
// - Extra records beside data.pkl carry what Python's torch.load must not see (it reads data.pkl and the storages
//   it names, and skips the rest).
// - Read through a reader that never reads past the bytes it holds, and every tensor is checked against its
//   storage's size before anything touches its data (the unpickler sets sizes and strides as the file says).
#pragma once

#include <torch/torch.h>

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace libtorch_resnet::core {

// The bytes of a torch.save-format file holding `value`, plus `extra` records (name -> bytes) under the same
// archive folder; an extra record is itself a pickle without tensors, so Python reads it with pickle.loads.
std::vector<char> save_archive(const c10::IValue& value, const std::map<std::string, c10::IValue>& extra = {});

struct Archive {
  c10::IValue value;
  // The extra records asked for that the file has, unpickled.
  std::map<std::string, c10::IValue> extra;
  // Whether the file is Python's torch.save(model.state_dict()) (an OrderedDict, read as a plain dict of tensors).
  bool python_state_dict = false;
};

// Reads the file at `path` as written by save_archive or by Python's torch.save, with the extra records named in
// `extra_names`. Throws FileError when it cannot be opened, another std::exception on any damage: a broken zip,
// pickle or record, or a tensor whose sizes and strides reach past its storage.
Archive load_archive(const std::string& path, const std::vector<std::string>& extra_names = {});

// A checksum of tensors' bytes, to tell a file whose tensors changed after it was written (the zip's own CRCs
// are not checked by LibTorch's reader). Each tensor's bytes (contiguous, as stored), zero-padded to whole 32-bit
// little-endian words w_0..w_{n-1}, give c = sum_i (w_i mod P)(i + 1) mod P with P = 2^31 - 1; the tensors
// t_0..t_{m-1} give sum_k c_k (k + 1) mod P. Any single changed bit changes it, and any other damage does with
// probability 1 - 1/P. A few lines of torch ops reproduce it in Python (test/native/run.test.ts does).
int64_t tensor_checksum(const std::vector<torch::Tensor>& tensors);

}  // namespace libtorch_resnet::core
