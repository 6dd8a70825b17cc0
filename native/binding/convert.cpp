// SPDX-License-Identifier: MIT
#include "convert.h"

#include <string>

namespace libtorch_resnet::binding {

namespace {

int64_t get_int(const Napi::Object& o, const char* key) { return o.Get(key).As<Napi::Number>().Int64Value(); }
double get_double(const Napi::Object& o, const char* key) { return o.Get(key).As<Napi::Number>().DoubleValue(); }
std::string get_string(const Napi::Object& o, const char* key) { return o.Get(key).As<Napi::String>().Utf8Value(); }

Napi::Array to_js_array(Napi::Env env, const std::vector<double>& values) {
  Napi::Array array = Napi::Array::New(env, values.size());
  for (size_t i = 0; i < values.size(); ++i) array.Set(i, Napi::Number::New(env, values[i]));
  return array;
}

}  // namespace

core::Preset to_preset(const Napi::Value& value) {
  return value.As<Napi::String>().Utf8Value() == "cifar" ? core::Preset::kCifar : core::Preset::kArticle;
}

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
  t.data_dir = get_string(o, "dataDir");
  t.limit_train = get_int(o, "limitTrain");
  t.limit_test = get_int(o, "limitTest");
  t.log_every = get_int(o, "logEvery");
  return t;
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
      break;
    case EventType::kEpochBegin:
      num("epoch", e.epoch);
      num("epochs", e.epochs);
      num("stepsPerEpoch", e.steps_per_epoch);
      break;
    case EventType::kBatchEnd:
      o.Set("phase", core::phase_name(e.phase));
      num("epoch", e.epoch);
      num("epochs", e.epochs);
      num("step", e.step);
      num("stepsPerEpoch", e.steps_per_epoch);
      num("loss", e.loss);
      num("imagesPerSecond", e.images_per_second);
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
      break;
    case EventType::kTrainEnd:
      num("testAccuracy", e.accuracy);
      num("seconds", e.seconds);
      break;
  }
  return o;
}

Napi::Object to_js(Napi::Env env, const core::TrainResult& r) {
  Napi::Object o = Napi::Object::New(env);
  o.Set("status", r.status == core::Status::kCompleted ? "completed" : "cancelled");
  Napi::Array epochs = Napi::Array::New(env, r.epochs.size());
  for (size_t i = 0; i < r.epochs.size(); ++i) {
    const core::EpochStats& s = r.epochs[i];
    Napi::Object e = Napi::Object::New(env);
    e.Set("epoch", Napi::Number::New(env, static_cast<double>(s.epoch)));
    e.Set("trainLoss", Napi::Number::New(env, s.train_loss));
    e.Set("validAccuracy", Napi::Number::New(env, s.valid_accuracy));
    e.Set("seconds", Napi::Number::New(env, s.seconds));
    e.Set("imagesPerSecond", Napi::Number::New(env, s.images_per_second));
    epochs.Set(i, e);
  }
  o.Set("epochs", epochs);
  o.Set("testAccuracy", Napi::Number::New(env, r.test_accuracy));
  o.Set("perClassAccuracy", to_js_array(env, r.per_class_accuracy));
  Napi::Array matrix = Napi::Array::New(env, r.confusion_matrix.size());
  for (size_t i = 0; i < r.confusion_matrix.size(); ++i)
    matrix.Set(i, to_js_array(env, std::vector<double>(r.confusion_matrix[i].begin(), r.confusion_matrix[i].end())));
  o.Set("confusionMatrix", matrix);
  o.Set("parameters", Napi::Number::New(env, static_cast<double>(r.parameters)));
  o.Set("device", r.device);
  o.Set("libtorchVersion", r.libtorch_version);
  o.Set("threads", Napi::Number::New(env, r.threads));
  o.Set("trainSize", Napi::Number::New(env, static_cast<double>(r.train_size)));
  o.Set("validSize", Napi::Number::New(env, static_cast<double>(r.valid_size)));
  o.Set("testSize", Napi::Number::New(env, static_cast<double>(r.test_size)));
  o.Set("seconds", Napi::Number::New(env, r.seconds));
  return o;
}

Napi::Object to_js(Napi::Env env, const core::RuntimeInfo& info) {
  Napi::Object o = Napi::Object::New(env);
  o.Set("libtorchVersion", info.libtorch_version);
  o.Set("cudaAvailable", info.cuda_available);
  o.Set("cudaDevices", Napi::Number::New(env, info.cuda_devices));
  o.Set("threads", Napi::Number::New(env, info.default_threads));
  return o;
}

}  // namespace libtorch_resnet::binding
