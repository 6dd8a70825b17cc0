// SPDX-License-Identifier: MIT
#include "trainer.h"

#include <chrono>
#include <cmath>
#include <filesystem>
#include <optional>
#include <sstream>
#include <stdexcept>

#include "cifar10_dataset.h"
#include "compute_mode.h"
#include "failures.h"
#include "resnet34.h"
#include "runtime.h"
#include "torch_compat.h"

namespace libtorch_resnet::core {

namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
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
  if (o.batch_size > n - n_valid)
    throw std::runtime_error("batchSize " + std::to_string(o.batch_size) + " is larger than the " +
                             std::to_string(n - n_valid) + " training records; lower batchSize or raise limitTrain");
  auto perm = torch::randperm(n, gen, torch::kInt64);
  return Splits{all_train.subset(perm.slice(0, n_valid)).to(device),
                all_train.subset(perm.slice(0, 0, n_valid)).to(device), test.to(device)};
}

// A resumed run must rebuild the same network and redraw the same batches; only the length, the device and
// where the data lives may change.
void check_resumable(const Checkpoint& c, const TrainOptions& o) {
  std::string differences;
  const auto differ = [&](const char* name, bool same) {
    if (!same) differences += std::string(differences.empty() ? "" : ", ") + name;
  };
  const TrainOptions& saved = c.options;
  differ("preset", saved.preset == o.preset);
  differ("imageSize", saved.image_size == o.image_size);
  differ("batchSize", saved.batch_size == o.batch_size);
  differ("lr", saved.lr == o.lr);
  differ("momentum", saved.momentum == o.momentum);
  differ("weightDecay", saved.weight_decay == o.weight_decay);
  differ("validSplit", saved.valid_split == o.valid_split);
  differ("seed", saved.seed == o.seed);
  differ("limitTrain", saved.limit_train == o.limit_train);
  if (!differences.empty())
    throw std::runtime_error("cannot resume from " + c.path + " with different " + differences +
                             "; leave these options out to take the checkpoint's values");
  if (o.epochs < c.state.epochs_done)
    throw std::runtime_error("checkpoint " + c.path + " has already trained " + std::to_string(c.state.epochs_done) +
                             " epochs; pass epochs of at least that to resume");
  if (!c.state.shuffle_rng.defined())
    throw std::runtime_error("checkpoint " + c.path + " has no shuffle state; the file is damaged");
}

bool parameters_finite(const torch::nn::Module& model) {
  std::vector<torch::Tensor> checks;
  for (const auto& p : model.parameters()) checks.push_back(torch::isfinite(p).all());
  return torch::stack(checks).all().item<bool>();
}

// `losses` holds the last `count` steps' losses, the last of them `step`.
[[noreturn]] void throw_non_finite(const torch::Tensor& losses, int64_t count, int64_t epoch, int64_t step,
                                   const TrainOptions& o) {
  const auto host = losses.slice(0, 0, count).to(torch::kCPU, torch::kDouble).contiguous();
  const double* values = host.data_ptr<double>();
  int64_t i = 0;
  while (i < count - 1 && std::isfinite(values[i])) ++i;
  const int64_t bad_step = step - count + 1 + i;
  std::ostringstream lr;
  lr << o.lr;
  const bool reduced = o.precision == Precision::kBf16 || o.precision == Precision::kFp16;
  throw NonFiniteLossError("the training loss became " + std::string(std::isnan(values[i]) ? "NaN" : "infinite") +
                               " at epoch " + std::to_string(epoch) + ", step " + std::to_string(bad_step) +
                               "; training stopped and no checkpoint was written for it. Lower lr (now " + lr.str() +
                               ")" + (reduced ? " or use precision 'fp32'" : "") +
                               (o.checkpoint_dir.empty() ? "" : "; the last checkpoint holds the last good epoch"),
                           epoch, bad_step);
}

}  // namespace

TrainResult train(const TrainOptions& o, const ProgressFn& on_progress, const StopToken& stop) {
  const auto run_start = Clock::now();
  const auto emit = [&](ProgressEvent e) {
    e.epochs = o.epochs;
    if (on_progress) on_progress(e);
  };
  const auto event = [](EventType type) {
    ProgressEvent e;
    e.type = type;
    return e;
  };

  // Set-up. Grad mode and thread count are per thread, so they are set here, on the training thread.
  const TrainingSlot slot("train()");
  torch::AutoGradMode grad_mode(true);
  TrainResult result;
  result.threads = use_cpu_threads(o.threads);
  const torch::Device device = resolve_device(o.device);
  ComputeMode mode(o.precision, o.memory_format, device);
  std::optional<Checkpoint> resumed;
  if (!o.resume_from.empty()) {
    resumed = load_checkpoint(o.resume_from);
    check_resumable(*resumed, o);
  }
  torch::manual_seed(o.seed);
  auto gen = at::detail::createCPUGenerator(o.seed);

  // Data
  Splits data = load_splits(o, gen, device);
  const BatchTransform transform(o.image_size, device, mode.channels_last());

  // Model, optimizer and where the run stands
  ResNet34 model(o.preset);
  model->to(device);
  mode.prepare(model);
  torch::optim::SGD optimizer(model->parameters(),
                              torch::optim::SGDOptions(o.lr).momentum(o.momentum).weight_decay(o.weight_decay));
  RunState state;
  if (resumed) {
    restore(*resumed, model, &optimizer);
    state = resumed->state;
    gen.set_state(state.shuffle_rng);
    if (state.torch_rng.defined()) {
      at::Generator global = at::detail::getDefaultCPUGenerator();  // a handle: shares the generator
      global.set_state(state.torch_rng);
    }
    resumed.reset();  // its tensors are in the model and optimizer now
  }
  result.resumed_epoch = state.epochs_done;
  result.resumed_step = state.step;

  result.parameters = count_parameters(*model);
  result.device = device.str();
  result.channels_last = mode.channels_last();
  result.libtorch_version = compat::libtorch_version();
  result.train_size = data.train.size();
  result.valid_size = data.valid.size();
  result.test_size = data.test.size();

  const int64_t n_train = data.train.size();
  const int64_t steps_per_epoch = (n_train + o.batch_size - 1) / o.batch_size;
  const int64_t log_every = std::max<int64_t>(1, o.log_every);
  {
    ProgressEvent e = event(EventType::kTrainBegin);
    e.steps_per_epoch = steps_per_epoch;
    e.samples = n_train;
    e.train_size = result.train_size;
    e.valid_size = result.valid_size;
    e.test_size = result.test_size;
    e.parameters = result.parameters;
    e.threads = result.threads;
    e.device = result.device;
    e.start_epoch = state.epochs_done;
    e.start_step = state.step;
    emit(e);
  }

  const auto checkpoint_file = [&](const char* name) {
    return o.checkpoint_dir.empty() ? std::string() : (std::filesystem::path(o.checkpoint_dir) / name).string();
  };
  if (!o.checkpoint_dir.empty()) remove_stale_temporaries(o.checkpoint_dir);
  const std::string last_path = checkpoint_file("last.pt");
  const std::string best_path = checkpoint_file("best.pt");
  const auto write_checkpoint = [&](const RunState& s) {
    if (last_path.empty()) return;
    // A diverged network must never replace the last good checkpoint.
    if (!std::isfinite(s.partial_loss_sum) || !parameters_finite(*model))
      throw NonFiniteLossError("the network's weights are no longer finite (epoch " + std::to_string(s.epochs_done + 1) +
                                   "); no checkpoint was written, " + last_path + " still holds the last good one",
                               s.epochs_done + 1, s.step);
    save_checkpoint(last_path, o, model, optimizer, s);
    result.last_checkpoint = last_path;
    ProgressEvent e = event(EventType::kCheckpoint);
    e.epoch = s.epochs_done;
    e.step = s.step;
    e.steps_per_epoch = steps_per_epoch;
    e.path = last_path;
    emit(e);
  };
  const auto cancelled = [&](const RunState& s) {
    write_checkpoint(s);
    result.status = Status::kCancelled;
    result.epochs = s.history;
    result.seconds = seconds_since(run_start);
    return result;
  };

  model->train();
  for (int64_t epoch = state.epochs_done + 1; epoch <= o.epochs; ++epoch) {
    {
      ProgressEvent e = event(EventType::kEpochBegin);
      e.epoch = epoch;
      e.steps_per_epoch = steps_per_epoch;
      e.samples = n_train;
      emit(e);
    }
    const auto epoch_start = Clock::now();
    // Drawing the permutation advances the generator; its state before the draw lets a resume redraw it.
    const torch::Tensor epoch_rng = gen.get_state();
    auto order = torch::randperm(n_train, gen, torch::kInt64).to(device);
    const int64_t first_step = epoch == state.epochs_done + 1 ? state.step + 1 : 1;
    const double earlier_seconds = first_step > 1 ? state.partial_seconds : 0.0;
    // Sums stay on the device; reading them back forces a sync, so it happens only every log_every steps.
    const auto scalar = torch::TensorOptions().dtype(torch::kFloat32).device(device);
    auto epoch_loss = torch::full({}, first_step > 1 ? state.partial_loss_sum : 0.0, scalar);
    auto epoch_correct = torch::full({}, first_step > 1 ? state.partial_correct : 0.0, scalar);
    auto window_loss = torch::zeros({}, scalar);
    auto window_correct = torch::zeros({}, scalar);
    int64_t window_images = 0;
    // Each step's loss since the last read-back, so a non-finite one can be named without a sync per step.
    auto window_step_losses = torch::zeros({std::min(log_every, steps_per_epoch)}, scalar);
    int64_t window_steps = 0;
    // Where the run stands inside this epoch, for a checkpoint written on a stop.
    const auto position = [&](int64_t steps_done) {
      RunState s = state;
      s.epochs_done = epoch - 1;
      s.step = steps_done;
      s.shuffle_rng = epoch_rng;
      s.torch_rng = at::detail::getDefaultCPUGenerator().get_state();
      s.partial_loss_sum = epoch_loss.item<double>();
      s.partial_correct = epoch_correct.item<double>();
      s.partial_seconds = earlier_seconds + seconds_since(epoch_start);
      return s;
    };

    for (int64_t step = first_step; step <= steps_per_epoch; ++step) {
      if (stop.requested()) return cancelled(position(step - 1));
      const int64_t start = (step - 1) * o.batch_size;
      const int64_t end = std::min(start + o.batch_size, n_train);
      auto idx = order.slice(0, start, end);
      auto images = transform(data.train.images().index_select(0, idx));
      auto labels = data.train.labels().index_select(0, idx);

      const auto [loss, logits] = mode.sgd_step(model, optimizer, images, labels);
      auto batch_loss_sum = loss * static_cast<double>(end - start);
      auto batch_correct = logits.argmax(1).eq(labels).sum().to(torch::kFloat32);
      epoch_loss += batch_loss_sum;
      epoch_correct += batch_correct;
      window_loss += batch_loss_sum;
      window_correct += batch_correct;
      window_images += end - start;
      window_step_losses.select(0, window_steps++).copy_(loss);

      if (step % log_every == 0 || step == steps_per_epoch) {
        ProgressEvent e = event(EventType::kBatchEnd);
        e.phase = Phase::kTrain;
        e.epoch = epoch;
        e.step = step;
        e.steps_per_epoch = steps_per_epoch;
        e.samples = n_train;
        e.loss = window_loss.item<double>() / static_cast<double>(window_images);
        if (!std::isfinite(e.loss)) throw_non_finite(window_step_losses, window_steps, epoch, step, o);
        e.accuracy = window_correct.item<double>() / static_cast<double>(window_images);
        e.images_per_second =
            static_cast<double>(end - (first_step - 1) * o.batch_size) / seconds_since(epoch_start);
        emit(e);
        window_loss.zero_();
        window_correct.zero_();
        window_images = 0;
        window_steps = 0;
      }
    }
    EpochStats stats;
    stats.epoch = epoch;
    stats.train_loss = epoch_loss.item<double>() / static_cast<double>(n_train);
    stats.seconds = earlier_seconds + seconds_since(epoch_start);
    stats.images_per_second = static_cast<double>(n_train) / stats.seconds;

    if (data.valid.size() > 0) {
      ProgressEvent e = event(EventType::kEvalBegin);
      e.phase = Phase::kValid;
      e.epoch = epoch;
      e.samples = data.valid.size();
      emit(e);
      auto valid = confusion_counts(model, data.valid, transform, o.batch_size, stop, &mode);
      if (!valid) return cancelled(position(steps_per_epoch));
      stats.valid_accuracy = accuracy_of(*valid);
    }
    state.history.push_back(stats);
    state.epochs_done = epoch;
    state.step = 0;
    state.shuffle_rng = gen.get_state();
    state.torch_rng = at::detail::getDefaultCPUGenerator().get_state();
    state.partial_loss_sum = state.partial_correct = state.partial_seconds = 0;
    const bool best = data.valid.size() > 0 && stats.valid_accuracy > state.best_valid_accuracy;
    if (best) state.best_valid_accuracy = stats.valid_accuracy;
    {
      ProgressEvent e = event(EventType::kEpochEnd);
      e.epoch = epoch;
      e.steps_per_epoch = steps_per_epoch;
      e.samples = n_train;
      e.loss = stats.train_loss;
      e.accuracy = stats.valid_accuracy;
      e.seconds = stats.seconds;
      e.images_per_second = stats.images_per_second;
      emit(e);
    }
    write_checkpoint(state);
    if (best && !last_path.empty()) {
      publish_copy(last_path, best_path);
      result.best_checkpoint = best_path;
    }
  }
  result.epochs = state.history;
  if (!o.checkpoint_dir.empty() && result.best_checkpoint.empty()) {
    // A best.pt from before a resume still stands when no later epoch beat it.
    std::error_code ec;
    if (std::filesystem::is_regular_file(best_path, ec)) result.best_checkpoint = best_path;
  }

  // Test
  {
    ProgressEvent e = event(EventType::kEvalBegin);
    e.phase = Phase::kTest;
    e.epoch = o.epochs;
    e.samples = data.test.size();
    emit(e);
  }
  auto test = confusion_counts(model, data.test, transform, o.batch_size, stop, &mode);
  if (!test) return cancelled(state);
  result.test = test_metrics(*test);
  if (!o.checkpoint_dir.empty()) {
    if (result.last_checkpoint.empty()) write_checkpoint(state);
    result.weights = checkpoint_file("weights.pt");
    save_weights(result.weights, model);
  }
  result.seconds = seconds_since(run_start);
  {
    ProgressEvent e = event(EventType::kTrainEnd);
    e.accuracy = result.test.accuracy;
    e.seconds = result.seconds;
    emit(e);
  }
  return result;
}

}  // namespace libtorch_resnet::core
