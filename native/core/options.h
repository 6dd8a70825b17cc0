// SPDX-License-Identifier: MIT
// Everything a training run is told, as plain data, and the recipe each preset starts from; lib/config/ has
// already validated what the addon passes in.
#pragma once

#include <algorithm>
#include <cstdint>
#include <iterator>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

namespace libtorch_resnet::core {

// Which network shape to build: the article's 224 px ImageNet-style stem, a 32 px CIFAR stem, or torchvision's
// resnet34 exactly (its key names, no convolution biases, global pooling), for fine-tuning its weights.
enum class Preset { kArticle, kCifar, kTorchvision };

// The arithmetic a run uses. kFp32 is PyTorch's default math, which the article's program gets too: float32
// tensors, cuDNN free to run convolutions on TF32 tensor cores, matrix products in full float32. kTf32 lets matrix
// products use TF32 as well. kBf16 and kFp16 run forward and loss under autocast (weights and optimizer stay
// float32); kFp16 scales the loss so small gradients survive. On the CPU, kTf32 is kFp32 and kFp16 is refused.
// kAuto is kBf16 on CUDA and kFp32 on the CPU (where bf16 is slow without native support); ComputeMode resolves it.
enum class Precision { kFp32, kTf32, kBf16, kFp16, kAuto };

// How image batches and convolution weights are laid out in memory. kAuto picks what measured faster on the
// device (BENCHMARKS.md): channels-last on CUDA (NHWC suits tensor cores), contiguous NCHW on the CPU.
enum class MemoryFormat { kAuto, kContiguous, kChannelsLast };

// How the learning rate moves over a run (native/core/recipe.h has the formulas). Every one of them can start
// with a linear warm-up.
enum class Scheduler { kConstant, kCosine, kOneCycle };

// Random changes to training images, drawn per image on the training device: a horizontal flip with
// probability 1/2, and for kCropFlip first a 32x32 crop at a random offset of the image padded by 4 black pixels.
enum class Augment { kNone, kFlip, kCropFlip };

// Which c10d backend carries a distributed run's collectives. kAuto: NCCL on CUDA, Gloo on the CPU.
enum class Backend { kAuto, kGloo, kNccl };

// Whether training steps run through StaticStep (train_step.h), captured in a CUDA graph on a GPU. kAuto: captured
// for single-process CUDA training, eager otherwise. kOn: captured on CUDA; on the CPU the same static-buffer step
// without capture (what CI tests; no faster). kOff: always eager. A distributed run is always eager.
enum class CudaGraph { kAuto, kOn, kOff };

// Each enum's values with the names that the JS API, the command lines and checkpoints use for them, and what
// the enum is called in messages. One table per enum: name_of, from_name and names_of read it.
template <class E>
struct EnumNames;

template <>
struct EnumNames<Preset> {
  static constexpr const char* what = "preset";
  static constexpr std::pair<Preset, const char*> table[] = {
      {Preset::kArticle, "article"}, {Preset::kCifar, "cifar"}, {Preset::kTorchvision, "torchvision"}};
};

template <>
struct EnumNames<Precision> {
  static constexpr const char* what = "precision";
  static constexpr std::pair<Precision, const char*> table[] = {{Precision::kFp32, "fp32"},
                                                                {Precision::kTf32, "tf32"},
                                                                {Precision::kBf16, "bf16"},
                                                                {Precision::kFp16, "fp16"},
                                                                {Precision::kAuto, "auto"}};
};

template <>
struct EnumNames<MemoryFormat> {
  static constexpr const char* what = "memory format";
  static constexpr std::pair<MemoryFormat, const char*> table[] = {{MemoryFormat::kAuto, "auto"},
                                                                   {MemoryFormat::kContiguous, "contiguous"},
                                                                   {MemoryFormat::kChannelsLast, "channels-last"}};
};

template <>
struct EnumNames<Scheduler> {
  static constexpr const char* what = "scheduler";
  static constexpr std::pair<Scheduler, const char*> table[] = {
      {Scheduler::kConstant, "constant"}, {Scheduler::kCosine, "cosine"}, {Scheduler::kOneCycle, "onecycle"}};
};

template <>
struct EnumNames<Augment> {
  static constexpr const char* what = "augment";
  static constexpr std::pair<Augment, const char*> table[] = {
      {Augment::kNone, "none"}, {Augment::kFlip, "flip"}, {Augment::kCropFlip, "crop-flip"}};
};

template <>
struct EnumNames<Backend> {
  static constexpr const char* what = "backend";
  static constexpr std::pair<Backend, const char*> table[] = {
      {Backend::kAuto, "auto"}, {Backend::kGloo, "gloo"}, {Backend::kNccl, "nccl"}};
};

template <>
struct EnumNames<CudaGraph> {
  static constexpr const char* what = "cudaGraph";
  static constexpr std::pair<CudaGraph, const char*> table[] = {
      {CudaGraph::kAuto, "auto"}, {CudaGraph::kOn, "on"}, {CudaGraph::kOff, "off"}};
};

// Fine-tuning: which parameters a run trains. kBackbone trains the classifier (fc) alone: the rest gets no
// gradients and no updates, and its BatchNorm layers stay in eval mode, so their running statistics stay the
// init file's (feature extraction: the features are exactly the pretrained network's).
enum class Freeze { kNone, kBackbone };

template <>
struct EnumNames<Freeze> {
  static constexpr const char* what = "freeze";
  static constexpr std::pair<Freeze, const char*> table[] = {{Freeze::kNone, "none"}, {Freeze::kBackbone, "backbone"}};
};

template <class E>
const char* name_of(E value) {
  for (const auto& [v, name] : EnumNames<E>::table)
    if (v == value) return name;
  return EnumNames<E>::table[0].second;
}

template <class E>
std::optional<E> from_name(std::string_view name) {
  for (const auto& [v, n] : EnumNames<E>::table)
    if (name == n) return v;
  return std::nullopt;
}

// The names for a message: "'none', 'flip' or 'crop-flip'".
template <class E>
std::string names_of() {
  std::string list;
  const size_t n = std::size(EnumNames<E>::table);
  for (size_t i = 0; i < n; ++i) {
    if (i > 0) list += i + 1 == n ? " or " : ", ";
    list += std::string("'") + EnumNames<E>::table[i].second + "'";
  }
  return list;
}

// Data-parallel training across processes, torchrun's way: every process runs the same job on its shard of
// the data, and rank 0's TCPStore at master_addr:master_port is where they meet.
struct DistributedOptions {
  bool enabled = false;
  int world_size = 1;
  int rank = 0;
  // This process's index on its machine: picks cuda:<local_rank> when the device is "auto" or "cuda".
  int local_rank = 0;
  std::string master_addr = "127.0.0.1";
  int master_port = 29500;
  Backend backend = Backend::kAuto;
  // How long any rendezvous or collective may wait for the other ranks before the run fails.
  double timeout_seconds = 300;
  // After every step, compare a checksum of the weights across ranks and fail when they differ (costs a
  // collective and a host sync per step; for debugging and tests).
  bool check_replicas = false;
};

// The training recipe a preset starts from; every part is an option of its own. lib/config/presets.ts holds the
// same table, to check options before the addon loads; test/native/recipe.test.ts keeps the two equal.
struct Recipe {
  int64_t epochs;
  double lr;
  int64_t batch_size;
  double weight_decay;
  Precision precision;
  bool decay_norm_and_bias;
  bool nesterov;
  Scheduler scheduler;
  double warmup_epochs;
  double label_smoothing;
  Augment augment;
  bool flip_tta;
  int64_t image_size;
};

// The article's plain SGD at a constant rate without augmentation, on 224 px images.
inline constexpr Recipe kArticleRecipe{20,    0.01,  64, 0.001, Precision::kFp32, true, false, Scheduler::kConstant,
                                       0,     0,     Augment::kNone, false, 224};
// A modern recipe: a large batch with the learning rate scaled linearly (0.1 per 128 images), Nesterov momentum,
// no decay on BatchNorm and biases, warm-up then a linear fall to 0, label smoothing, random crops and flips on
// the device, flip TTA, bf16 autocast on CUDA; at CIFAR-10's own 32 px.
inline constexpr Recipe kCifarRecipe{30, 0.4, 512, 5e-4, Precision::kAuto, false, true, Scheduler::kOneCycle,
                                     5,  0.1, Augment::kCropFlip, true, 32};

// Fine-tuning pretrained ImageNet weights, as torchvision's transfer-learning tutorial does: SGD with momentum at
// a small lr (0.01 for a batch of 64: the weights are already good, a larger step would wreck the features), a
// light weight decay (1e-4, torchvision's own resnet recipe) kept off BatchNorm and biases, a cosine fall over a
// short run, random flips (crops would cut into photos' subjects at CIFAR's 32 px records), at ImageNet's 224 px.
inline constexpr Recipe kTorchvisionRecipe{10, 0.01, 64, 1e-4, Precision::kAuto, false, false, Scheduler::kCosine,
                                           0,  0,    Augment::kFlip, false, 224};

constexpr const Recipe& recipe_of(Preset preset) {
  switch (preset) {
    case Preset::kCifar: return kCifarRecipe;
    case Preset::kTorchvision: return kTorchvisionRecipe;
    default: return kArticleRecipe;
  }
}

struct TrainOptions {
  // Number of passes over the training split.
  int64_t epochs = kArticleRecipe.epochs;
  // SGD learning rate.
  double lr = kArticleRecipe.lr;
  // Images per training and evaluation step.
  int64_t batch_size = kArticleRecipe.batch_size;
  // SGD momentum.
  double momentum = 0.9;
  // L2 penalty applied by SGD: to every parameter, or with decay_norm_and_bias false to the convolution and
  // linear weights only (BatchNorm's weights and all biases are left alone, as modern recipes do).
  double weight_decay = kArticleRecipe.weight_decay;
  bool decay_norm_and_bias = kArticleRecipe.decay_norm_and_bias;
  // Nesterov momentum (PyTorch's SGD nesterov=True).
  bool nesterov = kArticleRecipe.nesterov;
  // The learning rate's course: lr is its peak; warmup_epochs (fractions allowed) of linear rise come first.
  Scheduler scheduler = kArticleRecipe.scheduler;
  double warmup_epochs = kArticleRecipe.warmup_epochs;
  // Cross-entropy against targets smoothed by this much (PyTorch's label_smoothing).
  double label_smoothing = kArticleRecipe.label_smoothing;
  Augment augment = kArticleRecipe.augment;
  // Validation and test score each image as the mean of the logits of it and its mirror image.
  bool flip_tta = kArticleRecipe.flip_tta;
  // Fraction of the training records held out for validation.
  double valid_split = 0.1;
  // Seeds weight initialisation, the train/validation split and the epoch shuffles.
  uint64_t seed = 42;
  // Network shape.
  Preset preset = Preset::kArticle;
  // Side length images are resized to before they enter the network.
  int64_t image_size = kArticleRecipe.image_size;
  // "auto", "cpu", "cuda" or "cuda:N".
  std::string device = "auto";
  // Intra-op CPU threads; 0 means every core (or OMP_NUM_THREADS when set).
  int threads = 0;
  Precision precision = kArticleRecipe.precision;
  MemoryFormat memory_format = MemoryFormat::kAuto;
  // A per-run choice, like the device: checkpoints do not record it.
  CudaGraph cuda_graph = CudaGraph::kAuto;
  // Folder holding the CIFAR-10 binary batches (data_batch_1.bin ... test_batch.bin).
  std::string data_dir;
  // Use only the first N training / test records; 0 means all.
  int64_t limit_train = 0;
  int64_t limit_test = 0;
  // Report a batchEnd event every this many training steps (and on the last step of an epoch).
  int64_t log_every = 10;
  // Folder for last.pt (after every epoch and when stopped), best.pt and, at the end, weights.pt; empty: none.
  std::string checkpoint_dir;
  // A checkpoint written by train() to continue from. The caller merges the checkpoint's options into these
  // (lib/config/resume.ts); train() refuses ones that would build another network.
  std::string resume_from;
  // Fine-tuning. init_from: a checkpoint or weights file of ours, or Python's torch.save(model.state_dict()) of a
  // network of this preset, that the run's weights start from (tensors copied by key; a classifier of another
  // class count is replaced by a new seeded one). Ignored when resuming: the checkpoint holds the weights.
  std::string init_from;
  Freeze freeze = Freeze::kNone;
  DistributedOptions distributed;

  // Image folders (train({ images })): when images_dir is set the data comes from it, not from data_dir.
  // The folder of class folders the run was given; checkpoints record it so that a resume finds the data.
  std::string images_dir;
  // Its decoded splits, cache files of folder_cache.h (lib/image-cache.ts writes them; not recorded: a resume
  // looks them up again). Without a valid cache validSplit draws the validation split from train, and without a
  // test cache a seeded draw of kFolderTestFraction of the train images is the test split.
  std::string images_train_cache;
  std::string images_valid_cache;
  std::string images_test_cache;
};

// What train() starts from for `preset`: these defaults with the preset's recipe and image size.
inline TrainOptions options_for(Preset preset) {
  const Recipe& r = recipe_of(preset);
  TrainOptions o;
  o.preset = preset;
  o.epochs = r.epochs;
  o.lr = r.lr;
  o.batch_size = r.batch_size;
  o.weight_decay = r.weight_decay;
  o.precision = r.precision;
  o.decay_norm_and_bias = r.decay_norm_and_bias;
  o.nesterov = r.nesterov;
  o.scheduler = r.scheduler;
  o.warmup_epochs = r.warmup_epochs;
  o.label_smoothing = r.label_smoothing;
  o.augment = r.augment;
  o.flip_tta = r.flip_tta;
  o.image_size = r.image_size;
  return o;
}

// The warm-up a run gets when none is asked for: the recipe's, but at most a sixth of the run.
inline double default_warmup_epochs(Preset preset, int64_t epochs) {
  return std::min(recipe_of(preset).warmup_epochs, static_cast<double>(epochs) / 6);
}

// Scoring a checkpoint on the test split.
struct EvalOptions {
  std::string checkpoint;
  std::string data_dir;
  int64_t limit_test = 0;  // 0: all records
  int64_t batch_size = 64;
  std::string device = "auto";
  int threads = 0;
  // Score each image by the summed logits of it and its mirror image; nullopt: as the checkpoint's run scored.
  std::optional<bool> flip_tta;
};

// Classifying images with a checkpoint.
struct PredictOptions {
  std::string checkpoint;
  std::string device = "auto";
  int threads = 0;
  // Probabilities from the mean logits of each image and its mirror image; nullopt: as the checkpoint's run scored.
  std::optional<bool> flip_tta;
};

}  // namespace libtorch_resnet::core
