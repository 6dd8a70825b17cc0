// SPDX-License-Identifier: MIT
#include "checkpoint.h"

#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <stdexcept>

#include "cifar10_dataset.h"
#include "failures.h"
#include "torch_compat.h"
#include "torch_file.h"

namespace libtorch_resnet::core {

namespace fs = std::filesystem;

namespace {

constexpr const char* kFormat = "libtorch-resnet.checkpoint";
// 2: tensor_checksum, required from then on.
constexpr int64_t kFormatVersion = 2;
constexpr const char* kWeightsFormat = "libtorch-resnet.weights";
constexpr int64_t kWeightsFormatVersion = 1;

using GenericDict = c10::impl::GenericDict;
using GenericList = c10::impl::GenericList;

GenericDict string_dict() { return GenericDict(c10::StringType::get(), c10::AnyType::get()); }

// Plain lists: a c10::List<T> would be pickled with a TorchScript type tag that weights_only loading refuses.
template <class T>
GenericList plain_list(const std::vector<T>& values) {
  GenericList list(c10::AnyType::get());
  for (const auto& v : values) list.push_back(v);
  return list;
}

FileError io_error(const std::string& what, const std::string& path) { return FileError::from_errno(errno, what, path); }

// create_directories, with its failure as a FileError (a full disk or a folder we may not write to).
void make_folder(const fs::path& folder) {
  std::error_code ec;
  fs::create_directories(folder, ec);
  if (ec) throw FileError::from_errno(ec.value(), "cannot create the folder", folder.string());
}

void fsync_folder(const fs::path& folder) {
  const int fd = ::open(folder.empty() ? "." : folder.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return;  // durability of the rename only; the file itself is already whole
  ::fsync(fd);
  ::close(fd);
}

std::string temporary_name(const std::string& path) {
  static std::atomic<int> counter{0};
  return path + ".tmp-" + std::to_string(::getpid()) + "-" + std::to_string(counter++);
}

void write_atomically(const std::string& path, const std::vector<char>& bytes) {
  const fs::path target(path);
  if (target.has_parent_path()) make_folder(target.parent_path());
  const std::string tmp = temporary_name(path);
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) throw io_error("cannot write", tmp);
  size_t written = 0;
  while (written < bytes.size()) {
    const ssize_t n = ::write(fd, bytes.data() + written, bytes.size() - written);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      const auto error = io_error("cannot write", tmp);
      ::close(fd);
      ::unlink(tmp.c_str());
      throw error;
    }
    written += static_cast<size_t>(n);
  }
  if (::fsync(fd) != 0 || ::close(fd) != 0) {
    const auto error = io_error("cannot flush", tmp);
    ::unlink(tmp.c_str());
    throw error;
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    const auto error = io_error("cannot rename to", path);
    ::unlink(tmp.c_str());
    throw error;
  }
  fsync_folder(target.parent_path());
}

// A missing file or a folder named where a checkpoint is expected, told as such before the zip reader sees it.
void check_is_file(const std::string& path) {
  std::error_code ec;
  if (!fs::exists(path, ec))
    throw FileError("checkpoint " + path + " does not exist; check the path (train() writes them into "
                    "<runDir>/checkpoints/)", FileError::Kind::kMissing);
  if (!fs::is_regular_file(path, ec)) throw FileError("checkpoint " + path + " is not a file", FileError::Kind::kOther);
}

// A detached, contiguous copy on the CPU: a checkpoint from a GPU run, or one with channels-last weights, loads
// anywhere and stores the same bytes whatever the layout was.
torch::Tensor host_copy(const torch::Tensor& t) {
  return torch::empty(t.sizes(), t.options().device(torch::kCPU)).copy_(t.detach());
}

// Parameters, then buffers.
c10::Dict<std::string, torch::Tensor> state_dict(ResNet34& model) {
  c10::Dict<std::string, torch::Tensor> dict;
  for (const auto& item : model->named_parameters()) dict.insert(item.key(), host_copy(item.value()));
  for (const auto& item : model->named_buffers()) dict.insert(item.key(), host_copy(item.value()));
  return dict;
}

GenericDict options_dict(const TrainOptions& o) {
  GenericDict d = string_dict();
  d.insert("epochs", o.epochs);
  d.insert("lr", o.lr);
  d.insert("batch_size", o.batch_size);
  d.insert("momentum", o.momentum);
  d.insert("weight_decay", o.weight_decay);
  d.insert("valid_split", o.valid_split);
  d.insert("seed", static_cast<int64_t>(o.seed));
  d.insert("preset", std::string(name_of(o.preset)));
  d.insert("image_size", o.image_size);
  d.insert("device", o.device);
  d.insert("threads", static_cast<int64_t>(o.threads));
  d.insert("precision", std::string(name_of(o.precision)));
  d.insert("memory_format", std::string(name_of(o.memory_format)));
  d.insert("data_dir", o.data_dir);
  d.insert("images_dir", o.images_dir);
  d.insert("limit_train", o.limit_train);
  d.insert("limit_test", o.limit_test);
  d.insert("log_every", o.log_every);
  d.insert("decay_norm_and_bias", o.decay_norm_and_bias);
  d.insert("nesterov", o.nesterov);
  d.insert("scheduler", std::string(name_of(o.scheduler)));
  d.insert("warmup_epochs", o.warmup_epochs);
  d.insert("label_smoothing", o.label_smoothing);
  d.insert("augment", std::string(name_of(o.augment)));
  d.insert("flip_tta", o.flip_tta);
  // Fine-tuning: the file the run's weights started from (a record; a resume never reads it again), and what it
  // trains.
  d.insert("init", o.init_from);
  d.insert("freeze", std::string(name_of(o.freeze)));
  // The processes that trained together: a mid-epoch position means a step of each one's shard.
  d.insert("world_size", static_cast<int64_t>(o.distributed.enabled ? o.distributed.world_size : 1));
  return d;
}

// torch.optim.SGD.state_dict()'s shape: {"state": {i: {"momentum_buffer": t}}, "param_groups": [{...}]}.
GenericDict optimizer_dict(const TrainOptions& o, ResNet34& model, torch::optim::SGD& optimizer) {
  GenericDict state(c10::IntType::get(), c10::AnyType::get());
  const auto params = model->parameters();
  for (size_t i = 0; i < params.size(); ++i) {
    const auto* param_state = compat::sgd_state(optimizer, params[i], /*create=*/false);
    if (param_state == nullptr || !param_state->momentum_buffer().defined()) continue;
    GenericDict entry = string_dict();
    entry.insert("momentum_buffer", host_copy(param_state->momentum_buffer()));
    state.insert(static_cast<int64_t>(i), entry);
  }
  // Each group names its parameters by their index in model->parameters(), the numbering of "state".
  c10::impl::GenericList groups(c10::AnyType::get());
  for (const auto& g : optimizer.param_groups()) {
    const auto& go = static_cast<const torch::optim::SGDOptions&>(g.options());
    std::vector<int64_t> indices;
    for (const auto& p : g.params())
      for (size_t i = 0; i < params.size(); ++i)
        if (params[i].is_same(p)) indices.push_back(static_cast<int64_t>(i));
    GenericDict group = string_dict();
    group.insert("lr", go.lr());
    group.insert("initial_lr", o.lr);
    group.insert("momentum", go.momentum());
    group.insert("dampening", go.dampening());
    group.insert("weight_decay", go.weight_decay());
    group.insert("nesterov", go.nesterov());
    group.insert("maximize", false);
    group.insert("foreach", c10::IValue());
    group.insert("differentiable", false);
    group.insert("params", plain_list(indices));
    groups.push_back(group);
  }
  GenericDict dict = string_dict();
  dict.insert("state", state);
  dict.insert("param_groups", groups);
  return dict;
}

GenericDict history_dict(const std::vector<EpochStats>& history) {
  std::vector<double> loss, accuracy, seconds, rate, valid_seconds;
  for (const auto& e : history) {
    loss.push_back(e.train_loss);
    accuracy.push_back(e.valid_accuracy);
    seconds.push_back(e.seconds);
    rate.push_back(e.images_per_second);
    valid_seconds.push_back(e.valid_seconds);
  }
  GenericDict d = string_dict();
  d.insert("train_loss", plain_list(loss));
  d.insert("valid_accuracy", plain_list(accuracy));
  d.insert("seconds", plain_list(seconds));
  d.insert("images_per_second", plain_list(rate));
  d.insert("valid_seconds", plain_list(valid_seconds));
  return d;
}

// Reading: every lookup names the file and the key, so a damaged or foreign file says what is wrong.
class Reader {
 public:
  Reader(std::string path, GenericDict dict, std::string where = "")
      : path_(std::move(path)), dict_(std::move(dict)), where_(std::move(where)) {}

  const c10::IValue& at(const std::string& key) const {
    auto found = dict_.find(key);
    if (found == dict_.end())
      throw CheckpointError("checkpoint " + path_ + " lacks '" + where_ + key +
                               "'; it is damaged or was not written by libtorch-resnet's train()");
    return found->value();
  }
  template <class Check>
  const c10::IValue& typed(const std::string& key, Check check, const char* type) const {
    const auto& value = at(key);
    if (!check(value))
      throw CheckpointError("checkpoint " + path_ + ": '" + where_ + key + "' is not " + type +
                               "; the file is damaged");
    return value;
  }
  bool has(const std::string& key) const { return dict_.contains(key); }
  int64_t integer(const std::string& key) const {
    return typed(key, [](const c10::IValue& v) { return v.isInt(); }, "an integer").toInt();
  }
  double number(const std::string& key) const {
    const auto& v = typed(key, [](const c10::IValue& v) { return v.isDouble() || v.isInt(); }, "a number");
    return v.isDouble() ? v.toDouble() : static_cast<double>(v.toInt());
  }
  std::string text(const std::string& key) const {
    return typed(key, [](const c10::IValue& v) { return v.isString(); }, "a string").toStringRef();
  }
  bool flag_or(const std::string& key, bool fallback) const {
    if (!dict_.contains(key)) return fallback;
    return typed(key, [](const c10::IValue& v) { return v.isBool(); }, "true or false").toBool();
  }
  double number_or(const std::string& key, double fallback) const {
    return dict_.contains(key) ? number(key) : fallback;
  }
  int64_t integer_or(const std::string& key, int64_t fallback) const {
    return dict_.contains(key) ? integer(key) : fallback;
  }
  std::string text_or(const std::string& key, const std::string& fallback) const {
    return dict_.contains(key) ? text(key) : fallback;
  }
  torch::Tensor tensor(const std::string& key) const {
    return typed(key, [](const c10::IValue& v) { return v.isTensor(); }, "a tensor").toTensor();
  }
  Reader dict(const std::string& key) const {
    return Reader(path_, typed(key, [](const c10::IValue& v) { return v.isGenericDict(); }, "a dict").toGenericDict(),
                  where_ + key + ".");
  }
  // An optional list: `size` zeros when the key is absent (a file from before the key existed).
  std::vector<double> numbers_or_zeros(const std::string& key, size_t size) const {
    return dict_.contains(key) ? numbers(key) : std::vector<double>(size, 0.0);
  }
  // A plain list (this version's files, Python's) or a typed one (files from before the lists were plain).
  std::vector<double> numbers(const std::string& key) const {
    const auto& v = typed(key, [](const c10::IValue& v) { return v.isList(); }, "a list of numbers");
    std::vector<double> out;
    for (const c10::IValue& item : v.toListRef()) {
      if (!item.isDouble() && !item.isInt())
        throw CheckpointError("checkpoint " + path_ + ": '" + where_ + key + "' holds something not a number");
      out.push_back(item.isDouble() ? item.toDouble() : static_cast<double>(item.toInt()));
    }
    return out;
  }
  std::vector<std::string> texts(const std::string& key) const {
    const auto& v = typed(key, [](const c10::IValue& v) { return v.isList(); }, "a list of strings");
    std::vector<std::string> out;
    for (const c10::IValue& item : v.toListRef()) {
      if (!item.isString())
        throw CheckpointError("checkpoint " + path_ + ": '" + where_ + key + "' holds something not a string");
      out.push_back(item.toStringRef());
    }
    return out;
  }
  // By value: a handle copy, so `for (... : reader.dict(k).raw())` does not outlive a temporary Reader.
  GenericDict raw() const { return dict_; }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
  GenericDict dict_;
  std::string where_;
};

// An option stored by its name (name_of), back as its enum value.
template <class E>
E named(const Reader& r, const std::string& name) {
  if (auto value = from_name<E>(name)) return *value;
  throw CheckpointError("checkpoint " + r.path() + " has an unknown " + EnumNames<E>::what + " '" + name +
                           "'; it is damaged or was written by a later libtorch-resnet");
}

// Within what any preset trains at (8 to 512 pixels), so that a damaged size cannot ask for a vast input.
int64_t image_size(const Reader& r) {
  const int64_t size = r.integer("image_size");
  if (size < 8 || size > 512)
    throw CheckpointError("checkpoint " + r.path() + " states an image size of " + std::to_string(size) +
                          " pixels, outside 8-512; it is damaged");
  return size;
}

TrainOptions read_options(const Reader& r) {
  TrainOptions o;
  o.epochs = r.integer("epochs");
  o.lr = r.number("lr");
  o.batch_size = r.integer("batch_size");
  o.momentum = r.number("momentum");
  o.weight_decay = r.number("weight_decay");
  o.valid_split = r.number("valid_split");
  o.seed = static_cast<uint64_t>(r.integer("seed"));
  o.preset = named<Preset>(r, r.text("preset"));
  o.image_size = image_size(r);
  o.device = r.text("device");
  o.threads = static_cast<int>(r.integer("threads"));
  // Absent from files written before precision and memory format were options: those ran float32, auto layout.
  o.precision = named<Precision>(r, r.text_or("precision", "fp32"));
  o.memory_format = named<MemoryFormat>(r, r.text_or("memory_format", "auto"));
  o.data_dir = r.text("data_dir");
  // Absent from files written before image folders: CIFAR-10.
  o.images_dir = r.text_or("images_dir", "");
  o.limit_train = r.integer("limit_train");
  o.limit_test = r.integer("limit_test");
  o.log_every = r.integer("log_every");
  // Absent from files written before distributed training: one process.
  o.distributed.world_size = static_cast<int>(r.integer_or("world_size", 1));
  // Absent from files written before the recipe options: the article's plain SGD, which those runs trained with.
  o.decay_norm_and_bias = r.flag_or("decay_norm_and_bias", true);
  o.nesterov = r.flag_or("nesterov", false);
  o.scheduler = named<Scheduler>(r, r.text_or("scheduler", "constant"));
  o.warmup_epochs = r.number_or("warmup_epochs", 0);
  o.label_smoothing = r.number_or("label_smoothing", 0);
  o.augment = named<Augment>(r, r.text_or("augment", "none"));
  o.flip_tta = r.flag_or("flip_tta", false);
  // Absent from files written before fine-tuning: trained from scratch, every parameter.
  o.init_from = r.text_or("init", "");
  o.freeze = named<Freeze>(r, r.text_or("freeze", "none"));
  return o;
}

// The tensors tensor_checksum covers in a checkpoint, in its order: the model's (as the file lists them), the
// momentum buffers', the generators'. Entries that are not tensors are left to the readers to refuse.
std::vector<torch::Tensor> covered_tensors(const GenericDict& model, const GenericDict& momentum_state,
                                           const GenericDict& rng) {
  std::vector<torch::Tensor> out;
  for (const auto& item : model)
    if (item.value().isTensor()) out.push_back(item.value().toTensor());
  for (const auto& item : momentum_state) {
    if (!item.value().isGenericDict()) continue;
    const GenericDict entry = item.value().toGenericDict();
    const auto found = entry.find("momentum_buffer");
    if (found != entry.end() && found->value().isTensor()) out.push_back(found->value().toTensor());
  }
  for (const char* key : {"shuffle", "torch_cpu"}) {
    const auto found = rng.find(key);
    if (found != rng.end() && found->value().isTensor()) out.push_back(found->value().toTensor());
  }
  return out;
}

std::vector<torch::Tensor> values_of(const GenericDict& dict) { return covered_tensors(dict, string_dict(), string_dict()); }

void check_checksum(const Reader& r, const std::vector<torch::Tensor>& tensors, bool required) {
  if (!r.has("tensor_checksum")) {
    if (required)
      throw CheckpointError("checkpoint " + r.path() + " lacks its tensor checksum; it is damaged");
    return;
  }
  if (r.integer("tensor_checksum") != tensor_checksum(tensors))
    throw CheckpointError("checkpoint " + r.path() +
                          ": its tensors do not match the checksum written with them, so bytes changed after it was "
                          "written (a damaged disk or copy); use another checkpoint (last.pt, best.pt) or train again");
}

// The file's bytes as torch.save's format, or a CheckpointError saying it is not that.
Archive read_archive(const std::string& path) {
  check_is_file(path);
  try {
    return load_archive(path, {kWeightsRecord});
  } catch (const FileError&) {
    throw;
  } catch (const std::exception&) {
    throw CheckpointError("checkpoint " + path +
                          " cannot be read: it is truncated, damaged or not a checkpoint (a file written by "
                          "train() into <runDir>/checkpoints/ is expected)");
  }
}

c10::Dict<std::string, torch::Tensor> named_tensors(const Reader& r, const GenericDict& dict) {
  c10::Dict<std::string, torch::Tensor> out;
  for (const auto& item : dict) {
    if (!item.key().isString() || !item.value().isTensor())
      throw CheckpointError("checkpoint " + r.path() + " has a model entry that is not a named tensor");
    out.insert(item.key().toStringRef(), item.value().toTensor());
  }
  return out;
}

void read_progress(const Reader& top, RunState& state) {
  const Reader progress = top.dict("progress");
  state.epochs_done = progress.integer("epochs_done");
  state.step = progress.integer("step");
  state.partial_loss_sum = progress.number("partial_loss_sum");
  state.partial_correct = progress.number("partial_correct");
  state.partial_seconds = progress.number("partial_seconds");
  state.best_valid_accuracy = progress.number("best_valid_accuracy");
  const Reader rng = top.dict("rng");
  if (rng.at("shuffle").isTensor()) state.shuffle_rng = rng.at("shuffle").toTensor();
  if (rng.at("torch_cpu").isTensor()) state.torch_rng = rng.at("torch_cpu").toTensor();

  const Reader history = top.dict("history");
  const auto loss = history.numbers("train_loss");
  const auto accuracy = history.numbers("valid_accuracy");
  const auto seconds = history.numbers("seconds");
  const auto rate = history.numbers("images_per_second");
  const auto valid_seconds = history.numbers_or_zeros("valid_seconds", loss.size());
  if (accuracy.size() != loss.size() || seconds.size() != loss.size() || rate.size() != loss.size() ||
      valid_seconds.size() != loss.size() || static_cast<int64_t>(loss.size()) != state.epochs_done)
    throw CheckpointError("checkpoint " + top.path() + " has a history that does not match its epoch count");
  for (size_t i = 0; i < loss.size(); ++i)
    state.history.push_back(
        {static_cast<int64_t>(i) + 1, loss[i], accuracy[i], seconds[i], rate[i], valid_seconds[i]});
}

// What a file says about its data set: class names (2 to 1000), the record side, the normalisation.
void read_data_info(const Reader& r, Checkpoint& c, const char* what) {
  c.classes = r.texts("classes");
  if (c.classes.size() < 2 || c.classes.size() > 1000)
    throw CheckpointError(std::string(what) + " " + r.path() + " names " + std::to_string(c.classes.size()) +
                          " classes, outside 2-1000; it is damaged");
  c.record_side = r.integer_or("record_side", kImageSide);
  if (c.record_side < 1 || c.record_side > 4096)
    throw CheckpointError(std::string(what) + " " + r.path() + " states a record side outside 1-4096; it is damaged");
  for (const char* key : {"mean", "std"}) {
    const auto values = r.numbers(key);
    if (values.size() != 3 || !std::isfinite(values[0] + values[1] + values[2]) ||
        (key[0] == 's' && (values[0] <= 0 || values[1] <= 0 || values[2] <= 0)))
      throw CheckpointError(std::string(what) + " " + r.path() + " has a damaged " + key + " (3 finite numbers, "
                            "std above 0, expected)");
    auto& into = key[0] == 'm' ? c.normalization.mean : c.normalization.std;
    for (size_t i = 0; i < 3; ++i) into[i] = static_cast<float>(values[i]);
  }
}

GenericDict data_info_dict(const DatasetInfo& data) {
  GenericDict d = string_dict();
  d.insert("classes", plain_list(data.classes));
  d.insert("record_side", data.record_side);
  d.insert("mean", plain_list(std::vector<double>(data.normalization.mean.begin(), data.normalization.mean.end())));
  d.insert("std", plain_list(std::vector<double>(data.normalization.std.begin(), data.normalization.std.end())));
  return d;
}

Checkpoint read_checkpoint(const Reader& top) {
  const std::string& path = top.path();
  if (!top.has("format") && top.has("conv1.0.weight"))
    throw CheckpointError("checkpoint " + path +
                          " holds weights with no description of them (a state dict saved from Python, or a "
                          "weights.pt from an earlier libtorch-resnet); pass a checkpoint such as "
                          "<runDir>/checkpoints/last.pt or best.pt, or a weights.pt written by this version");
  if (top.text("format") != kFormat)
    throw CheckpointError("checkpoint " + path + " is not a libtorch-resnet checkpoint");
  const int64_t version = top.integer("format_version");
  if (version > kFormatVersion)
    throw CheckpointError("checkpoint " + path + " has format version " + std::to_string(version) +
                          ", newer than this libtorch-resnet reads (" + std::to_string(kFormatVersion) +
                          "); upgrade libtorch-resnet");
  const Reader optimizer = top.dict("optimizer");
  check_checksum(top, covered_tensors(top.dict("model").raw(), optimizer.dict("state").raw(), top.dict("rng").raw()),
                 /*required=*/version >= 2);

  Checkpoint c;
  c.path = path;
  c.libtorch_version = top.text("libtorch_version");
  c.options = read_options(top.dict("options"));
  read_progress(top, c.state);
  c.model = named_tensors(top, top.dict("model").raw());
  for (const auto& item : optimizer.dict("state").raw()) {
    const auto& entry = item.value();
    if (!item.key().isInt() || !entry.isGenericDict())
      throw CheckpointError("checkpoint " + path + " has a damaged optimizer state");
    const auto momentum = Reader(path, entry.toGenericDict(), "optimizer.state.").tensor("momentum_buffer");
    c.momentum.insert(item.key().toInt(), momentum);
  }
  // Absent from files written before image folders: CIFAR-10's.
  if (top.has("data"))
    read_data_info(top.dict("data"), c, "checkpoint");
  else
    c.classes.assign(std::begin(kClassNames), std::end(kClassNames));
  return c;
}

Checkpoint read_weights(const std::string& path, const Archive& archive) {
  const c10::IValue& record = archive.extra.at(kWeightsRecord);
  if (!record.isGenericDict() || !archive.value.isGenericDict())
    throw CheckpointError("weights file " + path + " is damaged (its description or state dict is not a dict)");
  const Reader card(path, record.toGenericDict(), std::string(kWeightsRecord) + ":");
  if (card.text("format") != kWeightsFormat) throw CheckpointError("weights file " + path + " is not libtorch-resnet's");
  if (card.integer("format_version") > kWeightsFormatVersion)
    throw CheckpointError("weights file " + path + " has a format newer than this libtorch-resnet reads; upgrade it");
  const Reader state_dict(path, archive.value.toGenericDict());
  check_checksum(card, values_of(state_dict.raw()), /*required=*/true);

  Checkpoint c;
  c.kind = Checkpoint::Kind::kWeights;
  c.path = path;
  c.libtorch_version = card.text("libtorch_version");
  c.options.preset = named<Preset>(card, card.text("preset"));
  c.options.image_size = image_size(card);
  c.options.precision = named<Precision>(card, card.text("precision"));
  c.options.memory_format = named<MemoryFormat>(card, card.text("memory_format"));
  c.options.flip_tta = card.flag_or("flip_tta", false);
  c.state.epochs_done = card.integer("epochs");
  read_data_info(card, c, "weights file");
  c.model = named_tensors(state_dict, state_dict.raw());
  return c;
}

}  // namespace

void save_checkpoint(const std::string& path, const TrainOptions& options, ResNet34& model,
                     torch::optim::SGD& optimizer, const RunState& state, const DatasetInfo& data) {
  GenericDict progress = string_dict();
  progress.insert("epochs_done", state.epochs_done);
  progress.insert("step", state.step);
  progress.insert("partial_loss_sum", state.partial_loss_sum);
  progress.insert("partial_correct", state.partial_correct);
  progress.insert("partial_seconds", state.partial_seconds);
  progress.insert("best_valid_accuracy", state.best_valid_accuracy);

  GenericDict rng = string_dict();
  rng.insert("shuffle", state.shuffle_rng.defined() ? c10::IValue(state.shuffle_rng) : c10::IValue());
  rng.insert("torch_cpu", state.torch_rng.defined() ? c10::IValue(state.torch_rng) : c10::IValue());

  const GenericDict weights = c10::impl::toGenericDict(state_dict(model));
  const GenericDict sgd = optimizer_dict(options, model, optimizer);
  GenericDict dict = string_dict();
  dict.insert("format", std::string(kFormat));
  dict.insert("format_version", kFormatVersion);
  dict.insert("libtorch_version", std::string(compat::libtorch_version()));
  dict.insert("options", options_dict(options));
  dict.insert("model", weights);
  dict.insert("optimizer", sgd);
  dict.insert("progress", progress);
  dict.insert("history", history_dict(state.history));
  dict.insert("rng", rng);
  dict.insert("data", data_info_dict(data));
  dict.insert("tensor_checksum", tensor_checksum(covered_tensors(weights, sgd.at("state").toGenericDict(), rng)));
  write_atomically(path, save_archive(dict));
}

Checkpoint load_checkpoint(const std::string& path) {
  const Archive archive = read_archive(path);
  if (archive.extra.count(kWeightsRecord) > 0) return read_weights(path, archive);
  if (!archive.value.isGenericDict())
    throw CheckpointError("checkpoint " + path + " is not a libtorch-resnet checkpoint (no dict inside)");
  return read_checkpoint(Reader(path, archive.value.toGenericDict()));
}

void restore(const Checkpoint& c, ResNet34& model, torch::optim::SGD* optimizer) {
  torch::NoGradGuard no_grad;
  const auto load = [&](const std::string& name, torch::Tensor& target) {
    auto found = c.model.find(name);
    if (found == c.model.end())
      throw CheckpointError("checkpoint " + c.path + " has no '" + name + "' for preset '" +
                               name_of(c.options.preset) + "'; the file is damaged");
    const torch::Tensor& value = found->value();
    if (value.sizes() != target.sizes())
      throw CheckpointError("checkpoint " + c.path + ": '" + name + "' has shape " + c10::str(value.sizes()) +
                               " where preset '" + name_of(c.options.preset) + "' has " +
                               c10::str(target.sizes()));
    target.copy_(value);
  };
  for (auto& item : model->named_parameters()) load(item.key(), item.value());
  for (auto& item : model->named_buffers()) load(item.key(), item.value());
  if (optimizer == nullptr) return;
  const auto params = model->parameters();
  for (const auto& item : c.momentum) {
    const int64_t i = item.key();
    if (i < 0 || i >= static_cast<int64_t>(params.size()) || item.value().sizes() != params[i].sizes())
      throw CheckpointError("checkpoint " + c.path + " has a momentum buffer that fits no parameter");
    // Shaped like the parameter (device and layout, channels-last included), as SGD would have made it.
    compat::sgd_state(*optimizer, params[i], /*create=*/true)
        ->momentum_buffer(torch::empty_like(params[i]).copy_(item.value()));
  }
}

void save_weights(const std::string& path, ResNet34& model, const TrainOptions& options, int64_t epochs_trained,
                  const DatasetInfo& data) {
  const GenericDict weights = c10::impl::toGenericDict(state_dict(model));
  GenericDict card = string_dict();
  card.insert("format", std::string(kWeightsFormat));
  card.insert("format_version", kWeightsFormatVersion);
  card.insert("libtorch_version", std::string(compat::libtorch_version()));
  card.insert("preset", std::string(name_of(options.preset)));
  card.insert("image_size", options.image_size);
  for (const auto& item : data_info_dict(data)) card.insert(item.key(), item.value());
  card.insert("precision", std::string(name_of(options.precision)));
  card.insert("memory_format", std::string(name_of(options.memory_format)));
  card.insert("flip_tta", options.flip_tta);
  card.insert("epochs", epochs_trained);
  card.insert("tensor_checksum", tensor_checksum(values_of(weights)));
  write_atomically(path, save_archive(weights, {{kWeightsRecord, card}}));
}

void publish_copy(const std::string& from, const std::string& to) {
  const std::string tmp = temporary_name(to);
  if (::link(from.c_str(), tmp.c_str()) != 0) {
    std::error_code ec;
    fs::copy_file(from, tmp, fs::copy_options::overwrite_existing, ec);
    if (ec) {
      ::unlink(tmp.c_str());
      throw FileError::from_errno(ec.value(), "cannot copy " + from + " to", tmp);
    }
  }
  if (::rename(tmp.c_str(), to.c_str()) != 0) {
    const auto error = io_error("cannot rename to", to);
    ::unlink(tmp.c_str());
    throw error;
  }
  fsync_folder(fs::path(to).parent_path());
}

int remove_stale_temporaries(const std::string& folder) {
  std::error_code ec;
  int removed = 0;
  for (const auto& entry : fs::directory_iterator(folder, ec)) {
    const std::string name = entry.path().filename().string();
    const auto mark = name.rfind(".tmp-");
    if (mark == std::string::npos) continue;
    const std::string rest = name.substr(mark + 5);  // <pid>-<n>
    const auto dash = rest.find('-');
    if (dash == std::string::npos || dash == 0) continue;
    char* end = nullptr;
    const long pid = std::strtol(rest.c_str(), &end, 10);
    if (end != rest.c_str() + dash || pid <= 0) continue;
    // Alive (or not ours to signal): leave it; it may be writing right now.
    if (::kill(static_cast<pid_t>(pid), 0) == 0 || errno != ESRCH) continue;
    if (fs::remove(entry.path(), ec)) ++removed;
  }
  return removed;
}

}  // namespace libtorch_resnet::core
