// mnist_norm: train the MNIST net with BN (+L1), GN or LN; run the study; plot; explain the norms.
//
//   mnist_norm --norm bn --l1 1e-5              one model, 20 epochs, CPU
//   mnist_norm --norm bn,gn,ln --l1 1e-5 --seeds 3   the study (L1 goes to the BN model only)
//   mnist_norm plot DIR                          figures from a run or study folder
//   mnist_norm sweep --norm bn,gn,ln --l1 1e-5 --seeds 3 --epochs 6   the batch-size experiment
//   mnist_norm explain                           BN, GN and LN worked by hand on real activations
#include <CLI/CLI.hpp>
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <sstream>
#include <thread>

#include "apps/mnist_norm/explain.h"
#include "apps/mnist_norm/plot.h"
#include "apps/mnist_norm/resume.h"
#include "apps/mnist_norm/sweep.h"
#include "apps/mnist_norm/train.h"
#include "core/device.h"
#include "core/error.h"
#include "layers/mnist_net.h"

using namespace normlab;
using namespace normlab::app;

namespace {

std::string all_norms() {  // "bn,gn,ln"
  std::string s;
  for (const NormSpec& r : norm_table()) s += (s.empty() ? "" : ",") + std::string(r.name);
  return s;
}

std::vector<Norm> parse_norms(const std::string& list) {
  std::vector<Norm> out;
  std::stringstream ss(list);
  std::string item;
  while (std::getline(ss, item, ',')) {
    auto n = parse_norm(item);
    if (!n) throw InputError("--norm: unknown norm '" + item + "'; use " + norm_choices() + ", or a list such as " + all_norms());
    for (Norm m : out)
      if (m == *n) throw InputError("--norm: '" + item + "' is listed twice; list each norm once");
    out.push_back(*n);
  }
  if (out.empty()) throw InputError("--norm: empty; use " + norm_choices() + ", or a list such as " + all_norms());
  return out;
}

void require(bool ok, const std::string& msg) {
  if (!ok) throw InputError(msg);
}

void finite(double v, const char* flag) {
  if (!std::isfinite(v)) throw InputError(std::string(flag) + " must be a finite number, got " + std::to_string(v));
}

void validate(const TrainConfig& c) {
  finite(c.lr, "--lr");
  finite(c.l1, "--l1");
  finite(c.weight_decay, "--weight-decay");
  finite(c.momentum, "--momentum");
  finite(c.dropout, "--dropout");
  finite(c.warmup, "--warmup");
  finite(c.rotate_deg, "--rotate");
  require(c.lr > 0, "--lr must be > 0 (e.g. --lr 0.05)");
  require(c.batch >= 1, "--batch must be >= 1 (e.g. --batch 128)");
  require(c.eval_batch >= 1, "--eval-batch must be >= 1 (e.g. --eval-batch 1000)");
  require(c.epochs >= 1, "--epochs must be >= 1");
  require(c.threads >= 0, "--threads must be >= 0 (0 = all hardware threads)");
  require(c.seeds >= 1, "--seeds must be >= 1");
  require(c.l1 >= 0, "--l1 must be >= 0 (e.g. --l1 1e-5)");
  require(c.weight_decay >= 0, "--weight-decay must be >= 0");
  require(c.momentum >= 0 && c.momentum < 1, "--momentum must be in [0, 1)");
  require(c.dropout >= 0 && c.dropout < 1, "--dropout must be in [0, 1)");
  require(c.rotate_deg >= 0 && c.rotate_deg <= 180, "--rotate must be in [0, 180] degrees");
  require(c.train_limit >= 0, "--train-limit must be >= 0 (0 = all 60,000 images)");
  require(c.test_limit >= 0, "--test-limit must be >= 0 (0 = all 10,000 images)");
  require(parse_schedule(c.schedule).has_value(), "--schedule must be onecycle, step or const");
  require(c.warmup > 0 && c.warmup < 1,
          "--warmup must be in (0, 1): the fraction of the one-cycle spent rising (e.g. --warmup 0.3)");
  {  // the builder knows the channel counts: building a GN net throws InputError for a bad --groups
    Rng rng(0);
    NetConfig nc;
    nc.norm = Norm::gn;
    nc.norm_cfg.groups = c.groups;
    nc.arch = c.arch;
    try {
      build_mnist_net(nc, rng);
    } catch (const ArchError& e) {
      throw InputError(std::string("--arch: ") + e.what());
    } catch (const GroupCountError& e) {
      throw InputError("--groups " + std::to_string(e.groups) + " does not divide a layer with " +
                       std::to_string(e.channels) + " channels: choose a G that divides every layer's channel count");
    }
  }
  require(c.device == "cpu" || c.device == "cuda", "--device must be cpu or cuda");
  if (c.device == "cuda") {
    std::string why;
    const bool ok = cuda_available(&why);  // fills why before the message is built
    require(ok, "--device cuda: no usable GPU (" + why + "); train on the CPU with --device cpu");
    // NORMLAB_CUDA_VERSIONS is read here, before anything is written: a malformed value stops the run
    // with its one line (read at the first kernel, it left the --out folder begun behind it).
    (void)cuda_kernel_versions();
  }
  require(c.jobs >= 1, "--jobs must be >= 1");
  require(c.jobs == 1 || c.device == "cuda",
          "--jobs trains runs side by side on the GPU: use it with --device cuda (on the CPU a run already uses "
          "every core)");
  require(c.jobs == 1 || !c.profile, "--profile times one run's ops: use it with --jobs 1");
  require(!c.cuda_branches || c.device == "cuda",
          "--cuda-branches puts work on a second CUDA stream: use it with --device cuda");
  set_cuda_branches(c.cuda_branches);
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"normlab mnist_norm: Batch Norm (+L1), Group Norm and Layer Norm on one small MNIST CNN"};
  app.set_version_flag("--version", "normlab 0.1.0");
  TrainConfig cfg;
  std::string norms = "bn";
  app.add_option("--norm", norms, norm_choices() + ", or a comma list (" + all_norms() + ") to train each in turn (the study)")
      ->capture_default_str();
  app.add_option("--arch", cfg.arch, "the network body: 3x3 blocks N (Np: padded), 1x1 transitions tN, max pools m; "
                 "see layers/mnist_net.h")->capture_default_str();
  app.add_option("--groups", cfg.groups,
                 "GN group count (must divide every normalised layer's channels; with the default --arch: 1, 2 or 4)")
      ->capture_default_str();
  app.add_flag("--ln-per-element", cfg.ln_per_element,
               "LN affine per element [C,H,W] instead of per channel (far more parameters)");
  app.add_option("--l1", cfg.l1, "L1 strength: l1*sum|w| on conv weights; with several norms, BN only")
      ->capture_default_str();
  app.add_option("--weight-decay", cfg.weight_decay, "L2 weight decay on conv weights")->capture_default_str();
  app.add_option("--epochs", cfg.epochs, "training epochs")->capture_default_str();
  app.add_option("--batch", cfg.batch, "mini-batch size")->capture_default_str();
  app.add_option("--eval-batch", cfg.eval_batch,
                 "test images per evaluation batch (memory against speed; another size can change the test loss "
                 "and the logits in their last bits)")
      ->capture_default_str();
  app.add_option("--lr", cfg.lr, "peak learning rate (one-cycle) or initial rate (step/const)")->capture_default_str();
  app.add_option("--momentum", cfg.momentum, "SGD momentum")->capture_default_str();
  app.add_flag("!--no-nesterov", cfg.nesterov, "plain momentum instead of Nesterov");
  app.add_option("--schedule", cfg.schedule, "onecycle, step (x0.1 every 6 epochs) or const")->capture_default_str();
  app.add_option("--warmup", cfg.warmup, "onecycle: fraction of the training spent warming up to the peak --lr")
      ->capture_default_str();
  app.add_option("--dropout", cfg.dropout, "dropout after each conv block")->capture_default_str();
  app.add_option("--rotate", cfg.rotate_deg, "augmentation: random rotation in +-degrees (0 = off)")
      ->capture_default_str();
  app.add_option("--seed", cfg.seed, "random seed (init, data order, augmentation, dropout)")->capture_default_str();
  app.add_option("--seeds", cfg.seeds, "train each norm with seeds seed..seed+N-1; reports mean +- std")
      ->capture_default_str();
  app.add_option("--data", cfg.data, "MNIST folder (default: $MNIST_DIR, else ./data/mnist)");
  app.add_option("--out", cfg.out, "output folder (default runs/<norm>-<timestamp>)");
  app.add_option("--threads", cfg.threads, "CPU threads (0 = all hardware threads; results are bit-identical "
                 "for the same seed and thread count)")->capture_default_str();
  app.add_option("--train-limit", cfg.train_limit, "use only the first N training images (0 = all)")
      ->capture_default_str();
  app.add_option("--test-limit", cfg.test_limit,
                 "evaluate on the first N test images only (0 = all; quick checks, e.g. under the CUDA emulator)")
      ->capture_default_str();
  std::string resume_dir;
  app.add_option("--resume", resume_dir,
                 "continue the interrupted run or study in this folder where it stopped (its settings come from "
                 "its command.json; finished runs are kept)");
  app.add_flag("--profile", cfg.profile, "time each kernel op of the training passes; writes profile.csv");
  app.add_flag("--overwrite", cfg.overwrite, "train into an --out folder that holds an earlier run");
  app.add_option("--device", cfg.device, "cpu, or cuda: the hand-written CUDA kernels on the GPU (same flags, same outputs)")
      ->capture_default_str();
  app.add_option("--jobs", cfg.jobs,
                 "with --device cuda: train up to N runs of a study side by side, each on its own host thread and "
                 "CUDA stream (the same bits as one after another)")
      ->capture_default_str();
  app.add_option("--cuda-graph", cfg.cuda_graph,
                 "with --device cuda: capture a training step once as a CUDA Graph and replay it for every full "
                 "batch (the same bits; off: launch op by op)")
      ->capture_default_str();
  app.add_option("--cuda-branches", cfg.cuda_branches,
                 "with --device cuda: compute each convolution's weight gradient on a second CUDA stream, beside "
                 "the backward pass's next ops (the same bits; not yet timed on a GPU)")
      ->capture_default_str();

  auto* plot = app.add_subcommand("plot", "draw every figure from a run or study folder (no training)");
  std::string plot_dir_arg;
  plot->add_option("DIR", plot_dir_arg, "run or study folder")->required();

  auto* sweep = app.add_subcommand(
      "sweep", "the batch-size experiment: every --norm and seed at each batch size, lr scaled with the batch");
  std::string batches = "2,4,8,16,32,64,128";
  SweepConfig sw;
  sweep->add_option("--batches", batches, "batch sizes to train at")->capture_default_str();
  sweep->add_option("--base-batch", sw.base_batch, "the batch at which the learning rate is --lr (lr_B = lr * B / base)")
      ->capture_default_str();
  sweep->fallthrough();  // the training options (--norm, --seeds, --epochs, --lr, --out ...) may follow `sweep`

  auto* explain = app.add_subcommand("explain", "BN, GN and LN computed step by step on real activations");
  ExplainConfig ex;
  explain->add_option("--data", ex.data, "MNIST folder (default: $MNIST_DIR, else ./data/mnist)");
  explain->add_option("--checkpoint", ex.checkpoint, "model.ckpt of a BN run (default: a freshly initialised net)");
  explain->add_option("--seed", ex.seed, "seed of the freshly initialised net")->capture_default_str();
  app.require_subcommand(0, 1);
  app.footer(
      "Exit codes: 0 success; 1 internal error; 2 bad input (a bad option, missing or corrupt data, an --out that "
      "cannot be written, not enough memory), nothing written; 3 training diverged (non-finite or exploding loss): "
      "the run stops, its last complete epoch stays resumable, no results; 4 a file could not be written (disk "
      "full): the file being written is left as it was.");

  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    std::string what = e.what();
    std::fprintf(stderr, "mnist_norm: %s; see mnist_norm --help\n", what.c_str());
    return 2;
  }
  try {
    if (*plot) return plot_dir(plot_dir_arg);
    if (*explain) return run_explain(ex);
    if (*sweep) {
      require(resume_dir.empty(), "sweep: continue a sweep by running the same command again, not with --resume");
      require(sw.base_batch >= 1, "--base-batch must be >= 1 (e.g. 128)");
      sw.batches = parse_batches(batches);
    }
    if (!resume_dir.empty()) {  // the settings are the interrupted run's own
      const std::string data = cfg.data;
      for (const CLI::Option* o : app.get_options())
        if (o->count() > 0 && o->get_name() != "--resume" && o->get_name() != "--data")
          throw InputError("--resume takes every setting from " + resume_dir + "/command.json; give no " +
                           o->get_name() + " with it (only --data, if the data moved)");
      cfg = load_command(resume_dir);
      if (!data.empty()) cfg.data = data;
      cfg.resume = true;
      validate(cfg);
      return run_training(cfg);
    }
    cfg.norms = parse_norms(norms);
    if (cfg.threads == 0) cfg.threads = std::max(1u, std::thread::hardware_concurrency());
    validate(cfg);
    return *sweep ? run_sweep(cfg, sw) : run_training(cfg);
  } catch (const InputError& e) {
    std::fprintf(stderr, "mnist_norm: %s\n", e.what());
    return 2;
  } catch (const IoError& e) {
    std::fprintf(stderr, "mnist_norm: %s\n", e.what());
    return 4;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "mnist_norm: internal error: %s\n", e.what());
    return 1;
  }
}
