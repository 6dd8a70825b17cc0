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
#include "distributed.h"
#include "failures.h"
#include "recipe.h"
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
  // A split smaller than one batch trains in one smaller batch each epoch, as a DataLoader would: quick runs on a
  // few records keep working with the cifar recipe's batch of 512.
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
  differ("nesterov", saved.nesterov == o.nesterov);
  differ("decayNormAndBias", saved.decay_norm_and_bias == o.decay_norm_and_bias);
  differ("scheduler", saved.scheduler == o.scheduler);
  differ("warmupEpochs", saved.warmup_epochs == o.warmup_epochs);
  differ("labelSmoothing", saved.label_smoothing == o.label_smoothing);
  differ("augment", saved.augment == o.augment);
  // A schedule is laid over the run's length: more epochs would bend the course the first part followed.
  if (saved.scheduler != Scheduler::kConstant || saved.warmup_epochs > 0) differ("epochs", saved.epochs == o.epochs);
  const int world = o.distributed.enabled ? o.distributed.world_size : 1;
  if (c.state.step > 0 && c.options.distributed.world_size != world)
    throw std::runtime_error("checkpoint " + c.path + " stopped in the middle of an epoch of a run of " +
                             std::to_string(c.options.distributed.world_size) + " process(es); resume it with " +
                             std::to_string(c.options.distributed.world_size) + " (its steps are steps of each "
                             "process's shard), or from a checkpoint written at the end of an epoch");
  if (!differences.empty())
    throw std::runtime_error("cannot resume from " + c.path + " with different " + differences +
                             "; leave these options out to take the checkpoint's values");
  if (o.epochs < c.state.epochs_done)
    throw std::runtime_error("checkpoint " + c.path + " has already trained " + std::to_string(c.state.epochs_done) +
                             " epochs; pass epochs of at least that to resume");
  if (!c.state.shuffle_rng.defined())
    throw std::runtime_error("checkpoint " + c.path + " has no shuffle state; the file is damaged");
}

// The device a rank trains on: "auto" and "cuda" mean its own GPU, cuda:<local_rank>, as torchrun users expect.
torch::Device device_for(const TrainOptions& o) {
  const torch::Device device = resolve_device(o.device);
  if (o.distributed.enabled && device.is_cuda() && (o.device == "auto" || o.device == "cuda"))
    return resolve_device("cuda:" + std::to_string(o.distributed.local_rank));
  return device;
}

// A checksum of the weights that is the same on two ranks exactly when their weights are.
torch::Tensor weights_checksum(const torch::nn::Module& model) {
  std::vector<torch::Tensor> sums;
  for (const auto& p : model.parameters()) sums.push_back(p.detach().to(torch::kDouble).sum());
  return torch::stack(sums).sum();
}

bool parameters_finite(const torch::nn::Module& model) {
  std::vector<torch::Tensor> checks;
  for (const auto& p : model.parameters()) checks.push_back(torch::isfinite(p).all());
  return torch::stack(checks).all().item<bool>();
}

// `losses` holds the last `count` steps' losses, the last of them `step`.
[[noreturn]] void throw_non_finite(const torch::Tensor& losses, int64_t count, int64_t epoch, int64_t step,
                                   const TrainOptions& o, Precision precision) {
  const auto host = losses.slice(0, 0, count).to(torch::kCPU, torch::kDouble).contiguous();
  const double* values = host.data_ptr<double>();
  int64_t i = 0;
  while (i < count - 1 && std::isfinite(values[i])) ++i;
  const int64_t bad_step = step - count + 1 + i;
  std::ostringstream lr;
  lr << o.lr;
  const bool reduced = precision == Precision::kBf16 || precision == Precision::kFp16;
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
  const torch::Device device = device_for(o);
  ComputeMode mode(o.precision, o.memory_format, device);
  std::optional<Checkpoint> resumed;
  if (!o.resume_from.empty()) {
    resumed = load_checkpoint(o.resume_from);
    check_resumable(*resumed, o);
  }
  // Distributed: every rank seeds alike, so all draw the same split and epoch permutations and take their own
  // shard of each; rank 0 alone writes files.
  std::unique_ptr<Communicator> comm;
  if (o.distributed.enabled) comm = std::make_unique<Communicator>(o.distributed, device);
  const int rank = comm ? comm->rank() : 0;
  const int world = comm ? comm->world_size() : 1;
  torch::manual_seed(o.seed);
  auto gen = at::detail::createCPUGenerator(o.seed);

  // Data
  Splits data = load_splits(o, gen, device);
  const int64_t n_train = data.train.size();
  result.train_size = n_train;
  result.valid_size = data.valid.size();
  result.test_size = data.test.size();
  if (world > 1) {
    if (n_train < world)
      throw std::runtime_error(std::to_string(n_train) + " training records cannot be shared by " +
                               std::to_string(world) + " processes; raise limitTrain or start fewer processes");
    data.valid = data.valid.subset(shard_indices(data.valid.size(), rank, world).to(device));
    data.test = data.test.subset(shard_indices(data.test.size(), rank, world).to(device));
  }
  const BatchTransform transform(o.image_size, device, mode.channels_last());

  // Model, optimizer and where the run stands
  ResNet34 model(o.preset);
  model->to(device);
  mode.prepare(model);
  torch::optim::SGD optimizer(parameter_groups(model->parameters(), o), sgd_options(o));
  RunState state;
  if (resumed) {
    restore(*resumed, model, &optimizer);
    state = resumed->state;
    // The epoch's partial sums are the whole job's: rank 0 carries them on, so the final all-reduce counts them once.
    if (rank != 0) state.partial_loss_sum = state.partial_correct = 0;
    gen.set_state(state.shuffle_rng);
    if (state.torch_rng.defined()) {
      at::Generator global = at::detail::getDefaultCPUGenerator();  // a handle: shares the generator
      global.set_state(state.torch_rng);
    }
    resumed.reset();  // its tensors are in the model and optimizer now
  }
  result.resumed_epoch = state.epochs_done;
  result.resumed_step = state.step;
  std::optional<GradientReducer> reducer;
  if (comm) {
    // DDP's start: every rank begins from rank 0's weights and buffers (a resume reads the same file everywhere).
    auto tensors = model->parameters();
    for (const auto& b : model->buffers()) tensors.push_back(b);
    comm->broadcast(tensors, "the broadcast of rank 0's weights");
    reducer.emplace(*comm, model->parameters());
    result.world_size = world;
    result.rank = rank;
    result.backend = name_of(comm->backend());
  }
  // BatchNorm's running statistics drift apart on each rank's data. DDP overwrites them with rank 0's before
  // every forward; as only evaluation and checkpoints read them, doing it before those gives the same numbers.
  const auto sync_buffers = [&] {
    if (comm) comm->broadcast(model->buffers(), "the broadcast of rank 0's BatchNorm statistics");
  };
  // Counts over a split this rank holds a shard of, summed over the ranks. A stop on any rank stops them all.
  const auto evaluate_split = [&](const Cifar10Dataset& split) -> std::optional<torch::Tensor> {
    if (!comm) return confusion_counts(model, split, transform, o.batch_size, stop, &mode, o.flip_tta);
    sync_buffers();
    auto counts = confusion_counts(model, split, transform, o.batch_size, stop, &mode, o.flip_tta);
    auto shared = torch::cat({counts ? counts->view({-1}) : torch::zeros({kNumClasses * kNumClasses}, torch::kInt64),
                              torch::full({1}, counts ? 0 : 1, torch::kInt64)})
                      .to(device);
    comm->allreduce(shared, Communicator::Reduce::kSum, "the evaluation counts' all-reduce");
    shared = shared.cpu();
    if (shared[kNumClasses * kNumClasses].item<int64_t>() > 0) return std::nullopt;
    return shared.slice(0, 0, kNumClasses * kNumClasses).view({kNumClasses, kNumClasses});
  };
  // Whether the job stops before `step`: any rank's request stops every rank at the same step. The vote is a
  // collective, read back on the host: every step on the CPU, where that costs nothing, and every log_every
  // steps on a GPU, where a sync per step would stall the queue of work ahead.
  const int64_t vote_every = device.is_cuda() ? std::max<int64_t>(1, o.log_every) : 1;
  const auto stop_agreed = [&](int64_t step) {
    if (!comm) return stop.requested();
    if ((step - 1) % vote_every != 0) return false;
    auto vote = torch::full({1}, stop.requested() ? 1.0f : 0.0f, torch::TensorOptions().device(device));
    comm->allreduce(vote, Communicator::Reduce::kSum, "the stop vote");
    return vote.item<float>() > 0;
  };

  result.parameters = count_parameters(*model);
  result.device = device.str();
  result.channels_last = mode.channels_last();
  result.precision = name_of(mode.precision());
  result.libtorch_version = compat::libtorch_version();

  // Each rank's share of an epoch, DistributedSampler's: padded so that all take the same number of steps.
  const int64_t n_shard = (n_train + world - 1) / world;
  const int64_t steps_per_epoch = (n_shard + o.batch_size - 1) / o.batch_size;
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
    e.world_size = world;
    e.rank = rank;
    e.start_epoch = state.epochs_done;
    e.start_step = state.step;
    emit(e);
  }

  const std::string checkpoint_dir = rank == 0 ? o.checkpoint_dir : std::string();
  const auto checkpoint_file = [&](const char* name) {
    return checkpoint_dir.empty() ? std::string() : (std::filesystem::path(checkpoint_dir) / name).string();
  };
  if (!checkpoint_dir.empty()) remove_stale_temporaries(checkpoint_dir);
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
    sync_buffers();
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
    if (world > 1) order = shard_of_order(order, rank, world);  // n_shard indices
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
      auto sums = torch::stack({epoch_loss, epoch_correct}).to(torch::kDouble);
      if (comm) comm->allreduce(sums, Communicator::Reduce::kSum, "the partial sums' all-reduce");
      s.partial_loss_sum = sums[0].item<double>();
      s.partial_correct = sums[1].item<double>();
      s.partial_seconds = earlier_seconds + seconds_since(epoch_start);
      return s;
    };

    for (int64_t step = first_step; step <= steps_per_epoch; ++step) {
      if (stop_agreed(step)) return cancelled(position(step - 1));
      const int64_t start = (step - 1) * o.batch_size;
      const int64_t end = std::min(start + o.batch_size, n_shard);
      auto idx = order.slice(0, start, end);
      auto images = transform(augment_batch(data.train.images().index_select(0, idx), o.augment,
                                            batch_seed(o.seed, epoch, step, rank)));
      auto labels = data.train.labels().index_select(0, idx);
      const double lr = scheduled_lr(o, (epoch - 1) * steps_per_epoch + step - 1, steps_per_epoch);
      set_lr(optimizer, lr);

      const auto [loss, logits] =
          mode.sgd_step(model, optimizer, images, labels, reducer ? &*reducer : nullptr, o.label_smoothing);
      auto batch_loss_sum = loss * static_cast<double>(end - start);
      auto batch_correct = logits.argmax(1).eq(labels).sum().to(torch::kFloat32);
      epoch_loss += batch_loss_sum;
      epoch_correct += batch_correct;
      window_loss += batch_loss_sum;
      window_correct += batch_correct;
      window_images += end - start;
      window_step_losses.select(0, window_steps++).copy_(loss);
      double checksum = 0;
      if (comm && o.distributed.check_replicas) {
        auto bounds = weights_checksum(*model);
        bounds = torch::stack({bounds, -bounds});
        comm->allreduce(bounds, Communicator::Reduce::kMax, "the replica check");
        const double high = bounds[0].item<double>(), low = -bounds[1].item<double>();
        if (high != low) {
          std::ostringstream text;
          text.precision(17);
          text << "the ranks' weights differ after epoch " << epoch << ", step " << step << " (checksums from "
               << low << " to " << high << "); the replicas diverged";
          throw DistributedError(text.str());
        }
        checksum = high;
      }

      if (step % log_every == 0 || step == steps_per_epoch) {
        if (comm) {
          // The whole job's window, the same on every rank, so that all of them stop at the same non-finite
          // step and report the same numbers. Every rank's batches are the same size, so the images add up to
          // world times this rank's.
          auto shared = torch::cat({torch::stack({window_loss, window_correct}),
                                    window_step_losses.slice(0, 0, window_steps) / static_cast<double>(world)});
          comm->allreduce(shared, Communicator::Reduce::kSum, "the training metrics' all-reduce");
          window_loss = shared[0];
          window_correct = shared[1];
          window_images *= world;
          window_step_losses.slice(0, 0, window_steps).copy_(shared.slice(0, 2));
        }
        ProgressEvent e = event(EventType::kBatchEnd);
        e.phase = Phase::kTrain;
        e.epoch = epoch;
        e.step = step;
        e.steps_per_epoch = steps_per_epoch;
        e.samples = n_train;
        e.loss = window_loss.item<double>() / static_cast<double>(window_images);
        if (!std::isfinite(e.loss)) throw_non_finite(window_step_losses, window_steps, epoch, step, o, mode.precision());
        e.accuracy = window_correct.item<double>() / static_cast<double>(window_images);
        e.images_per_second = static_cast<double>(world * (end - (first_step - 1) * o.batch_size)) /
                              seconds_since(epoch_start);
        e.weights_checksum = checksum;
        e.lr = lr;
        emit(e);
        window_loss = torch::zeros({}, scalar);
        window_correct = torch::zeros({}, scalar);
        window_images = 0;
        window_steps = 0;
      }
    }
    EpochStats stats;
    stats.epoch = epoch;
    // Every rank's images, the padding of the last shard included, as DistributedSampler counts them.
    const int64_t n_seen = n_shard * world;
    auto epoch_loss_total = epoch_loss.clone();
    if (comm) comm->allreduce(epoch_loss_total, Communicator::Reduce::kSum, "the epoch loss' all-reduce");
    stats.train_loss = epoch_loss_total.item<double>() / static_cast<double>(n_seen);
    stats.seconds = earlier_seconds + seconds_since(epoch_start);
    stats.images_per_second = static_cast<double>(n_seen) / stats.seconds;

    if (result.valid_size > 0) {
      ProgressEvent e = event(EventType::kEvalBegin);
      e.phase = Phase::kValid;
      e.epoch = epoch;
      e.samples = result.valid_size;
      emit(e);
      auto valid = evaluate_split(data.valid);
      if (!valid) return cancelled(position(steps_per_epoch));
      stats.valid_accuracy = accuracy_of(*valid);
    }
    state.history.push_back(stats);
    state.epochs_done = epoch;
    state.step = 0;
    state.shuffle_rng = gen.get_state();
    state.torch_rng = at::detail::getDefaultCPUGenerator().get_state();
    state.partial_loss_sum = state.partial_correct = state.partial_seconds = 0;
    const bool best = result.valid_size > 0 && stats.valid_accuracy > state.best_valid_accuracy;
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
    if (result.valid_size == 0) sync_buffers();
    write_checkpoint(state);
    if (best && !last_path.empty()) {
      publish_copy(last_path, best_path);
      result.best_checkpoint = best_path;
    }
  }
  result.epochs = state.history;
  if (!checkpoint_dir.empty() && result.best_checkpoint.empty()) {
    // A best.pt from before a resume still stands when no later epoch beat it.
    std::error_code ec;
    if (std::filesystem::is_regular_file(best_path, ec)) result.best_checkpoint = best_path;
  }

  // Test
  {
    ProgressEvent e = event(EventType::kEvalBegin);
    e.phase = Phase::kTest;
    e.epoch = o.epochs;
    e.samples = result.test_size;
    emit(e);
  }
  auto test = evaluate_split(data.test);
  if (!test) return cancelled(state);
  result.test = test_metrics(*test);
  if (!checkpoint_dir.empty()) {
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
