// SPDX-License-Identifier: MIT
#include "evaluation.h"

#include <algorithm>
#include <chrono>
#include <stdexcept>

#include "checkpoint.h"
#include "runtime.h"
#include "torch_compat.h"

namespace libtorch_resnet::core {

namespace {

using Clock = std::chrono::steady_clock;

// Images per forward pass in predict(): bounded memory however many images are given.
constexpr int64_t kPredictBatch = 64;

// The saved network, ready for inference on `device`.
ResNet34 load_network(const Checkpoint& c, const torch::Device& device) {
  ResNet34 model(c.options.preset, static_cast<int64_t>(c.classes.size()));
  restore(c, model, nullptr);
  model->to(device);
  model->eval();
  return model;
}

// The arithmetic the checkpoint's run scored in, on `device`: its precision and memory format, so that evaluate()
// repeats the run's test accuracy; but float32 on the CPU, where bf16 is slow and fp16 is refused.
ComputeMode scoring_mode(const TrainOptions& o, const torch::Device& device) {
  const bool half = o.precision == Precision::kBf16 || o.precision == Precision::kFp16;
  return ComputeMode(!device.is_cuda() && half ? Precision::kFp32 : o.precision, o.memory_format, device);
}

}  // namespace

CheckpointSummary summary_of(const Checkpoint& c) {
  return CheckpointSummary{c.options,           c.state.epochs_done, c.state.step, c.libtorch_version,
                           c.kind == Checkpoint::Kind::kWeights, c.classes};
}

std::optional<torch::Tensor> confusion_counts(ResNet34& model, const Cifar10Dataset& data,
                                              const BatchTransform& transform, int64_t batch_size,
                                              const StopToken& stop, const ComputeMode* mode, bool flip_tta) {
  torch::NoGradGuard no_grad;
  std::optional<AutocastScope> autocast;
  if (mode != nullptr) autocast.emplace(*mode);
  model->eval();
  // The classifier's outputs: the data set's classes, whatever head the network was built with.
  const int64_t classes = model->named_parameters()["fc.bias"].size(0);
  auto counts = torch::zeros({classes * classes}, data.labels().options());
  for (int64_t start = 0; start < data.size(); start += batch_size) {
    if (stop.requested()) {
      model->train();
      return std::nullopt;
    }
    const int64_t end = std::min(start + batch_size, data.size());
    auto labels = data.labels().slice(0, start, end);
    auto images = transform(data.images().slice(0, start, end));
    auto logits = model->forward(images);
    // flip keeps the batch's memory format, so a channels-last batch stays on the channels-last convolutions.
    if (flip_tta) logits = logits + model->forward(images.flip({3}));
    auto predicted = logits.argmax(1);
    counts += torch::bincount(labels * classes + predicted, {}, classes * classes);
  }
  model->train();
  return counts.view({classes, classes}).cpu();
}

int64_t evaluation_batch_size(int64_t batch_size, int64_t image_size, const torch::Device& device) {
  if (!device.is_cuda()) return batch_size;
  return std::max<int64_t>(batch_size, image_size > 64 ? 256 : 1024);
}

double accuracy_of(const torch::Tensor& counts) {
  const double total = counts.sum().item<double>();
  return total > 0 ? counts.trace().item<double>() / total : 0.0;
}

TestMetrics test_metrics(const torch::Tensor& counts) {
  TestMetrics m;
  m.accuracy = accuracy_of(counts);
  auto per_class_total = counts.sum(1).to(torch::kDouble);
  auto per_class = (counts.diagonal().to(torch::kDouble) / per_class_total.clamp_min(1)).contiguous();
  const int64_t classes = counts.size(0);
  m.per_class_accuracy.assign(per_class.data_ptr<double>(), per_class.data_ptr<double>() + classes);
  auto rows = counts.to(torch::kInt64).contiguous();
  for (int64_t t = 0; t < classes; ++t) {
    const int64_t* row = rows.data_ptr<int64_t>() + t * classes;
    m.confusion_matrix.emplace_back(row, row + classes);
  }
  return m;
}

EvalResult evaluate(const EvalOptions& o, const ProgressFn& on_progress, const StopToken& stop) {
  const auto start = Clock::now();
  torch::NoGradGuard no_grad;
  EvalResult result;
  result.threads = use_cpu_threads(o.threads);
  const torch::Device device = resolve_device(o.device);
  const Checkpoint checkpoint = load_checkpoint(o.checkpoint);
  result.checkpoint_path = o.checkpoint;
  result.checkpoint = summary_of(checkpoint);
  result.device = device.str();
  result.libtorch_version = compat::libtorch_version();
  // By default the checkpoint is scored as its run scored it, so evaluate() repeats train()'s test accuracy.
  result.flip_tta = o.flip_tta.value_or(checkpoint.options.flip_tta);

  if (!checkpoint.options.images_dir.empty() || checkpoint.classes != cifar10_info().classes)
    throw std::runtime_error("checkpoint " + o.checkpoint + " was trained on image folders (" +
                             std::to_string(checkpoint.classes.size()) + " classes), and evaluate() scores on "
                             "CIFAR-10's test split; its test accuracy is in the training run's result and report");
  const auto test = Cifar10Dataset::load(o.data_dir, Split::kTest, o.limit_test).to(device);
  if (test.size() < 1) throw std::runtime_error("the test split is empty; raise limitTest");
  result.test_size = test.size();
  const ComputeMode mode = scoring_mode(checkpoint.options, device);
  result.precision = name_of(mode.precision());
  ResNet34 model = load_network(checkpoint, device);
  mode.prepare(model);
  const BatchTransform transform(checkpoint.options.image_size, device, mode.channels_last(),
                                 checkpoint.normalization);
  if (on_progress) {
    ProgressEvent e;
    e.type = EventType::kEvalBegin;
    e.phase = Phase::kTest;
    e.epoch = checkpoint.state.epochs_done;
    e.samples = test.size();
    on_progress(e);
  }
  auto counts = confusion_counts(model, test, transform,
                                 evaluation_batch_size(o.batch_size, checkpoint.options.image_size, device), stop,
                                 &mode, result.flip_tta);
  result.seconds = std::chrono::duration<double>(Clock::now() - start).count();
  if (!counts) {
    result.status = Status::kCancelled;
    return result;
  }
  result.test = test_metrics(*counts);
  return result;
}

PredictResult predict(const PredictOptions& o, const std::vector<Image>& images) {
  torch::NoGradGuard no_grad;
  use_cpu_threads(o.threads);
  const torch::Device device = resolve_device(o.device);
  const Checkpoint checkpoint = load_checkpoint(o.checkpoint);
  PredictResult result;
  result.checkpoint = summary_of(checkpoint);
  result.device = device.str();
  result.flip_tta = o.flip_tta.value_or(checkpoint.options.flip_tta);
  if (images.empty()) return result;

  std::vector<torch::Tensor> records;
  for (const auto& image : images) {
    if (image.height < 1 || image.width < 1 ||
        static_cast<int64_t>(image.rgb.size()) != image.height * image.width * 3)
      throw std::runtime_error("an image's pixels do not match its size (" + std::to_string(image.width) + "x" +
                               std::to_string(image.height) + ")");
    // from_blob does not own the bytes; to_cifar_image copies them.
    auto rgb = torch::from_blob(const_cast<uint8_t*>(image.rgb.data()), {image.height, image.width, 3}, torch::kUInt8);
    records.push_back(to_cifar_image(rgb, checkpoint.record_side));
  }
  ResNet34 model = load_network(checkpoint, device);
  const BatchTransform transform(checkpoint.options.image_size, device, false, checkpoint.normalization,
                                 checkpoint.record_side);
  const auto batch = torch::stack(records);
  for (int64_t start = 0; start < batch.size(0); start += kPredictBatch) {
    auto chunk = transform(batch.slice(0, start, std::min(start + kPredictBatch, batch.size(0))).to(device));
    auto logits = model->forward(chunk);
    // The mean, not the sum, of the two: the probabilities stay as sharp as one view's.
    if (result.flip_tta) logits = (logits + model->forward(chunk.flip({3}))) / 2;
    auto probabilities = torch::softmax(logits, 1).to(torch::kDouble).cpu().contiguous();
    for (int64_t i = 0; i < probabilities.size(0); ++i) {
      const int64_t classes = probabilities.size(1);
      const double* row = probabilities.data_ptr<double>() + i * classes;
      result.probabilities.emplace_back(row, row + classes);
    }
  }
  return result;
}

}  // namespace libtorch_resnet::core
