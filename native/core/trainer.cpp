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
#include "fine_tune.h"
#include "folder_cache.h"
#include "recipe.h"
#include "resnet34.h"
#include "runtime.h"
#include "torch_compat.h"
#include "train_step.h"
#include "cuda/cuda_graph.h"

namespace libtorch_resnet::core {

namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

struct Splits {
  Cifar10Dataset train, valid, test;
  DatasetInfo info;
};

// Seeded shuffle of the training records, then the first valid_split of them held out, as the article does.
Splits split_off_valid(const Cifar10Dataset& all_train, const Cifar10Dataset& test, const TrainOptions& o,
                       torch::Generator& gen, const torch::Device& device) {
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
                all_train.subset(perm.slice(0, 0, n_valid)).to(device), test.to(device), {}};
}

// Positions of the first `limit` (0: all) of `indices` in a seeded order: a folder cache is sorted by class, so its
// own first records would all be one class. Indices, not copies: a folder's records are copied once, into the
// splits.
torch::Tensor seeded_first(const torch::Tensor& indices, int64_t limit, torch::Generator& gen) {
  auto order = torch::randperm(indices.size(0), gen, torch::kInt64);
  return indices.index_select(0, limit > 0 && limit < indices.size(0) ? order.slice(0, 0, limit) : order);
}

FolderData folder_split(const std::string& cache, const DatasetInfo& train_info) {
  FolderData split = load_image_cache(cache);
  if (split.info.classes != train_info.classes || split.info.record_side != train_info.record_side)
    throw DataError("image cache " + cache + " holds other classes or another image size than the training "
                    "split's; delete the folder's .libtorch-resnet cache and train again");
  return split;
}

// Image folders: a test/ folder is the test split, else a seeded kFolderTestFraction of the training images; a
// val/ folder is the validation split, else validSplit draws it as for CIFAR-10.
Splits load_folder_splits(const TrainOptions& o, torch::Generator& gen, const torch::Device& device) {
  FolderData train = load_image_cache(o.images_train_cache);
  torch::Tensor train_at = seeded_first(torch::arange(train.data.size(), torch::kInt64), 0, gen);
  std::optional<Cifar10Dataset> test;
  if (o.images_test_cache.empty()) {
    const int64_t n = train_at.size(0);
    const auto n_test = std::min(n, std::max<int64_t>(1, std::llround(kFolderTestFraction * static_cast<double>(n))));
    auto test_at = train_at.slice(0, 0, n_test);
    train_at = train_at.slice(0, n_test);
    if (o.limit_test > 0) test_at = seeded_first(test_at, o.limit_test, gen);
    test = train.data.subset(test_at);
  } else {
    const Cifar10Dataset whole = folder_split(o.images_test_cache, train.info).data;
    test = o.limit_test > 0 ? whole.subset(seeded_first(torch::arange(whole.size(), torch::kInt64), o.limit_test, gen))
                            : whole;
  }
  if (o.limit_train > 0) train_at = seeded_first(train_at, o.limit_train, gen);
  const Cifar10Dataset all = train.data.subset(train_at);
  train.data = Cifar10Dataset(torch::Tensor(), torch::Tensor());  // its records are in `all` and `test` now
  if (!o.images_valid_cache.empty() && (all.size() < 1 || test->size() < 1))
    throw std::runtime_error("the training or test split is empty; add images to train/ or test/, or raise limitTest");
  Splits splits = o.images_valid_cache.empty()
                      ? split_off_valid(all, *test, o, gen, device)
                      : Splits{all.to(device), folder_split(o.images_valid_cache, train.info).data.to(device),
                               test->to(device), {}};
  splits.info = std::move(train.info);
  return splits;
}

Splits load_splits(const TrainOptions& o, torch::Generator& gen, const torch::Device& device) {
  if (!o.images_dir.empty()) return load_folder_splits(o, gen, device);
  auto all_train = Cifar10Dataset::load(o.data_dir, Split::kTrain, o.limit_train);
  auto test = Cifar10Dataset::load(o.data_dir, Split::kTest, o.limit_test);
  Splits splits = split_off_valid(all_train, test, o, gen, device);
  splits.info = cifar10_info();
  return splits;
}

// A resumed run must rebuild the same network and redraw the same batches; only the length, the device and
// where the data lives may change.
void check_resumable(const Checkpoint& c, const TrainOptions& o) {
  if (c.kind == Checkpoint::Kind::kWeights)
    throw CheckpointError("cannot resume from " + c.path +
                          ": a weights file holds no optimizer state and no place in a run; resume from the run's "
                          "checkpoints/last.pt (weights files are for evaluate, predict and Python)");
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
  differ("freeze", saved.freeze == o.freeze);
  differ("images", saved.images_dir == o.images_dir);
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

// The events a run reports, built from what they report. emit() adds the run's epoch count.
ProgressEvent event_of(EventType type) {
  ProgressEvent e;
  e.type = type;
  return e;
}

ProgressEvent epoch_begin_event(int64_t epoch, int64_t steps_per_epoch, int64_t samples) {
  ProgressEvent e = event_of(EventType::kEpochBegin);
  e.epoch = epoch;
  e.steps_per_epoch = steps_per_epoch;
  e.samples = samples;
  return e;
}

ProgressEvent step_event(int64_t epoch, int64_t step, int64_t steps_per_epoch, int64_t samples, double seconds) {
  ProgressEvent e = event_of(EventType::kStep);
  e.epoch = epoch;
  e.step = step;
  e.steps_per_epoch = steps_per_epoch;
  e.samples = samples;
  e.seconds = seconds;
  return e;
}

ProgressEvent eval_begin_event(Phase phase, int64_t epoch, int64_t samples) {
  ProgressEvent e = event_of(EventType::kEvalBegin);
  e.phase = phase;
  e.epoch = epoch;
  e.samples = samples;
  return e;
}

ProgressEvent epoch_end_event(const EpochStats& stats, int64_t steps_per_epoch, int64_t samples) {
  ProgressEvent e = event_of(EventType::kEpochEnd);
  e.epoch = stats.epoch;
  e.steps_per_epoch = steps_per_epoch;
  e.samples = samples;
  e.loss = stats.train_loss;
  e.accuracy = stats.valid_accuracy;
  e.seconds = stats.seconds;
  e.images_per_second = stats.images_per_second;
  e.valid_seconds = stats.valid_seconds;
  return e;
}

ProgressEvent checkpoint_event(const RunState& s, int64_t steps_per_epoch, const std::string& path) {
  ProgressEvent e = event_of(EventType::kCheckpoint);
  e.epoch = s.epochs_done;
  e.step = s.step;
  e.steps_per_epoch = steps_per_epoch;
  e.path = path;
  return e;
}

ProgressEvent train_end_event(const TrainResult& result) {
  ProgressEvent e = event_of(EventType::kTrainEnd);
  e.accuracy = result.test.accuracy;
  e.seconds = result.seconds;
  return e;
}

// Where an epoch stands: what a stop writes to resume it exactly, and the sums its reports read.
struct EpochProgress {
  int64_t epoch = 0;
  // The first step this process takes (later than 1 in the epoch a resume lands in).
  int64_t first_step = 1;
  // The shuffle generator before the epoch's permutation was drawn, so that a resume redraws it.
  torch::Tensor shuffle_rng;
  // This rank's indices into the training split for the epoch: n_shard of them.
  torch::Tensor order;
  // The resumed epoch's seconds before its stop.
  double earlier_seconds = 0;
  Clock::time_point start;
  // Sums over the epoch's steps, on the device; reading them back syncs, so it happens every log_every steps.
  torch::Tensor loss_sum, correct;
};

// The steps since the last batchEnd event, on the device.
struct MetricsWindow {
  torch::Tensor loss, correct;
  // Each step's loss, so that a non-finite one can be named without a sync per step.
  torch::Tensor step_losses;
  int64_t images = 0;
  int64_t steps = 0;

  MetricsWindow(int64_t capacity, const torch::TensorOptions& scalar)
      : loss(torch::zeros({}, scalar)), correct(torch::zeros({}, scalar)), step_losses(torch::zeros({capacity}, scalar)) {}
  void add(const StepOutput& out, const torch::Tensor& loss_sum, int64_t batch) {
    loss += loss_sum;
    correct += out.correct;
    images += batch;
    step_losses.select(0, steps++).copy_(out.loss);
  }
  void clear() {
    loss = torch::zeros({}, loss.options());
    correct = torch::zeros({}, correct.options());
    images = 0;
    steps = 0;
  }
};

// One call of train(): the set-up in the constructor, then the epochs, each a loop of steps, then the test.
class TrainingRun {
 public:
  TrainingRun(const TrainOptions& o, const ProgressFn& on_progress, const StopToken& stop);
  TrainResult run();

 private:
  void emit(ProgressEvent e) const;
  void load_data(torch::Generator& gen);
  void build_model(std::optional<Checkpoint> resumed);
  void choose_steps();
  void begin_run();

  std::optional<TrainResult> run_epoch(int64_t epoch);
  EpochProgress begin_epoch(int64_t epoch);
  StepOutput take_step(const EpochProgress& ep, int64_t step, double lr);
  // Step `step`'s positions in this rank's shard of the epoch's order: [first, end); the last batch may be short.
  struct BatchRange {
    int64_t first;
    int64_t end;
    int64_t size() const { return end - first; }
  };
  BatchRange batch_of(int64_t step) const {
    const int64_t first = (step - 1) * o_.batch_size;
    return {first, std::min(first + o_.batch_size, n_shard_)};
  }
  double check_replicas(int64_t epoch, int64_t step);
  void report_window(const EpochProgress& ep, MetricsWindow& window, int64_t step, double lr, double checksum);
  std::optional<TrainResult> end_epoch(const EpochProgress& ep);
  RunState position(const EpochProgress& ep, int64_t steps_done);

  std::optional<torch::Tensor> evaluate_split(const Cifar10Dataset& split);
  // The data set's class count: the network's outputs and the confusion matrix's side.
  int64_t num_classes() const { return data_->info.num_classes(); }
  double slowest_rank(double seconds);
  void sync_buffers();
  void write_checkpoint(const RunState& s);
  std::string checkpoint_file(const char* name) const;
  TrainResult cancelled(const RunState& s);
  TrainResult finish();

  const TrainOptions& o_;
  const ProgressFn& on_progress_;
  const StopToken& stop_;
  const Clock::time_point run_start_ = Clock::now();
  // Grad mode and thread count are per thread, so they are set here, on the training thread.
  const TrainingSlot slot_{"train()"};
  torch::AutoGradMode grad_mode_{true};
  TrainResult result_;
  torch::Device device_;
  ComputeMode mode_;
  std::unique_ptr<Communicator> comm_;
  torch::Generator gen_;
  std::optional<Splits> data_;
  std::optional<BatchTransform> transform_;
  ResNet34 model_{nullptr};
  std::optional<torch::optim::SGD> optimizer_;
  std::optional<GradientReducer> reducer_;
  std::unique_ptr<EagerStep> eager_step_;
  std::unique_ptr<StaticStep> static_step_;
  RunState state_;
  // Each rank's share of an epoch, DistributedSampler's: padded so that all take the same number of steps.
  int64_t n_shard_ = 0;
  int64_t steps_per_epoch_ = 0;
  int64_t log_every_ = 1;
  std::string checkpoint_dir_, last_path_, best_path_;
};

TrainingRun::TrainingRun(const TrainOptions& o, const ProgressFn& on_progress, const StopToken& stop)
    : o_(o),
      on_progress_(on_progress),
      stop_(stop),
      device_((result_.threads = use_cpu_threads(o.threads), device_for(o))),
      mode_(o.precision, o.memory_format, device_) {
  std::optional<Checkpoint> resumed;
  if (!o.resume_from.empty()) {
    resumed = load_checkpoint(o.resume_from);
    check_resumable(*resumed, o);
  }
  // Distributed: every rank seeds alike, so all draw the same split and epoch permutations and take their own
  // shard of each; rank 0 alone writes files. The stop vote is read back on the host: every step on the CPU,
  // where that costs nothing, and every log_every steps on a GPU, where a sync per step would stall the queue.
  if (o.distributed.enabled)
    comm_ = std::make_unique<C10dCommunicator>(o.distributed, device_,
                                               device_.is_cuda() ? std::max<int64_t>(1, o.log_every) : 1);
  else
    comm_ = std::make_unique<SingleProcess>();
  torch::manual_seed(o.seed);
  gen_ = at::detail::createCPUGenerator(o.seed);
  load_data(gen_);
  build_model(std::move(resumed));
  choose_steps();
  begin_run();
}

void TrainingRun::emit(ProgressEvent e) const {
  e.epochs = o_.epochs;
  if (on_progress_) on_progress_(e);
}

void TrainingRun::load_data(torch::Generator& gen) {
  data_.emplace(load_splits(o_, gen, device_));
  const int64_t n_train = data_->train.size();
  result_.train_size = n_train;
  result_.valid_size = data_->valid.size();
  result_.test_size = data_->test.size();
  const int rank = comm_->rank(), world = comm_->world_size();
  if (n_train < world)
    throw std::runtime_error(std::to_string(n_train) + " training records cannot be shared by " +
                             std::to_string(world) + " processes; raise limitTrain or start fewer processes");
  if (world > 1) {
    data_->valid = data_->valid.subset(shard_indices(data_->valid.size(), rank, world).to(device_));
    data_->test = data_->test.subset(shard_indices(data_->test.size(), rank, world).to(device_));
  }
  result_.classes = data_->info.classes;
  // The normalisation chosen here is the one checkpoints record, so evaluate() and predict() follow it.
  data_->info.normalization = normalization_for(o_.preset, data_->info.normalization);
  transform_.emplace(o_.image_size, device_, mode_.channels_last(), data_->info.normalization,
                     data_->info.record_side);
  n_shard_ = (n_train + world - 1) / world;
  steps_per_epoch_ = (n_shard_ + o_.batch_size - 1) / o_.batch_size;
  log_every_ = std::max<int64_t>(1, o_.log_every);
}

void TrainingRun::build_model(std::optional<Checkpoint> resumed) {
  // The one place the class count is decided: the dataset's.
  model_ = ResNet34(o_.preset, num_classes());
  // A resumed run continues from its checkpoint's weights, never from the init file again.
  if (!resumed && !o_.init_from.empty()) {
    result_.init_from = o_.init_from;
    result_.init_head_replaced = apply_init(load_init_weights(o_.init_from), model_, o_.preset);
  }
  model_->to(device_);
  mode_.prepare(model_);
  model_->set_freeze(o_.freeze);
  // A frozen backbone's parameters are not the optimizer's: no update, no weight decay, no momentum for them.
  optimizer_.emplace(parameter_groups(model_->trainable_parameters(), o_), sgd_options(o_));
  if (resumed) {
    restore(*resumed, model_, &*optimizer_);
    state_ = resumed->state;
    // The epoch's partial sums are the whole job's: rank 0 carries them on, so the final all-reduce counts them once.
    if (comm_->rank() != 0) state_.partial_loss_sum = state_.partial_correct = 0;
    gen_.set_state(state_.shuffle_rng);
    if (state_.torch_rng.defined()) {
      at::Generator global = at::detail::getDefaultCPUGenerator();  // a handle: shares the generator
      global.set_state(state_.torch_rng);
    }
    resumed.reset();  // its tensors are in the model and optimizer now
  }
  if (o_.distributed.enabled) {
    // DDP's start: every rank begins from rank 0's weights and buffers (a resume reads the same file everywhere).
    auto tensors = model_->parameters();
    for (const auto& b : model_->buffers()) tensors.push_back(b);
    comm_->broadcast(tensors, "the broadcast of rank 0's weights");
    // Only parameters that get gradients take part in the all-reduce.
    reducer_.emplace(*comm_, model_->trainable_parameters());
  }
}

// The eager step takes every batch of a distributed run, and the epoch's last, shorter batch of any run; the
// static one (captured on CUDA) the others when cudaGraph asks for it.
void TrainingRun::choose_steps() {
  const StepContext context{o_,         data_->train, *transform_,
                            mode_,      model_,       *optimizer_,
                            reducer_ ? &*reducer_ : nullptr};
  eager_step_ = std::make_unique<EagerStep>(context);
  const bool single = !o_.distributed.enabled;
  if (o_.cuda_graph == CudaGraph::kOn && !single)
    throw std::runtime_error("cudaGraph true is for a single process; distributed runs take eager steps "
                             "(leave cudaGraph 'auto' or set it false)");
  const bool wanted = o_.cuda_graph == CudaGraph::kOn || (o_.cuda_graph == CudaGraph::kAuto && single &&
                                                         device_.is_cuda() && cuda::graphs_available());
  const int64_t full_batch = std::min(o_.batch_size, n_shard_);
  if (wanted) static_step_ = std::make_unique<StaticStep>(context, full_batch, /*capture=*/device_.is_cuda());
  result_.cuda_graph = static_step_ && static_step_->captures();
}

void TrainingRun::begin_run() {
  result_.resumed_from = o_.resume_from;
  result_.resumed_epoch = state_.epochs_done;
  result_.resumed_step = state_.step;
  result_.parameters = count_parameters(*model_);
  result_.device = device_.str();
  result_.channels_last = mode_.channels_last();
  result_.precision = name_of(mode_.precision());
  result_.libtorch_version = compat::libtorch_version();
  result_.world_size = comm_->world_size();
  result_.rank = comm_->rank();
  result_.backend = comm_->backend();
  ProgressEvent e = event_of(EventType::kTrainBegin);
  e.steps_per_epoch = steps_per_epoch_;
  e.samples = result_.train_size;
  e.train_size = result_.train_size;
  e.valid_size = result_.valid_size;
  e.test_size = result_.test_size;
  e.parameters = result_.parameters;
  e.threads = result_.threads;
  e.device = result_.device;
  e.world_size = result_.world_size;
  e.rank = result_.rank;
  e.start_epoch = state_.epochs_done;
  e.start_step = state_.step;
  emit(e);
  checkpoint_dir_ = comm_->rank() == 0 ? o_.checkpoint_dir : std::string();
  if (!checkpoint_dir_.empty()) remove_stale_temporaries(checkpoint_dir_);
  last_path_ = checkpoint_file("last.pt");
  best_path_ = checkpoint_file("best.pt");
}

TrainResult TrainingRun::run() {
  model_->train();
  for (int64_t epoch = state_.epochs_done + 1; epoch <= o_.epochs; ++epoch)
    if (auto stopped = run_epoch(epoch)) return *stopped;
  return finish();
}

EpochProgress TrainingRun::begin_epoch(int64_t epoch) {
  emit(epoch_begin_event(epoch, steps_per_epoch_, result_.train_size));
  EpochProgress ep;
  ep.epoch = epoch;
  ep.start = Clock::now();
  // Drawing the permutation advances the generator; its state before the draw lets a resume redraw it.
  ep.shuffle_rng = gen_.get_state();
  ep.order = torch::randperm(result_.train_size, gen_, torch::kInt64).to(device_);
  if (comm_->world_size() > 1) ep.order = shard_of_order(ep.order, comm_->rank(), comm_->world_size());
  ep.first_step = epoch == state_.epochs_done + 1 ? state_.step + 1 : 1;
  const bool resumed = ep.first_step > 1;
  ep.earlier_seconds = resumed ? state_.partial_seconds : 0.0;
  const auto scalar = torch::TensorOptions().dtype(torch::kFloat32).device(device_);
  ep.loss_sum = torch::full({}, resumed ? state_.partial_loss_sum : 0.0, scalar);
  ep.correct = torch::full({}, resumed ? state_.partial_correct : 0.0, scalar);
  return ep;
}

std::optional<TrainResult> TrainingRun::run_epoch(int64_t epoch) {
  EpochProgress ep = begin_epoch(epoch);
  MetricsWindow window(std::min(log_every_, steps_per_epoch_), ep.loss_sum.options());
  for (int64_t step = ep.first_step; step <= steps_per_epoch_; ++step) {
    if (comm_->stop_before(step, stop_.requested())) return cancelled(position(ep, step - 1));
    const double lr = scheduled_lr(o_, (epoch - 1) * steps_per_epoch_ + step - 1, steps_per_epoch_);
    const int64_t batch = batch_of(step).size();
    const StepOutput out = take_step(ep, step, lr);
    auto batch_loss_sum = out.loss * static_cast<double>(batch);
    ep.loss_sum += batch_loss_sum;
    ep.correct += out.correct;
    window.add(out, batch_loss_sum, batch);
    const bool check = o_.distributed.enabled && o_.distributed.check_replicas;
    const double checksum = check ? check_replicas(epoch, step) : 0.0;
    emit(step_event(epoch, step, steps_per_epoch_, result_.train_size, ep.earlier_seconds + seconds_since(ep.start)));
    if (step % log_every_ == 0 || step == steps_per_epoch_) report_window(ep, window, step, lr, checksum);
  }
  return end_epoch(ep);
}

StepOutput TrainingRun::take_step(const EpochProgress& ep, int64_t step, double lr) {
  const BatchRange batch = batch_of(step);
  StepInput in;
  in.indices = ep.order.slice(0, batch.first, batch.end);
  in.draws = draw_augmentation(batch.size(), o_.augment, batch_seed(o_.seed, ep.epoch, step, comm_->rank()));
  in.lr = lr;
  TrainStep& step_of_size = static_step_ && batch.size() == static_step_->batch_size()
                                ? static_cast<TrainStep&>(*static_step_)
                                : *eager_step_;
  return step_of_size.run(in);
}

// With distributed.check_replicas: fails unless every rank holds the same weights after the step.
double TrainingRun::check_replicas(int64_t epoch, int64_t step) {
  auto bounds = weights_checksum(*model_);
  bounds = torch::stack({bounds, -bounds});
  comm_->allreduce(bounds, Communicator::Reduce::kMax, "the replica check");
  const double high = bounds[0].item<double>(), low = -bounds[1].item<double>();
  if (high != low) {
    std::ostringstream text;
    text.precision(17);
    text << "the ranks' weights differ after epoch " << epoch << ", step " << step << " (checksums from " << low
         << " to " << high << "); the replicas diverged";
    throw DistributedError(text.str());
  }
  return high;
}

void TrainingRun::report_window(const EpochProgress& ep, MetricsWindow& w, int64_t step, double lr,
                                double checksum) {
  // The whole job's window, the same on every rank, so that all of them stop at the same non-finite step and
  // report the same numbers. Every rank's batches are the same size, so the images add up to world times this
  // rank's.
  const int world = comm_->world_size();
  auto shared = torch::cat({torch::stack({w.loss, w.correct}),
                            w.step_losses.slice(0, 0, w.steps) / static_cast<double>(world)});
  comm_->allreduce(shared, Communicator::Reduce::kSum, "the training metrics' all-reduce");
  w.loss = shared[0];
  w.correct = shared[1];
  w.images *= world;
  w.step_losses.slice(0, 0, w.steps).copy_(shared.slice(0, 2));

  ProgressEvent e = event_of(EventType::kBatchEnd);
  e.phase = Phase::kTrain;
  e.epoch = ep.epoch;
  e.step = step;
  e.steps_per_epoch = steps_per_epoch_;
  e.samples = result_.train_size;
  e.loss = w.loss.item<double>() / static_cast<double>(w.images);
  if (!std::isfinite(e.loss)) throw_non_finite(w.step_losses, w.steps, ep.epoch, step, o_, mode_.precision());
  e.accuracy = w.correct.item<double>() / static_cast<double>(w.images);
  e.images_per_second =
      static_cast<double>(world * (batch_of(step).end - batch_of(ep.first_step).first)) / seconds_since(ep.start);
  e.weights_checksum = checksum;
  e.lr = lr;
  emit(e);
  w.clear();
}

std::optional<TrainResult> TrainingRun::end_epoch(const EpochProgress& ep) {
  EpochStats stats;
  stats.epoch = ep.epoch;
  // Every rank's images, the padding of the last shard included, as DistributedSampler counts them.
  const int64_t n_seen = n_shard_ * comm_->world_size();
  auto loss_total = ep.loss_sum.clone();
  comm_->allreduce(loss_total, Communicator::Reduce::kSum, "the epoch loss' all-reduce");
  stats.train_loss = loss_total.item<double>() / static_cast<double>(n_seen);
  stats.seconds = ep.earlier_seconds + seconds_since(ep.start);
  stats.images_per_second = static_cast<double>(n_seen) / stats.seconds;
  if (result_.valid_size > 0) {
    emit(eval_begin_event(Phase::kValid, ep.epoch, result_.valid_size));
    const auto valid_start = Clock::now();
    auto valid = evaluate_split(data_->valid);
    if (!valid) return cancelled(position(ep, steps_per_epoch_));
    stats.valid_accuracy = accuracy_of(*valid);
    stats.valid_seconds = slowest_rank(seconds_since(valid_start));
  }
  state_.history.push_back(stats);
  state_.epochs_done = ep.epoch;
  state_.step = 0;
  state_.shuffle_rng = gen_.get_state();
  state_.torch_rng = at::detail::getDefaultCPUGenerator().get_state();
  state_.partial_loss_sum = state_.partial_correct = state_.partial_seconds = 0;
  const bool best = result_.valid_size > 0 && stats.valid_accuracy > state_.best_valid_accuracy;
  if (best) state_.best_valid_accuracy = stats.valid_accuracy;
  emit(epoch_end_event(stats, steps_per_epoch_, result_.train_size));
  if (result_.valid_size == 0) sync_buffers();
  write_checkpoint(state_);
  if (best && !last_path_.empty()) {
    publish_copy(last_path_, best_path_);
    result_.best_checkpoint = best_path_;
  }
  return std::nullopt;
}

// Where the run stands `steps_done` steps into `ep`, for a checkpoint written on a stop.
RunState TrainingRun::position(const EpochProgress& ep, int64_t steps_done) {
  RunState s = state_;
  s.epochs_done = ep.epoch - 1;
  s.step = steps_done;
  s.shuffle_rng = ep.shuffle_rng;
  s.torch_rng = at::detail::getDefaultCPUGenerator().get_state();
  auto sums = torch::stack({ep.loss_sum, ep.correct}).to(torch::kDouble);
  comm_->allreduce(sums, Communicator::Reduce::kSum, "the partial sums' all-reduce");
  s.partial_loss_sum = sums[0].item<double>();
  s.partial_correct = sums[1].item<double>();
  s.partial_seconds = ep.earlier_seconds + seconds_since(ep.start);
  return s;
}

// Counts over a split this rank holds a shard of, summed over the ranks; nullopt when stopped. A stop on any rank
// stops them all.
std::optional<torch::Tensor> TrainingRun::evaluate_split(const Cifar10Dataset& split) {
  sync_buffers();
  auto counts = confusion_counts(model_, split, *transform_, evaluation_batch_size(o_.batch_size, o_.image_size, device_), stop_,
                                 &mode_, o_.flip_tta);
  const int64_t classes = num_classes(), cells = classes * classes;
  auto shared = torch::cat({counts ? counts->view({-1}) : torch::zeros({cells}, torch::kInt64),
                            torch::full({1}, counts ? 0 : 1, torch::kInt64)})
                    .to(device_);
  comm_->allreduce(shared, Communicator::Reduce::kSum, "the evaluation counts' all-reduce");
  shared = shared.cpu();
  if (shared[cells].item<int64_t>() > 0) return std::nullopt;
  return shared.slice(0, 0, cells).view({classes, classes});
}

// An evaluation's time for the whole job, the same on every rank: its slowest rank's.
double TrainingRun::slowest_rank(double seconds) {
  auto t = torch::full({1}, seconds, torch::TensorOptions().dtype(torch::kDouble).device(device_));
  comm_->allreduce(t, Communicator::Reduce::kMax, "the evaluation time's all-reduce");
  return t.item<double>();
}

// BatchNorm's running statistics drift apart on each rank's data. DDP overwrites them with rank 0's before every
// forward; as only evaluation and checkpoints read them, doing it before those gives the same numbers.
void TrainingRun::sync_buffers() { comm_->broadcast(model_->buffers(), "the broadcast of rank 0's BatchNorm statistics"); }

std::string TrainingRun::checkpoint_file(const char* name) const {
  return checkpoint_dir_.empty() ? std::string() : (std::filesystem::path(checkpoint_dir_) / name).string();
}

void TrainingRun::write_checkpoint(const RunState& s) {
  if (last_path_.empty()) return;
  // A diverged network must never replace the last good checkpoint.
  if (!std::isfinite(s.partial_loss_sum) || !parameters_finite(*model_))
    throw NonFiniteLossError("the network's weights are no longer finite (epoch " + std::to_string(s.epochs_done + 1) +
                                 "); no checkpoint was written, " + last_path_ + " still holds the last good one",
                             s.epochs_done + 1, s.step);
  save_checkpoint(last_path_, o_, model_, *optimizer_, s, data_->info);
  result_.last_checkpoint = last_path_;
  emit(checkpoint_event(s, steps_per_epoch_, last_path_));
}

TrainResult TrainingRun::cancelled(const RunState& s) {
  sync_buffers();
  write_checkpoint(s);
  result_.status = Status::kCancelled;
  result_.epochs = s.history;
  result_.seconds = seconds_since(run_start_);
  return result_;
}

TrainResult TrainingRun::finish() {
  result_.epochs = state_.history;
  if (!checkpoint_dir_.empty() && result_.best_checkpoint.empty()) {
    // A best.pt from before a resume still stands when no later epoch beat it.
    std::error_code ec;
    if (std::filesystem::is_regular_file(best_path_, ec)) result_.best_checkpoint = best_path_;
  }
  emit(eval_begin_event(Phase::kTest, o_.epochs, result_.test_size));
  const auto test_start = Clock::now();
  auto test = evaluate_split(data_->test);
  if (!test) return cancelled(state_);
  result_.test = test_metrics(*test);
  result_.test_seconds = slowest_rank(seconds_since(test_start));
  if (!checkpoint_dir_.empty()) {
    if (result_.last_checkpoint.empty()) write_checkpoint(state_);
    result_.weights = checkpoint_file("weights.pt");
    save_weights(result_.weights, model_, o_, state_.epochs_done, data_->info);
  }
  result_.seconds = seconds_since(run_start_);
  emit(train_end_event(result_));
  return result_;
}

}  // namespace

TrainResult train(const TrainOptions& options, const ProgressFn& on_progress, const StopToken& stop) {
  return TrainingRun(options, on_progress, stop).run();
}

}  // namespace libtorch_resnet::core
