// SPDX-License-Identifier: MIT
#include "convert.h"

#include <array>
#include <cstring>
#include <iterator>
#include <optional>
#include <stdexcept>
#include <string>

#include "../core/cifar10_dataset.h"

namespace libtorch_resnet::binding {

namespace {

// lib/config/ has checked the names; an unknown one here is a caller bypassing it.
template <class E>
E to_enum(const std::string& name) {
  if (auto v = core::from_name<E>(name)) return *v;
  throw std::invalid_argument("unknown " + std::string(core::EnumNames<E>::what) + " '" + name + "'; use " +
                              core::names_of<E>());
}

int64_t get_int(const Napi::Object& o, const char* key) { return o.Get(key).As<Napi::Number>().Int64Value(); }
double get_double(const Napi::Object& o, const char* key) { return o.Get(key).As<Napi::Number>().DoubleValue(); }
std::string get_string(const Napi::Object& o, const char* key) { return o.Get(key).As<Napi::String>().Utf8Value(); }

std::string get_string_or(const Napi::Object& o, const char* key, const char* fallback) {
  const Napi::Value value = o.Get(key);
  return value.IsString() ? value.As<Napi::String>().Utf8Value() : std::string(fallback);
}
// cudaGraph: 'auto', 'on' or 'off'; 'auto' when absent (callers from before the option).
core::CudaGraph get_cuda_graph(const Napi::Object& o) {
  const Napi::Value v = o.Get("cudaGraph");
  return v.IsString() ? to_enum<core::CudaGraph>(v.As<Napi::String>().Utf8Value()) : core::CudaGraph::kAuto;
}

// A boolean, or nullopt when the key is absent or null.
std::optional<bool> get_optional_bool(const Napi::Object& o, const char* key) {
  const Napi::Value v = o.Get(key);
  if (v.IsUndefined() || v.IsNull()) return std::nullopt;
  return v.ToBoolean().Value();
}

template <class T>
Napi::Array to_js_array(Napi::Env env, const std::vector<T>& values) {
  Napi::Array array = Napi::Array::New(env, values.size());
  for (size_t i = 0; i < values.size(); ++i) array.Set(i, Napi::Number::New(env, static_cast<double>(values[i])));
  return array;
}

Napi::Array to_js_strings(Napi::Env env, const std::vector<std::string>& values) {
  Napi::Array array = Napi::Array::New(env, values.size());
  for (size_t i = 0; i < values.size(); ++i) array.Set(static_cast<uint32_t>(i), values[i]);
  return array;
}

// 'checkpoint' (a run's whole state) or 'weights' (weights.pt), as lib/ names the two kinds of file.
const char* kind_of(const core::CheckpointSummary& c) { return c.weights_only ? "weights" : "checkpoint"; }

Napi::Number number(Napi::Env env, double value) { return Napi::Number::New(env, value); }

Napi::Array to_js(Napi::Env env, const std::vector<core::EpochStats>& history) {
  Napi::Array epochs = Napi::Array::New(env, history.size());
  for (size_t i = 0; i < history.size(); ++i) {
    const core::EpochStats& s = history[i];
    Napi::Object e = Napi::Object::New(env);
    e.Set("epoch", number(env, static_cast<double>(s.epoch)));
    e.Set("trainLoss", number(env, s.train_loss));
    e.Set("validAccuracy", number(env, s.valid_accuracy));
    e.Set("seconds", number(env, s.seconds));
    e.Set("validSeconds", number(env, s.valid_seconds));
    e.Set("imagesPerSecond", number(env, s.images_per_second));
    epochs.Set(i, e);
  }
  return epochs;
}

// testAccuracy, perClassAccuracy, confusionMatrix: shared by the results of train and evaluate.
void set_test_metrics(Napi::Env env, Napi::Object& o, const core::TestMetrics& m) {
  o.Set("testAccuracy", number(env, m.accuracy));
  o.Set("perClassAccuracy", to_js_array(env, m.per_class_accuracy));
  Napi::Array matrix = Napi::Array::New(env, m.confusion_matrix.size());
  for (size_t i = 0; i < m.confusion_matrix.size(); ++i) matrix.Set(i, to_js_array(env, m.confusion_matrix[i]));
  o.Set("confusionMatrix", matrix);
}

Napi::Object to_js(Napi::Env env, const core::CheckpointSummary& c) {
  Napi::Object o = Napi::Object::New(env);
  o.Set("options", binding::to_js(env, c.options));  // declared in convert.h, outside this namespace
  o.Set("epochsDone", number(env, static_cast<double>(c.epochs_done)));
  o.Set("step", number(env, static_cast<double>(c.step)));
  o.Set("libtorchVersion", c.libtorch_version);
  o.Set("kind", kind_of(c));
  o.Set("classes", to_js_strings(env, c.classes));
  return o;
}

}  // namespace

Napi::Object to_js(Napi::Env env, const core::TrainOptions& t) {
  Napi::Object o = Napi::Object::New(env);
  o.Set("epochs", number(env, static_cast<double>(t.epochs)));
  o.Set("lr", number(env, t.lr));
  o.Set("batchSize", number(env, static_cast<double>(t.batch_size)));
  o.Set("momentum", number(env, t.momentum));
  o.Set("weightDecay", number(env, t.weight_decay));
  o.Set("validSplit", number(env, t.valid_split));
  o.Set("seed", number(env, static_cast<double>(t.seed)));
  o.Set("preset", core::name_of(t.preset));
  o.Set("imageSize", number(env, static_cast<double>(t.image_size)));
  o.Set("device", t.device);
  o.Set("threads", number(env, t.threads));
  o.Set("precision", core::name_of(t.precision));
  o.Set("memoryFormat", core::name_of(t.memory_format));
  o.Set("dataDir", t.data_dir);
  o.Set("limitTrain", number(env, static_cast<double>(t.limit_train)));
  o.Set("limitTest", number(env, static_cast<double>(t.limit_test)));
  o.Set("logEvery", number(env, static_cast<double>(t.log_every)));
  o.Set("worldSize", number(env, t.distributed.world_size));
  o.Set("decayNormAndBias", t.decay_norm_and_bias);
  o.Set("nesterov", t.nesterov);
  o.Set("scheduler", core::name_of(t.scheduler));
  o.Set("warmupEpochs", number(env, t.warmup_epochs));
  o.Set("labelSmoothing", number(env, t.label_smoothing));
  o.Set("augment", core::name_of(t.augment));
  o.Set("flipTta", t.flip_tta);
  // Fine-tuning.
  o.Set("init", t.init_from);
  o.Set("freeze", core::name_of(t.freeze));
  // Image folders: "" for CIFAR-10.
  o.Set("images", t.images_dir);
  return o;
}

core::Augment to_augment(const Napi::Value& value) { return to_enum<core::Augment>(value.As<Napi::String>().Utf8Value()); }

core::Preset to_preset(const Napi::Value& value) { return to_enum<core::Preset>(value.As<Napi::String>().Utf8Value()); }

core::TrainOptions to_train_options(const Napi::Object& o) {
  core::TrainOptions t;
  t.epochs = get_int(o, "epochs");
  t.lr = get_double(o, "lr");
  t.batch_size = get_int(o, "batchSize");
  t.momentum = get_double(o, "momentum");
  t.weight_decay = get_double(o, "weightDecay");
  t.valid_split = get_double(o, "validSplit");
  t.seed = static_cast<uint64_t>(get_int(o, "seed"));
  t.preset = to_preset(o.Get("preset"));
  t.image_size = get_int(o, "imageSize");
  t.device = get_string(o, "device");
  t.threads = static_cast<int>(get_int(o, "threads"));
  t.precision = to_enum<core::Precision>(get_string(o, "precision"));
  t.memory_format = to_enum<core::MemoryFormat>(get_string(o, "memoryFormat"));
  t.data_dir = get_string(o, "dataDir");
  t.limit_train = get_int(o, "limitTrain");
  t.limit_test = get_int(o, "limitTest");
  t.log_every = get_int(o, "logEvery");
  t.decay_norm_and_bias = o.Get("decayNormAndBias").ToBoolean().Value();
  t.nesterov = o.Get("nesterov").ToBoolean().Value();
  t.scheduler = to_enum<core::Scheduler>(get_string(o, "scheduler"));
  t.warmup_epochs = get_double(o, "warmupEpochs");
  t.label_smoothing = get_double(o, "labelSmoothing");
  t.augment = to_enum<core::Augment>(get_string(o, "augment"));
  t.flip_tta = o.Get("flipTta").ToBoolean().Value();
  t.cuda_graph = get_cuda_graph(o);
  t.checkpoint_dir = get_string(o, "checkpointDir");
  t.resume_from = get_string(o, "resumeFrom");
  // Fine-tuning; absent: from scratch, every parameter trained.
  if (o.Get("initFrom").IsString()) t.init_from = get_string(o, "initFrom");
  if (o.Get("freeze").IsString()) t.freeze = to_enum<core::Freeze>(get_string(o, "freeze"));
  // Image folders: absent or "" for CIFAR-10.
  t.images_dir = get_string_or(o, "images", "");
  t.images_train_cache = get_string_or(o, "imagesTrainCache", "");
  t.images_valid_cache = get_string_or(o, "imagesValidCache", "");
  t.images_test_cache = get_string_or(o, "imagesTestCache", "");
  // Absent or null: one process.
  const Napi::Value distributed = o.Get("distributed");
  if (distributed.IsObject()) {
    const auto d = distributed.As<Napi::Object>();
    t.distributed.enabled = true;
    t.distributed.world_size = static_cast<int>(get_int(d, "worldSize"));
    t.distributed.rank = static_cast<int>(get_int(d, "rank"));
    t.distributed.local_rank = static_cast<int>(get_int(d, "localRank"));
    t.distributed.master_addr = get_string(d, "masterAddr");
    t.distributed.master_port = static_cast<int>(get_int(d, "masterPort"));
    t.distributed.backend = to_enum<core::Backend>(get_string(d, "backend"));
    t.distributed.timeout_seconds = get_double(d, "timeoutSeconds");
    t.distributed.check_replicas = d.Get("checkReplicas").ToBoolean().Value();
  }
  return t;
}

core::EvalOptions to_eval_options(const Napi::Object& o) {
  core::EvalOptions e;
  e.checkpoint = get_string(o, "checkpoint");
  e.data_dir = get_string(o, "dataDir");
  e.limit_test = get_int(o, "limitTest");
  e.batch_size = get_int(o, "batchSize");
  e.device = get_string(o, "device");
  e.threads = static_cast<int>(get_int(o, "threads"));
  e.flip_tta = get_optional_bool(o, "flipTta");
  return e;
}

core::PredictOptions to_predict_options(const Napi::Object& o) {
  core::PredictOptions p;
  p.checkpoint = get_string(o, "checkpoint");
  p.device = get_string(o, "device");
  p.threads = static_cast<int>(get_int(o, "threads"));
  p.flip_tta = get_optional_bool(o, "flipTta");
  return p;
}

core::BenchOptions to_bench_options(const Napi::Object& o) {
  core::BenchOptions b;
  b.preset = to_preset(o.Get("preset"));
  b.image_size = get_int(o, "imageSize");
  b.batch_size = get_int(o, "batchSize");
  b.steps = get_int(o, "steps");
  b.warmup = get_int(o, "warmup");
  b.device = get_string(o, "device");
  b.threads = static_cast<int>(get_int(o, "threads"));
  b.precision = to_enum<core::Precision>(get_string(o, "precision"));
  b.memory_format = to_enum<core::MemoryFormat>(get_string(o, "memoryFormat"));
  b.data_dir = get_string(o, "dataDir");
  b.cuda_graph = get_cuda_graph(o);
  return b;
}

std::vector<core::Image> to_images(const Napi::Array& images) {
  std::vector<core::Image> out;
  for (uint32_t i = 0; i < images.Length(); ++i) {
    const Napi::Object image = images.Get(i).As<Napi::Object>();
    const auto data = image.Get("data").As<Napi::Uint8Array>();
    core::Image converted;
    converted.width = get_int(image, "width");
    converted.height = get_int(image, "height");
    converted.rgb.assign(data.Data(), data.Data() + data.ByteLength());
    out.push_back(std::move(converted));
  }
  return out;
}

Napi::Object to_js(Napi::Env env, const core::ProgressEvent& e) {
  using core::EventType;
  Napi::Object o = Napi::Object::New(env);
  const auto num = [&](const char* key, double value) { o.Set(key, Napi::Number::New(env, value)); };
  o.Set("type", core::event_type_name(e.type));
  switch (e.type) {
    case EventType::kTrainBegin:
      num("epochs", e.epochs);
      num("stepsPerEpoch", e.steps_per_epoch);
      num("trainSize", e.train_size);
      num("validSize", e.valid_size);
      num("testSize", e.test_size);
      num("parameters", e.parameters);
      num("threads", e.threads);
      o.Set("device", e.device);
      num("worldSize", e.world_size);
      num("rank", e.rank);
      num("startEpoch", e.start_epoch);
      num("startStep", e.start_step);
      break;
    case EventType::kEpochBegin:
      num("epoch", e.epoch);
      num("epochs", e.epochs);
      num("stepsPerEpoch", e.steps_per_epoch);
      break;
    case EventType::kStep:
      num("epoch", e.epoch);
      num("epochs", e.epochs);
      num("step", e.step);
      num("stepsPerEpoch", e.steps_per_epoch);
      num("seconds", e.seconds);
      break;
    case EventType::kBatchEnd:
      o.Set("phase", core::phase_name(e.phase));
      num("epoch", e.epoch);
      num("epochs", e.epochs);
      num("step", e.step);
      num("stepsPerEpoch", e.steps_per_epoch);
      num("loss", e.loss);
      num("accuracy", e.accuracy);
      num("imagesPerSecond", e.images_per_second);
      num("lr", e.lr);
      if (e.weights_checksum != 0) num("weightsChecksum", e.weights_checksum);
      break;
    case EventType::kEvalBegin:
      o.Set("phase", core::phase_name(e.phase));
      num("epoch", e.epoch);
      num("samples", e.samples);
      break;
    case EventType::kEpochEnd:
      num("epoch", e.epoch);
      num("epochs", e.epochs);
      num("trainLoss", e.loss);
      num("validAccuracy", e.accuracy);
      num("seconds", e.seconds);
      num("imagesPerSecond", e.images_per_second);
      num("validSeconds", e.valid_seconds);
      break;
    case EventType::kCheckpoint:
      o.Set("path", e.path);
      num("epoch", e.epoch);
      num("step", e.step);
      num("stepsPerEpoch", e.steps_per_epoch);
      break;
    case EventType::kTrainEnd:
      num("testAccuracy", e.accuracy);
      num("seconds", e.seconds);
      break;
  }
  return o;
}

// The public TrainResult (lib/train.ts) as it is, plus status; the run folder is the caller's to add.
Napi::Object to_js(Napi::Env env, const core::TrainResult& r) {
  Napi::Object o = Napi::Object::New(env);
  o.Set("status", r.status == core::Status::kCompleted ? "completed" : "cancelled");
  o.Set("epochs", to_js(env, r.epochs));
  set_test_metrics(env, o, r.test);
  o.Set("classes", to_js_strings(env, r.classes));
  o.Set("parameters", number(env, static_cast<double>(r.parameters)));
  o.Set("device", r.device);
  o.Set("libtorchVersion", r.libtorch_version);
  o.Set("threads", number(env, r.threads));
  o.Set("precision", r.precision);
  o.Set("memoryFormat", core::name_of(r.channels_last ? core::MemoryFormat::kChannelsLast : core::MemoryFormat::kContiguous));
  o.Set("trainSize", number(env, static_cast<double>(r.train_size)));
  o.Set("validSize", number(env, static_cast<double>(r.valid_size)));
  o.Set("testSize", number(env, static_cast<double>(r.test_size)));
  o.Set("seconds", number(env, r.seconds));
  o.Set("testSeconds", number(env, r.test_seconds));
  o.Set("cudaGraph", Napi::Boolean::New(env, r.cuda_graph));
  o.Set("worldSize", number(env, r.world_size));
  o.Set("rank", number(env, r.rank));
  // Optional fields are left out, not empty.
  if (!r.backend.empty()) o.Set("backend", r.backend);
  if (!r.last_checkpoint.empty()) {
    Napi::Object files = Napi::Object::New(env);
    files.Set("last", r.last_checkpoint);
    if (!r.best_checkpoint.empty()) files.Set("best", r.best_checkpoint);
    files.Set("weights", r.weights);
    o.Set("checkpoints", files);
  }
  if (!r.resumed_from.empty()) {
    Napi::Object from = Napi::Object::New(env);
    from.Set("checkpoint", r.resumed_from);
    from.Set("epoch", number(env, static_cast<double>(r.resumed_epoch)));
    from.Set("step", number(env, static_cast<double>(r.resumed_step)));
    o.Set("resumedFrom", from);
  }
  // Fine-tuning: where the weights started from.
  if (!r.init_from.empty()) {
    Napi::Object init = Napi::Object::New(env);
    init.Set("from", r.init_from);
    init.Set("headReplaced", r.init_head_replaced);
    o.Set("init", init);
  }
  return o;
}

// The public EvalResult (lib/evaluate.ts) as it is, plus status: the class names and what the file says of
// itself come from the checkpoint.
Napi::Object to_js(Napi::Env env, const core::EvalResult& r) {
  Napi::Object o = Napi::Object::New(env);
  o.Set("status", r.status == core::Status::kCompleted ? "completed" : "cancelled");
  set_test_metrics(env, o, r.test);
  o.Set("classes", to_js_strings(env, r.checkpoint.classes));
  o.Set("testSize", number(env, static_cast<double>(r.test_size)));
  o.Set("device", r.device);
  o.Set("libtorchVersion", r.libtorch_version);
  o.Set("threads", number(env, r.threads));
  o.Set("seconds", number(env, r.seconds));
  o.Set("flipTta", r.flip_tta);
  o.Set("precision", r.precision);
  Napi::Object summary = Napi::Object::New(env);
  summary.Set("path", r.checkpoint_path);
  summary.Set("kind", kind_of(r.checkpoint));
  summary.Set("preset", core::name_of(r.checkpoint.options.preset));
  summary.Set("imageSize", number(env, static_cast<double>(r.checkpoint.options.image_size)));
  summary.Set("epochsDone", number(env, static_cast<double>(r.checkpoint.epochs_done)));
  summary.Set("libtorchVersion", r.checkpoint.libtorch_version);
  o.Set("checkpoint", summary);
  return o;
}

Napi::Object to_js(Napi::Env env, const core::PredictResult& r) {
  Napi::Object o = Napi::Object::New(env);
  Napi::Array rows = Napi::Array::New(env, r.probabilities.size());
  for (size_t i = 0; i < r.probabilities.size(); ++i) rows.Set(i, to_js_array(env, r.probabilities[i]));
  o.Set("probabilities", rows);
  o.Set("device", r.device);
  o.Set("flipTta", r.flip_tta);
  o.Set("checkpoint", to_js(env, r.checkpoint));
  return o;
}

Napi::Object to_js(Napi::Env env, const core::Checkpoint& c) {
  Napi::Object o = to_js(env, core::summary_of(c));
  o.Set("history", to_js(env, c.state.history));
  o.Set("bestValidAccuracy", number(env, c.state.best_valid_accuracy));
  return o;
}

Napi::Object to_js(Napi::Env env, const core::BenchResult& r) {
  Napi::Object o = Napi::Object::New(env);
  o.Set("status", r.status == core::Status::kCompleted ? "completed" : "cancelled");
  o.Set("imagesPerSecond", number(env, r.images_per_second));
  o.Set("secondsPerStep", number(env, r.seconds_per_step));
  o.Set("dataBatchesPerSecond", number(env, r.data_batches_per_second));
  o.Set("dataFraction", number(env, r.data_fraction));
  o.Set("trainFlopsPerImage", number(env, r.train_flops_per_image));
  o.Set("flopsPerSecond", number(env, r.flops_per_second));
  o.Set("channelsLast", Napi::Boolean::New(env, r.channels_last));
  o.Set("cudaGraph", Napi::Boolean::New(env, r.cuda_graph));
  o.Set("hostSecondsPerStep", number(env, r.host_seconds_per_step));
  o.Set("gpuSecondsPerStep", number(env, r.gpu_seconds_per_step));
  o.Set("parameters", number(env, static_cast<double>(r.parameters)));
  o.Set("device", r.device);
  o.Set("libtorchVersion", r.libtorch_version);
  o.Set("threads", number(env, r.threads));
  return o;
}

Napi::Object to_js(Napi::Env env, const core::RuntimeInfo& info) {
  Napi::Object o = Napi::Object::New(env);
  o.Set("libtorchVersion", info.libtorch_version);
  o.Set("cudaAvailable", info.cuda_available);
  o.Set("cudaDevices", Napi::Number::New(env, info.cuda_devices));
  o.Set("threads", Napi::Number::New(env, info.default_threads));
  Napi::Array backends = Napi::Array::New(env, info.distributed_backends.size());
  for (size_t i = 0; i < info.distributed_backends.size(); ++i) backends.Set(i, info.distributed_backends[i]);
  o.Set("distributedBackends", backends);
  o.Set("cudaRuntimeVersion", Napi::Number::New(env, static_cast<double>(info.cuda_runtime_version)));
  o.Set("cudnnVersion", Napi::Number::New(env, static_cast<double>(info.cudnn_version)));
  o.Set("cxx11Abi", Napi::Number::New(env, info.cxx11_abi));
  return o;
}

namespace {

// A Float32Array, or a BigInt64Array for int64, holding a copy of the tensor's bytes.
Napi::Value typed_copy(Napi::Env env, const torch::Tensor& t) {
  const size_t count = static_cast<size_t>(t.numel());
  if (t.scalar_type() == torch::kInt64) {
    auto array = Napi::BigInt64Array::New(env, count);
    std::memcpy(array.Data(), t.data_ptr<int64_t>(), count * sizeof(int64_t));
    return array;
  }
  auto array = Napi::Float32Array::New(env, count);
  std::memcpy(array.Data(), t.data_ptr<float>(), count * sizeof(float));
  return array;
}

Napi::Array floats(Napi::Env env, const std::array<float, 3>& values) {
  Napi::Array a = Napi::Array::New(env, values.size());
  for (size_t i = 0; i < values.size(); ++i) a.Set(i, Napi::Number::New(env, values[i]));
  return a;
}

}  // namespace

Napi::Object to_js(Napi::Env env, const core::ModelContents& m) {
  Napi::Object o = Napi::Object::New(env);
  o.Set("preset", core::name_of(m.preset));
  o.Set("imageSize", Napi::Number::New(env, static_cast<double>(m.image_size)));
  o.Set("recordSide", Napi::Number::New(env, static_cast<double>(m.record_side)));
  Napi::Array classes = Napi::Array::New(env, m.classes.size());
  for (size_t i = 0; i < m.classes.size(); ++i) classes.Set(i, m.classes[i]);
  o.Set("classes", classes);
  o.Set("mean", floats(env, m.normalization.mean));
  o.Set("std", floats(env, m.normalization.std));
  Napi::Array tensors = Napi::Array::New(env, m.tensors.size());
  for (size_t i = 0; i < m.tensors.size(); ++i) {
    const auto& t = m.tensors[i];
    Napi::Object entry = Napi::Object::New(env);
    entry.Set("name", t.name);
    Napi::Array shape = Napi::Array::New(env, t.data.dim());
    for (int64_t d = 0; d < t.data.dim(); ++d)
      shape.Set(static_cast<uint32_t>(d), Napi::Number::New(env, static_cast<double>(t.data.size(d))));
    entry.Set("shape", shape);
    entry.Set("dtype", t.data.scalar_type() == torch::kInt64 ? "int64" : "float32");
    entry.Set("data", typed_copy(env, t.data));
    tensors.Set(i, entry);
  }
  o.Set("tensors", tensors);
  return o;
}

}  // namespace libtorch_resnet::binding
