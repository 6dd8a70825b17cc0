// SPDX-License-Identifier: MIT
#include "trainer.h"

#include <chrono>
#include <cstdlib>
#include <optional>
#include <stdexcept>
#include <thread>

#include "cifar10_dataset.h"
#include "resnet34.h"
#include "torch_compat.h"

namespace libtorch_resnet::core {

namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

int default_threads() {
  if (const char* env = std::getenv("OMP_NUM_THREADS")) {
    const int n = std::atoi(env);
    if (n > 0) return n;
  }
  return static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
}

struct Splits {
  Cifar10Dataset train, valid, test;
};

// Seeded shuffle of the training records, then the first valid_split of them held out, as the article does.
Splits load_splits(const TrainOptions& o, torch::Generator& gen, const torch::Device& device) {
  auto all_train = Cifar10Dataset::load(o.data_dir, Split::kTrain, o.limit_train);
  auto test = Cifar10Dataset::load(o.data_dir, Split::kTest, o.limit_test);
  const int64_t n = all_train.size();
  const auto n_valid = static_cast<int64_t>(o.valid_split * static_cast<double>(n));
  if (n - n_valid < 1)
    throw std::runtime_error("no training records left: " + std::to_string(n) + " records with validSplit " +
                             std::to_string(o.valid_split) + "; raise limitTrain or lower validSplit");
  if (test.size() < 1) throw std::runtime_error("the test split is empty; raise limitTest");
  auto perm = torch::randperm(n, gen, torch::kInt64);
  return Splits{all_train.subset(perm.slice(0, n_valid)).to(device),
                all_train.subset(perm.slice(0, 0, n_valid)).to(device), test.to(device)};
}

// Counts [true][predicted] over a split, in eval mode with gradients off. Returns nullopt when stopped.
std::optional<torch::Tensor> confusion(ResNet34& model, const Cifar10Dataset& data, const BatchTransform& transform,
                                       int64_t batch_size, const StopToken& stop) {
  torch::NoGradGuard no_grad;
  model->eval();
  auto counts = torch::zeros({kNumClasses * kNumClasses}, data.labels().options());
  for (int64_t start = 0; start < data.size(); start += batch_size) {
    if (stop.requested()) return std::nullopt;
    const int64_t end = std::min(start + batch_size, data.size());
    auto labels = data.labels().slice(0, start, end);
    auto predicted = model->forward(transform(data.images().slice(0, start, end))).argmax(1);
    counts += torch::bincount(labels * kNumClasses + predicted, {}, kNumClasses * kNumClasses);
  }
  model->train();
  return counts.view({kNumClasses, kNumClasses}).cpu();
}

double accuracy_of(const torch::Tensor& confusion_matrix) {
  const double total = confusion_matrix.sum().item<double>();
  return total > 0 ? confusion_matrix.trace().item<double>() / total : 0.0;
}

}  // namespace

torch::Device resolve_device(const std::string& spec) {
  if (spec == "auto") return torch::cuda::is_available() ? torch::Device(torch::kCUDA, 0) : torch::Device(torch::kCPU);
  if (spec == "cpu") return torch::Device(torch::kCPU);
  if (spec.rfind("cuda", 0) == 0) {
    if (!torch::cuda::is_available())
      throw std::runtime_error("device '" + spec + "' requested but LibTorch (" + compat::libtorch_version() +
                               ") sees no CUDA device; use device: 'cpu' or 'auto'");
    torch::Device device(spec == "cuda" ? std::string("cuda:0") : spec);
    const int count = compat::cuda_device_count();
    if (device.index() >= count)
      throw std::runtime_error("device '" + spec + "' requested but only " + std::to_string(count) +
                               " CUDA device(s) are visible; use cuda:0 to cuda:" + std::to_string(count - 1));
    return device;
  }
  throw std::runtime_error("unknown device '" + spec + "'; use 'auto', 'cpu', 'cuda' or 'cuda:N'");
}

RuntimeInfo runtime_info() {
  RuntimeInfo info;
  info.libtorch_version = compat::libtorch_version();
  info.cuda_available = torch::cuda::is_available();
  info.cuda_devices = info.cuda_available ? compat::cuda_device_count() : 0;
  info.default_threads = default_threads();
  return info;
}

TrainResult train(const TrainOptions& o, const ProgressFn& on_progress, const StopToken& stop) {
  const auto run_start = Clock::now();
  const auto emit = [&](ProgressEvent e) {
    if (on_progress) on_progress(e);
  };

  // Set-up. Grad mode and thread count are per thread, so they are set here, on the training thread.
  torch::AutoGradMode grad_mode(true);
  compat::set_cpu_threads(o.threads > 0 ? o.threads : default_threads());
  const torch::Device device = resolve_device(o.device);
  if (device.is_cuda()) at::globalContext().setBenchmarkCuDNN(true);
  torch::manual_seed(o.seed);
  auto gen = at::detail::createCPUGenerator(o.seed);

  // Data
  Splits data = load_splits(o, gen, device);
  const BatchTransform transform(o.image_size, device);

  // Model and optimizer
  ResNet34 model(o.preset);
  model->to(device);
  torch::optim::SGD optimizer(model->parameters(),
                              torch::optim::SGDOptions(o.lr).momentum(o.momentum).weight_decay(o.weight_decay));

  TrainResult result;
  result.parameters = count_parameters(*model);
  result.device = device.str();
  result.libtorch_version = compat::libtorch_version();
  result.threads = at::get_num_threads();
  result.train_size = data.train.size();
  result.valid_size = data.valid.size();
  result.test_size = data.test.size();

  const int64_t n_train = data.train.size();
  const int64_t steps_per_epoch = (n_train + o.batch_size - 1) / o.batch_size;
  const int64_t log_every = std::max<int64_t>(1, o.log_every);
  {
    ProgressEvent e;
    e.type = EventType::kTrainBegin;
    e.epochs = o.epochs;
    e.steps_per_epoch = steps_per_epoch;
    e.samples = n_train;
    e.train_size = result.train_size;
    e.valid_size = result.valid_size;
    e.test_size = result.test_size;
    e.parameters = result.parameters;
    e.threads = result.threads;
    e.device = result.device;
    emit(e);
  }

  const auto cancelled = [&] {
    result.status = Status::kCancelled;
    result.seconds = seconds_since(run_start);
    return result;
  };

  model->train();
  for (int64_t epoch = 1; epoch <= o.epochs; ++epoch) {
    {
      ProgressEvent e;
      e.type = EventType::kEpochBegin;
      e.epoch = epoch;
      e.epochs = o.epochs;
      e.steps_per_epoch = steps_per_epoch;
      e.samples = n_train;
      emit(e);
    }
    const auto epoch_start = Clock::now();
    auto order = torch::randperm(n_train, gen, torch::kInt64).to(device);
    // Loss sums stay on the device; reading them back forces a sync, so it happens only every log_every steps.
    auto epoch_loss = torch::zeros({}, torch::TensorOptions().dtype(torch::kFloat32).device(device));
    auto window_loss = torch::zeros_like(epoch_loss);
    int64_t window_images = 0;

    for (int64_t step = 1; step <= steps_per_epoch; ++step) {
      if (stop.requested()) return cancelled();
      const int64_t start = (step - 1) * o.batch_size;
      const int64_t end = std::min(start + o.batch_size, n_train);
      auto idx = order.slice(0, start, end);
      auto images = transform(data.train.images().index_select(0, idx));
      auto labels = data.train.labels().index_select(0, idx);

      auto loss = torch::nn::functional::cross_entropy(model->forward(images), labels);
      optimizer.zero_grad();
      loss.backward();
      optimizer.step();

      auto batch_loss_sum = loss.detach() * static_cast<double>(end - start);
      epoch_loss += batch_loss_sum;
      window_loss += batch_loss_sum;
      window_images += end - start;

      if (step % log_every == 0 || step == steps_per_epoch) {
        ProgressEvent e;
        e.type = EventType::kBatchEnd;
        e.phase = Phase::kTrain;
        e.epoch = epoch;
        e.epochs = o.epochs;
        e.step = step;
        e.steps_per_epoch = steps_per_epoch;
        e.samples = n_train;
        e.loss = window_loss.item<double>() / static_cast<double>(window_images);
        e.images_per_second = static_cast<double>(end) / seconds_since(epoch_start);
        emit(e);
        window_loss.zero_();
        window_images = 0;
      }
    }
    EpochStats stats;
    stats.epoch = epoch;
    stats.train_loss = epoch_loss.item<double>() / static_cast<double>(n_train);
    stats.seconds = seconds_since(epoch_start);
    stats.images_per_second = static_cast<double>(n_train) / stats.seconds;

    if (data.valid.size() > 0) {
      ProgressEvent e;
      e.type = EventType::kEvalBegin;
      e.phase = Phase::kValid;
      e.epoch = epoch;
      e.epochs = o.epochs;
      e.samples = data.valid.size();
      emit(e);
      auto valid = confusion(model, data.valid, transform, o.batch_size, stop);
      if (!valid) return cancelled();
      stats.valid_accuracy = accuracy_of(*valid);
    }
    result.epochs.push_back(stats);
    {
      ProgressEvent e;
      e.type = EventType::kEpochEnd;
      e.epoch = epoch;
      e.epochs = o.epochs;
      e.steps_per_epoch = steps_per_epoch;
      e.samples = n_train;
      e.loss = stats.train_loss;
      e.accuracy = stats.valid_accuracy;
      e.seconds = stats.seconds;
      e.images_per_second = stats.images_per_second;
      emit(e);
    }
  }

  // Test
  {
    ProgressEvent e;
    e.type = EventType::kEvalBegin;
    e.phase = Phase::kTest;
    e.epochs = o.epochs;
    e.samples = data.test.size();
    emit(e);
  }
  auto test = confusion(model, data.test, transform, o.batch_size, stop);
  if (!test) return cancelled();
  result.test_accuracy = accuracy_of(*test);
  auto per_class_total = test->sum(1).to(torch::kDouble);
  auto per_class = (test->diagonal().to(torch::kDouble) / per_class_total.clamp_min(1)).contiguous();
  result.per_class_accuracy.assign(per_class.data_ptr<double>(), per_class.data_ptr<double>() + kNumClasses);
  auto counts = test->contiguous();
  for (int64_t t = 0; t < kNumClasses; ++t) {
    const int64_t* row = counts.data_ptr<int64_t>() + t * kNumClasses;
    result.confusion_matrix.emplace_back(row, row + kNumClasses);
  }
  result.seconds = seconds_since(run_start);
  {
    ProgressEvent e;
    e.type = EventType::kTrainEnd;
    e.epochs = o.epochs;
    e.accuracy = result.test_accuracy;
    e.seconds = result.seconds;
    emit(e);
  }
  return result;
}

}  // namespace libtorch_resnet::core
