// SPDX-License-Identifier: MIT
#include "torch_file.h"

#include <caffe2/serialize/inline_container.h>
#include <caffe2/serialize/read_adapter_interface.h>
#include <torch/csrc/jit/serialization/export.h>
#include <torch/csrc/jit/serialization/import_read.h>
#include <torch/csrc/jit/serialization/pickle.h>
#include <torch/csrc/jit/serialization/pickler.h>
#include <torch/csrc/jit/serialization/unpickler.h>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <limits>
#include <memory>
#include <stdexcept>

#include "failures.h"

namespace libtorch_resnet::core {

namespace {

constexpr int64_t kPrime = 2147483647;  // 2^31 - 1

// `value` as a pickle stream without type tags; its tensors (by storage) go to `tensors`, when given.
std::vector<char> untagged_pickle(const c10::IValue& value, std::vector<at::Tensor>* tensors) {
  std::vector<char> bytes;
  torch::jit::Pickler pickler([&](const char* data, size_t size) { bytes.insert(bytes.end(), data, data + size); },
                              /*tensor_table=*/nullptr, /*type_renamer=*/nullptr, /*memoized_class_types=*/nullptr,
                              /*get_tensor_id=*/nullptr, /*tag_aggregates=*/false);
  pickler.protocol();
  pickler.pushIValue(value);
  pickler.stop();
  if (tensors != nullptr) {
    *tensors = pickler.tensorData();
  } else if (!pickler.tensorData().empty()) {
    throw std::logic_error("an extra record of a torch file may not hold tensors");
  }
  return bytes;
}

// The zip reader's view of the file, read where it asks (no copy of the whole file in memory): reads stop at the
// end of the file, whatever offsets a damaged directory names.
class FileReader : public caffe2::serialize::ReadAdapterInterface {
 public:
  explicit FileReader(const std::string& path) : fd_(::open(path.c_str(), O_RDONLY | O_CLOEXEC)) {
    struct stat info {};
    if (fd_ < 0 || ::fstat(fd_, &info) != 0) {
      const int err = errno;
      if (fd_ >= 0) ::close(fd_);
      throw FileError::from_errno(err, "cannot read checkpoint", path);
    }
    size_ = static_cast<size_t>(info.st_size);
  }
  ~FileReader() override { ::close(fd_); }
  FileReader(const FileReader&) = delete;
  FileReader& operator=(const FileReader&) = delete;

  size_t size() const override { return size_; }
  size_t read(uint64_t pos, void* buf, size_t n, const char* /*what*/) const override {
    if (pos >= size_) return 0;
    n = std::min<size_t>(n, size_ - static_cast<size_t>(pos));
    size_t done = 0;
    while (done < n) {
      const ssize_t got = ::pread(fd_, static_cast<char*>(buf) + done, n - done, static_cast<off_t>(pos + done));
      if (got < 0 && errno == EINTR) continue;
      if (got <= 0) break;  // a read error: the short read fails the record
      done += static_cast<size_t>(got);
    }
    return done;
  }

 private:
  int fd_;
  size_t size_ = 0;
};

// The unpickler gives a tensor the sizes, strides and offset the file states; refuse any that reach past the
// bytes its storage holds, before anything reads them.
void check_in_storage(const torch::Tensor& t) {
  if (!t.defined()) return;
  if (!t.has_storage() || t.layout() != torch::kStrided) throw std::runtime_error("a tensor with no plain storage");
  const int64_t offset = t.storage_offset();
  if (offset < 0) throw std::runtime_error("a tensor with a negative storage offset");
  __int128 last = offset;
  for (int64_t d = 0; d < t.dim(); ++d) {
    if (t.size(d) < 0 || t.stride(d) < 0) throw std::runtime_error("a tensor with a negative size or stride");
    if (t.size(d) == 0) return;  // no elements: nothing to read
    last += static_cast<__int128>(t.size(d) - 1) * t.stride(d);
  }
  const __int128 needed = (last + 1) * static_cast<__int128>(t.element_size());
  if (needed > static_cast<__int128>(t.storage().nbytes()))
    throw std::runtime_error("a tensor whose sizes and strides reach past its storage");
}

void check_tensors(const c10::IValue& v, int depth = 0) {
  if (depth > 64) throw std::runtime_error("nesting deeper than any file of this package has");
  if (v.isTensor()) {
    check_in_storage(v.toTensor());
  } else if (v.isGenericDict()) {
    for (const auto& item : v.toGenericDict()) {
      check_tensors(item.key(), depth + 1);
      check_tensors(item.value(), depth + 1);
    }
  } else if (v.isList()) {
    for (const auto& item : v.toListRef()) check_tensors(item, depth + 1);
  } else if (v.isTuple()) {
    for (const auto& item : v.toTupleRef().elements()) check_tensors(item, depth + 1);
  }
}

// x mod 2^31 - 1 without a division: 2^31 is 1 modulo P, so the high bits fold onto the low ones (twice leaves at
// most P + 5).
uint64_t mod_prime(uint64_t x) {
  x = (x & kPrime) + (x >> 31);
  x = (x & kPrime) + (x >> 31);
  return x >= static_cast<uint64_t>(kPrime) ? x - kPrime : x;
}

// A plain loop, not tensor ops: those would allocate several copies of a 170 MB checkpoint's tensors.
int64_t checksum_of(const torch::Tensor& tensor) {
  const torch::Tensor t = tensor.detach().to(torch::kCPU).contiguous();
  const size_t bytes = t.numel() * t.element_size();
  const auto* data = static_cast<const unsigned char*>(t.data_ptr());
  // word * position < 2^63 (tensors under 8 GB); each term is below 2^31, so 2^32 of them sum below 2^63.
  const auto term = [](uint32_t word, uint64_t position) { return mod_prime(word * position); };
  uint64_t sum = 0;
  uint64_t position = 1;
  size_t at = 0;
  for (; at + 4 <= bytes; at += 4, ++position) {
    uint32_t word;  // little-endian, as every platform LibTorch builds for
    std::memcpy(&word, data + at, 4);
    sum += term(word, position);
  }
  if (at < bytes) {
    uint32_t word = 0;  // the tail, zero-padded
    std::memcpy(&word, data + at, bytes - at);
    sum += term(word, position);
  }
  return static_cast<int64_t>(mod_prime(sum));
}

// Python's torch.save(model.state_dict()) pickles a collections.OrderedDict carrying a `_metadata` attribute.
// LibTorch 1.13's unpickler turns every OrderedDict into None (it expects them only as a tensor's empty backward
// hooks), so the state dict itself would be lost. The top-level one is rewritten into a plain dict, and the
// attribute (the BUILD at the end: module versions, which no tensor needs) is dropped. Memo slot 0 must still
// hold the OrderedDict global, as the tensors' hooks refer back to it: it becomes the value of a key the caller
// removes (kOrderedDictSlot). Returns nullopt unless the pickle has exactly this shape.
constexpr const char* kOrderedDictSlot = "__libtorch_resnet_ordered_dict__";

std::optional<std::string> plain_state_dict_pickle(const std::string& pickle) {
  using namespace std::string_literals;  // "..."s keeps the NUL bytes
  const std::string global = "ccollections\nOrderedDict\n"s;
  // PROTO 2; GLOBAL collections.OrderedDict; BINPUT 0; EMPTY_TUPLE; REDUCE; BINPUT 1.
  const std::string prefix = "\x80\x02"s + global + "q\x00)Rq\x01"s;
  const std::string metadata = "X\x09\x00\x00\x00_metadata"s;  // BINUNICODE, 4-byte length
  if (pickle.size() < prefix.size() + 3 || pickle.compare(0, prefix.size(), prefix) != 0) return std::nullopt;
  if (pickle.compare(pickle.size() - 3, 3, "sb.") != 0) return std::nullopt;  // SETITEM, BUILD, STOP
  const size_t key = pickle.rfind(metadata);
  if (key == std::string::npos || key < prefix.size() + 6) return std::nullopt;
  // The attribute dict opens with EMPTY_DICT and a BINPUT (q, 1 byte) or a LONG_BINPUT (r, 4 bytes).
  size_t state = std::string::npos;
  if (pickle[key - 3] == '}' && pickle[key - 2] == 'q') state = key - 3;
  if (pickle[key - 6] == '}' && pickle[key - 5] == 'r') state = key - 6;
  if (state == std::string::npos) return std::nullopt;
  const std::string slot(kOrderedDictSlot);
  const auto n = static_cast<uint32_t>(slot.size());
  const char length[4] = {static_cast<char>(n), 0, 0, 0};
  // PROTO 2; EMPTY_DICT; BINPUT 1; MARK; the slot's key; GLOBAL; BINPUT 0; SETITEMS (LibTorch 1.13 has no
  // SETITEM); the items as they were; STOP.
  std::string out = "\x80\x02}q\x01(X"s + std::string(length, 4) + slot + global + "q\x00u"s;
  out.append(pickle, prefix.size(), state - prefix.size());
  out.push_back('.');
  return out;
}

// data.pkl of `reader` unpickled from `pickle`, its tensors read from the archive's data/ records onto the CPU.
c10::IValue unpickle_archive(const std::string& pickle, caffe2::serialize::PyTorchStreamReader& reader) {
  size_t at = 0;
  const auto read = [&](char* buffer, size_t len) -> size_t {
    const size_t n = std::min(len, pickle.size() - at);
    std::memcpy(buffer, pickle.data() + at, n);
    at += n;
    return n;
  };
  const auto read_record = [&](const std::string& name) { return std::get<0>(reader.getRecord("data/" + name)); };
  torch::jit::Unpickler unpickler(read, /*type_resolver=*/nullptr, /*obj_loader=*/nullptr, read_record,
                                  at::Device(at::kCPU));
  unpickler.set_version(reader.version());
  return unpickler.parse_ivalue();
}

}  // namespace

std::vector<char> save_archive(const c10::IValue& value, const std::map<std::string, c10::IValue>& extra) {
  std::vector<at::Tensor> tensors;
  const std::vector<char> data = untagged_pickle(value, &tensors);
  std::vector<char> file;
  caffe2::serialize::PyTorchStreamWriter writer([&](const void* bytes, size_t size) {
    const char* begin = static_cast<const char*>(bytes);
    file.insert(file.end(), begin, begin + size);
    return size;
  });
  torch::jit::writeArchiveAndTensors("data", data.data(), data.size(), tensors, writer);
  for (const auto& [name, record] : extra) {
    const std::vector<char> bytes = untagged_pickle(record, nullptr);
    writer.writeRecord(name, bytes.data(), bytes.size());
  }
  writer.writeEndOfFile();
  return file;
}

Archive load_archive(const std::string& path, const std::vector<std::string>& extra_names) {
  caffe2::serialize::PyTorchStreamReader reader(std::make_shared<FileReader>(path));
  Archive archive;
  const auto record = reader.getRecord("data.pkl");
  const std::string pickle(static_cast<const char*>(std::get<0>(record).get()), std::get<1>(record));
  if (auto plain = plain_state_dict_pickle(pickle)) {
    archive.value = unpickle_archive(*plain, reader);
    if (!archive.value.isGenericDict() || archive.value.toGenericDict().erase(kOrderedDictSlot) != 1)
      throw std::runtime_error("a state dict pickle that did not unpickle as one");
    archive.python_state_dict = true;
  } else {
    archive.value = torch::jit::readArchiveAndTensors("data", /*pickle_prefix=*/"", /*tensor_prefix=*/"",
                                                      /*type_resolver=*/{}, /*obj_loader=*/{}, /*device=*/{}, reader);
  }
  check_tensors(archive.value);
  for (const auto& name : extra_names) {
    if (!reader.hasRecord(name)) continue;
    const auto record = reader.getRecord(name);
    c10::IValue value = torch::jit::unpickle(static_cast<const char*>(std::get<0>(record).get()), std::get<1>(record));
    check_tensors(value);
    archive.extra.emplace(name, std::move(value));
  }
  return archive;
}

int64_t tensor_checksum(const std::vector<torch::Tensor>& tensors) {
  int64_t total = 0;
  for (size_t k = 0; k < tensors.size(); ++k)
    total = (total + checksum_of(tensors[k]) * static_cast<int64_t>((k + 1) % kPrime)) % kPrime;
  return total;
}

}  // namespace libtorch_resnet::core
