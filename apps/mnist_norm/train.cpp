#include "apps/mnist_norm/train.h"

#include <omp.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "apps/mnist_norm/io.h"
#include "apps/mnist_norm/plot.h"
#include "apps/mnist_norm/resume.h"
#include "apps/mnist_norm/study.h"
#include "core/checkpoint.h"
#include "core/device.h"
#include "core/profile.h"
#include "layers/loss.h"
#include "layers/mnist_net.h"
#include "layers/optim.h"

namespace normlab::app {
namespace fs = std::filesystem;
using json = nlohmann::json;
using Clock = std::chrono::steady_clock;

namespace {

double seconds_since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

struct EvalResult {
  double loss = 0, acc = 0;
  std::vector<int32_t> pred;
  std::vector<float> conf;  // probability of the predicted class
};

// What a run's evaluations replay on CUDA: the graph of a full batch's forward (captured by the
// first evaluation, replayed by every later one), and the memory it reads and writes, which must
// outlive each evaluation — the sums and the batches' tensors.
struct EvalGraph {
  CudaGraph graph;
  Tensor acc, images, labels, short_images, short_labels;
};

// The test set through the net in eval mode, --eval-batch images at a time, on the loader's device. The
// sums stay on the device until the end; predictions are copied back only when asked for. With a
// graph (CUDA, --cuda-graph, and no predictions: those are copied back batch by batch), each full
// batch is the captured forward replayed, its rows read from the loader's counter; the short last
// batch runs op by op. The same bits either way.
EvalResult evaluate(Sequential& net, BatchLoader& loader, const Tensor& no_penalty, bool keep_predictions,
                    EvalGraph* g = nullptr) {
  const bool replay = g && !keep_predictions;
  loader.start_epoch(0, replay ? 0 : -1);  // with the graph, the counter {0, 0}
  const Tensor no_counter;
  const Tensor& counter = replay ? loader.counter() : no_counter;
  EvalResult r;
  EvalGraph local;
  EvalGraph& e = replay ? *g : local;
  if (!e.acc.defined()) e.acc = Tensor::empty({2}, DType::f64, loader.device());
  e.acc.zero_();
  int64_t seen = 0;
  Context ctx;  // eval mode, no tape
  for (int b = 0; b < loader.num_batches(); ++b) {
    const bool full = loader.batch_size(b) == loader.batch_size(0);
    Tensor& images = full ? e.images : e.short_images;
    Tensor& labels = full ? e.labels : e.short_labels;
    LossResult lr;
    auto forward = [&] {
      loader.get(b, images, labels, counter);
      Var x = make_var(images);
      x->requires_grad = false;
      lr = nll_loss(net.forward(x, ctx), labels, ctx);
      accumulate_metrics(e.acc, lr, no_penalty, labels);
      if (replay) loader.advance();
    };
    if (replay && full) {
      if (!e.graph.ready()) e.graph.capture(forward);
      e.graph.replay();
    } else {
      forward();
    }
    seen += labels.numel();
    if (keep_predictions) {
      const Tensor lp = lr.logp.to_device(Device::cpu);
      for (int64_t i = 0; i < labels.numel(); ++i) {
        const float* row = lp.data<float>() + i * 10;
        const int p = static_cast<int>(std::max_element(row, row + 10) - row);
        r.pred.push_back(p);
        r.conf.push_back(std::exp(row[p]));
      }
    }
  }
  const auto sums = e.acc.to_vector();  // waits for the device
  r.loss = sums[0] / static_cast<double>(seen);
  r.acc = 100.0 * sums[1] / static_cast<double>(seen);
  return r;
}

std::string metrics_csv(const std::vector<EpochMetrics>& rows) {
  std::ostringstream os;
  os << "epoch,train_loss,train_acc,test_loss,test_acc,seconds\n";
  char b[200];
  for (const auto& m : rows) {
    std::snprintf(b, sizeof b, "%d,%.6f,%.4f,%.6f,%.4f,%.3f\n", m.epoch, m.train_loss, m.train_acc, m.test_loss,
                  m.test_acc, m.seconds);
    os << b;
  }
  return os.str();
}

// The 10 most confident mistakes (ties by index), with their pixels, for the 5x2 grids.
std::string misclassified_csv(const MnistSplit& test, const EvalResult& ev) {
  std::vector<int64_t> wrong;
  const int32_t* lab = test.labels.data<int32_t>();
  for (int64_t i = 0; i < test.size(); ++i)
    if (ev.pred[static_cast<std::size_t>(i)] != lab[i]) wrong.push_back(i);
  std::stable_sort(wrong.begin(), wrong.end(), [&](int64_t a, int64_t b) {
    return ev.conf[static_cast<std::size_t>(a)] > ev.conf[static_cast<std::size_t>(b)];
  });
  if (wrong.size() > 10) wrong.resize(10);
  std::ostringstream os;
  os << "index,true,pred,confidence,pixels\n";
  const float* im = test.images.data<float>();
  for (int64_t i : wrong) {
    os << i << ',' << lab[i] << ',' << ev.pred[static_cast<std::size_t>(i)] << ','
       << ev.conf[static_cast<std::size_t>(i)] << ',';
    for (int k = 0; k < 784; ++k) os << (k ? " " : "") << mnist_pixel(im[i * 784 + k]);
    os << '\n';
  }
  return os.str();
}

void progress(int epoch, int epochs, int b, int nb, int64_t images, double secs) {
  const int width = 30;
  const int fill = static_cast<int>(static_cast<double>(width) * (b + 1) / nb);
  const double ips = static_cast<double>(images) / std::max(secs, 1e-9);
  const double eta = secs / (b + 1) * (nb - b - 1);
  std::printf("\repoch %2d/%d [%s%s] %3d%%  %6.0f img/s  ETA %4.1fs ", epoch, epochs, std::string(fill, '#').c_str(),
              std::string(width - fill, '.').c_str(), 100 * (b + 1) / nb, ips, eta);
  std::fflush(stdout);
}

// --profile: where the training passes' time went, per dispatcher op (core/profile.h), printed
// and written to profile.csv; "(outside the ops)" is autograd, allocation and the loop itself.
void report_profile(const std::string& dir, double train_seconds, int64_t steps) {
  std::string csv = "op,calls,seconds,ms_per_step,percent\n";
  double in_ops = 0;
  auto row = [&](const std::string& op, int64_t calls, double secs) {
    char b[256];
    const double ms = steps > 0 ? 1e3 * secs / static_cast<double>(steps) : 0.0;
    const double pct = train_seconds > 0 ? 100.0 * secs / train_seconds : 0.0;
    std::snprintf(b, sizeof b, "%s,%lld,%.4f,%.4f,%.2f\n", op.c_str(), static_cast<long long>(calls), secs, ms, pct);
    csv += b;
    std::printf("  %-32s %8lld calls %9.3f s %8.3f ms/step %6.2f%%\n", op.c_str(), static_cast<long long>(calls), secs,
                ms, pct);
  };
  std::printf("profile of the training passes (%lld steps, %.3f s):\n", static_cast<long long>(steps), train_seconds);
  for (const auto& e : profile::entries()) {
    row(e.op, e.calls, e.seconds);
    in_ops += e.seconds;
  }
  row("(outside the ops)", 0, train_seconds - in_ops);
  write_file_atomic((fs::path(dir) / "profile.csv").string(), csv);
}

// A loss beyond this cannot come from training that works (chance is ln 10 = 2.3): the run diverged.
constexpr double kDivergedLoss = 1000.0;
bool exploded(double loss) { return !std::isfinite(loss) || loss > kDivergedLoss; }

// Non-finite values in any parameter (CPU: checked after every step).
bool params_finite(Sequential& net) {
  for (auto& p : net.parameters()) {
    const float* v = p->value.data<float>();
    for (int64_t i = 0; i < p->value.numel(); ++i)
      if (!std::isfinite(v[i])) return false;
  }
  return true;
}

// One training run, in three parts: build_run (the net, optimiser, loaders, schedule, config.json
// and, when resuming, the saved state), train_epochs (the loop: steps, evaluation, a resume.ckpt per
// epoch) and finish_run (the final evaluation, model.ckpt, misclassified.csv, results.json).
struct Run {
  const TrainConfig& cfg;
  Norm norm;
  uint64_t seed;
  double l1;
  std::string dir;
  Device dev;
  const MnistSplit* test;  // for misclassified.csv
  std::unique_ptr<Sequential> net{};
  std::unique_ptr<Sgd> opt{};
  std::unique_ptr<BatchLoader> loader{}, test_loader{};
  LrSchedule sched{};
  RunState st{};
  RunResult res{};
  EvalResult last{};
  int64_t mallocs_after_first_epoch = 0;
  int64_t profiled_steps = 0;
  std::size_t graph_nodes = 0;  // kernels, fills and copies of the captured training step (0: none)
  EvalGraph eval_graph{};        // --cuda-graph: the evaluations' captured forward
};

std::unique_ptr<Run> build_run(const TrainConfig& cfg, Norm norm, uint64_t seed, double l1, const MnistSplit& train,
                               const MnistSplit& test, const std::string& dir, bool resume) {
  fs::create_directories(dir);
  if (!resume)
    for (const char* f : {"results.json", "misclassified.csv", "model.ckpt", "metrics.csv", "resume.ckpt"})
      fs::remove(fs::path(dir) / f);
  auto r = std::unique_ptr<Run>(new Run{.cfg = cfg, .norm = norm, .seed = seed, .l1 = l1, .dir = dir,
                                        .dev = cfg.device == "cuda" ? Device::cuda : Device::cpu, .test = &test});
  Rng rng(seed);
  NetConfig nc;
  nc.norm = norm;
  nc.arch = cfg.arch;
  nc.norm_cfg.groups = cfg.groups;
  nc.norm_cfg.ln_per_element = cfg.ln_per_element;
  nc.dropout = cfg.dropout;
  r->net = build_mnist_net(nc, rng);  // initialised on the CPU: the same weights on every device
  r->res = RunResult{dir, norm, seed, r->net->num_parameters(), {}, "ok", ""};

  std::printf("\n== %s%s, seed %llu -> %s\n%s", norm_name(norm).c_str(), l1 > 0 ? " + L1" : "",
              static_cast<unsigned long long>(seed), dir.c_str(), r->net->summary({1, 1, 28, 28}, DType::f32).c_str());
  move_to(*r->net, r->dev);

  SgdConfig oc;
  oc.momentum = cfg.momentum;
  oc.nesterov = cfg.nesterov;
  oc.weight_decay = cfg.weight_decay;
  oc.l1 = l1;
  r->opt = std::make_unique<Sgd>(r->net->parameters(), oc);
  r->loader = std::make_unique<BatchLoader>(train, cfg.batch, true, seed, cfg.rotate_deg, r->dev);  // uploads once
  r->test_loader = std::make_unique<BatchLoader>(test, cfg.eval_batch, false, 0, 0.0, r->dev);
  r->sched.kind = *parse_schedule(cfg.schedule);
  r->sched.max_lr = cfg.lr;
  r->sched.pct = cfg.warmup;
  r->sched.steps_per_epoch = r->loader->num_batches();
  r->sched.total_steps = static_cast<long>(cfg.epochs) * r->loader->num_batches();

  json conf = {{"norm", norm_name(norm)},         {"arch", cfg.arch},
               {"groups", cfg.groups},             {"ln_per_element", cfg.ln_per_element},
               {"l1", l1},                         {"weight_decay", cfg.weight_decay},
               {"lr", cfg.lr},                     {"momentum", cfg.momentum},
               {"nesterov", cfg.nesterov},         {"schedule", cfg.schedule},
               {"warmup", cfg.warmup},             {"dropout", cfg.dropout},
               {"rotate_deg", cfg.rotate_deg},     {"epochs", cfg.epochs},
               {"batch", cfg.batch},               {"eval_batch", cfg.eval_batch},
               {"seed", seed},                     {"threads", cfg.threads},
               {"train_images", train.size()},     {"test_images", test.size()},
               {"device", cfg.device},             {"parameters", r->res.params}};
  if (r->dev == Device::cuda) conf["gpu"] = cuda_device_name();
  write_file_atomic((fs::path(dir) / "config.json").string(), conf.dump(2) + "\n");

  if (resume && load_run_state(dir, *r->net, *r->opt, r->st, cfg.epochs)) {
    r->res.epochs = r->st.epochs;
    std::printf("resuming %s after epoch %d of %d (step %ld)\n", dir.c_str(), r->st.epochs_done, cfg.epochs,
                r->st.step);
    write_file_atomic((fs::path(dir) / "metrics.csv").string(), metrics_csv(r->res.epochs));
  }
  return r;
}

// Stops the run: one line naming where and the fix; the last complete epoch's resume.ckpt stays.
bool diverged(Run& r, int epoch, const std::string& where, double loss, const char* what = "the loss") {
  char b[400];
  std::snprintf(b, sizeof b, "training diverged at epoch %d, %s: %s is %g; lower --lr (it is %g) and train again",
                epoch, where.c_str(), what, loss, r.cfg.lr);
  std::fprintf(stderr, "mnist_norm: %s (%s)\n", b, r.dir.c_str());
  r.res.status = "diverged";
  r.res.failure = b;
  return false;
}

// The run's learning rates, one per step (kernels/sgd.h reads the step's from memory).
Tensor lr_schedule(const Run& r) {
  std::vector<double> lr(static_cast<std::size_t>(r.sched.total_steps));
  for (std::size_t s = 0; s < lr.size(); ++s) lr[s] = r.sched.at(static_cast<long>(s));
  return Tensor::from({static_cast<int64_t>(lr.size())}, lr, DType::f32).to_device(r.dev);
}

// The epochs still to train. False when the run diverged (r.res says where).
//
// One training step is the same ops on both devices; what changes from step to step (the learning
// rate, the dropout masks' seed, the batch's place in the epoch) is read by the kernels from a step
// counter in device memory (kernels/step.h), which the step's last op advances. So on CUDA the
// step of a full batch is captured once as a CUDA Graph and replayed for every other full batch of
// the run (one launch instead of about 80), the short last batch of an epoch likewise as a second
// graph, and the evaluation's full batches as a third (evaluate); every step of --profile or
// --cuda-graph off, and the last evaluation (its predictions), run op by op. The bits are the same
// either way.
bool train_epochs(Run& r) {
  const TrainConfig& cfg = r.cfg;
  Sequential& net = *r.net;
  BatchLoader& loader = *r.loader;
  const Device dev = r.dev;
  const bool tty = stdout_is_terminal() && cfg.jobs == 1;  // (side by side, progress bars would mix)
  Tape tape;
  Tensor images, labels, short_images, short_labels;  // a full batch's and the short last batch's
  // The run's counters live in its resumable state (so a resumed run carries on with them).
  long& step = r.st.step;
  const Tensor no_penalty;
  const Tensor lr = lr_schedule(r);
  // (loss + penalty) * n and the correct count, summed on the training device: on CUDA nothing in
  // the loop below waits for the GPU; the sums are read once, after the last step.
  Tensor acc = Tensor::zeros({2}, DType::f64, dev);
  const bool graphs = dev == Device::cuda && cfg.cuda_graph && !cfg.profile;
  CudaGraph graph, short_graph;  // a full batch's step, and the short last batch's
  if (cfg.profile) profile::reset();  // (--profile: one run at a time; the table is not shared safely)
  for (int epoch = r.st.epochs_done + 1; epoch <= cfg.epochs; ++epoch) {
    const auto t0 = Clock::now();
    profile::enable(cfg.profile);  // the training pass only, as the epoch's seconds
    loader.start_epoch(epoch, step);  // the step counter: {step, 0}
    const Tensor& counter = loader.counter();
    acc.zero_();
    int64_t seen = 0;
    const int nb = loader.num_batches();
    for (int b = 0; b < nb; ++b, ++step) {
      const bool full = loader.batch_size(b) == cfg.batch;
      Tensor& x_b = full ? images : short_images;
      Tensor& y_b = full ? labels : short_labels;
      LossResult out;
      auto train_step = [&] {
        const auto td = Clock::now();
        loader.get(b, x_b, y_b, counter);
        r.st.data_seconds += seconds_since(td);
        Context ctx{&tape, true, r.seed * 1000003ull, counter};  // dropout's seed: this + the step
        Var x = make_var(x_b);
        x->requires_grad = false;
        out = nll_loss(net.forward(x, ctx), y_b, ctx);
        r.opt->zero_grad();
        tape.backward();
        r.opt->step(lr, counter);
        accumulate_metrics(acc, out, r.opt->penalty(), y_b);
        loader.advance();
      };
      if (graphs) {
        CudaGraph& g = full ? graph : short_graph;
        if (!g.ready()) {
          g.capture(train_step);
          if (full) {
            r.graph_nodes = g.nodes();
            std::printf("CUDA graph: a training step captured (%zu kernels, fills and copies), replayed for every "
                        "full batch\n",
                        r.graph_nodes);
          }
        }
        g.replay();
      } else {
        train_step();
      }
      if (dev == Device::cpu) {  // on the CPU the loss is at hand: a divergence stops the run in its step
        const double loss = out.value();
        if (exploded(loss))
          return diverged(r, epoch, "step " + std::to_string(b + 1) + " of " + std::to_string(nb), loss);
        if (!params_finite(net))
          return diverged(r, epoch, "step " + std::to_string(b + 1) + " (a parameter became non-finite)", loss,
                          "the step's loss");
      }
      seen += y_b.numel();
      if (tty && (b % 8 == 0 || b == nb - 1)) progress(epoch, cfg.epochs, b, nb, seen, seconds_since(t0));
    }
    const auto sums = acc.to_vector();  // on CUDA: the one wait for the GPU in the epoch
    const double train_secs = seconds_since(t0);
    profile::enable(false);
    r.profiled_steps += nb;
    // On CUDA the loss is read once per epoch (a read per step would stall the GPU): the epoch is named.
    const double mean_loss = sums[0] / static_cast<double>(seen);
    if (exploded(mean_loss)) return diverged(r, epoch, "during the epoch", mean_loss, "the mean training loss");
    const auto te = Clock::now();
    r.last = evaluate(net, *r.test_loader, no_penalty, epoch == cfg.epochs, graphs ? &r.eval_graph : nullptr);
    r.st.eval_seconds += seconds_since(te);
    // Training can look sane while the model in eval mode has exploded (BN's running statistics).
    if (exploded(r.last.loss)) return diverged(r, epoch, "at its end", r.last.loss, "the test loss");
    if (epoch == 1) r.mallocs_after_first_epoch = cuda_memory_stats().mallocs;
    EpochMetrics m{epoch, sums[0] / static_cast<double>(seen), 100.0 * sums[1] / static_cast<double>(seen),
                   r.last.loss, r.last.acc, train_secs};
    r.res.epochs.push_back(m);
    if (tty) std::printf("\r%s\r", std::string(90, ' ').c_str());
    // (runs side by side, --jobs: each line names its run)
    const std::string who = cfg.jobs > 1 ? fs::path(r.dir).filename().string() + ": " : "";
    std::printf("%sepoch %2d/%d  train loss %.4f acc %6.2f%%  test loss %.4f acc %6.2f%%  %.1fs (%.0f img/s)\n",
                who.c_str(), epoch, cfg.epochs, m.train_loss, m.train_acc, m.test_loss, m.test_acc, train_secs,
                static_cast<double>(seen) / train_secs);
    std::fflush(stdout);
    write_file_atomic((fs::path(r.dir) / "metrics.csv").string(), metrics_csv(r.res.epochs));
    r.st.epochs_done = epoch;
    r.st.epochs = r.res.epochs;
    save_run_state(r.dir, net, *r.opt, r.st, cfg.epochs);  // a kill from here on resumes after this epoch
  }
  return true;
}

// The trained run's files: model.ckpt, misclassified.csv, results.json; resume.ckpt goes.
void finish_run(Run& r) {
  const TrainConfig& cfg = r.cfg;
  const std::string& dir = r.dir;
  RunResult& res = r.res;
  // Resumed after the last epoch's checkpoint but before the results: the final evaluation again
  // (eval mode changes nothing, so it is the same as the one the interrupted run made).
  if (r.last.pred.empty()) r.last = evaluate(*r.net, *r.test_loader, Tensor(), true);

  // Checkpoints hold host copies, whatever the device: the same file loads on either.
  move_to(*r.net, Device::cpu);
  save_checkpoint((fs::path(dir) / "model.ckpt").string(), r.net->state_dict());
  write_file_atomic((fs::path(dir) / "misclassified.csv").string(), misclassified_csv(*r.test, r.last));

  const auto& f = res.epochs.back();
  double train_total = 0;
  for (const auto& m : res.epochs) train_total += m.seconds;
  if (cfg.profile) report_profile(dir, train_total, r.profiled_steps);
  json out = {{"norm", norm_name(r.norm)}, {"l1", r.l1}, {"seed", r.seed}, {"parameters", res.params},
              {"epochs", cfg.epochs}, {"final_test_acc", f.test_acc}, {"final_test_loss", f.test_loss},
              {"final_train_acc", f.train_acc}, {"final_train_loss", f.train_loss},
              {"mean_epoch_seconds", train_total / cfg.epochs},
              {"eval_seconds_per_epoch", r.st.eval_seconds / cfg.epochs}, {"threads", cfg.threads},
              {"device", cfg.device}};
  // On the CPU the data path (gather, rotation) is timed apart; on CUDA its kernels run inside the
  // step, most of them in its graph, and the host time around them says nothing: no figure.
  if (r.dev == Device::cpu) out["data_seconds_per_epoch"] = r.st.data_seconds / cfg.epochs;
  if (r.dev == Device::cuda) {
    const auto ms = cuda_memory_stats();
    // The caching allocator at work: every cudaMalloc happens in the first epoch (first step and
    // the first evaluation); later epochs reuse the cached blocks.
    out["gpu"] = cuda_device_name();
    out["cuda_mallocs_after_epoch1"] = r.mallocs_after_first_epoch;
    out["cuda_mallocs_total"] = ms.mallocs;
    out["cuda_allocations_total"] = ms.allocations;
    out["cuda_allocator_counts_cover"] = cfg.jobs > 1 ? "the whole process: every run in flight (--jobs)" : "this run";
    out["cuda_graph_nodes"] = r.graph_nodes;
    out["cuda_branches"] = cfg.cuda_branches;
    out["cuda_kernel_versions"] = cuda_kernel_versions();  // NORMLAB_CUDA_VERSIONS applied
    std::printf("CUDA allocator: %lld cudaMalloc calls for %lld allocations (%lld of them by the end of epoch 1)\n",
                static_cast<long long>(ms.mallocs), static_cast<long long>(ms.allocations),
                static_cast<long long>(r.mallocs_after_first_epoch));
  }
  if (f.test_acc < kSanityAccuracy) {
    res.status = "below_sanity";
    std::printf("WARNING: final test accuracy %.2f%% is below the %.0f%% sanity threshold (chance is 10%%): this "
                "run did not learn; try a lower --lr\n", f.test_acc, kSanityAccuracy);
  }
  out["status"] = res.status;
  write_file_atomic((fs::path(dir) / "results.json").string(), out.dump(2) + "\n");
  remove_run_state(dir);
  // (on CUDA the data path's kernels run inside the step, most of them in its graph: not timed apart)
  char data[64] = "data and augmentation inside the step, on the GPU";
  if (r.dev == Device::cpu)
    std::snprintf(data, sizeof data, "of which data+augmentation %.2f s", r.st.data_seconds / cfg.epochs);
  std::printf("final (epoch %d): test acc %.2f%%, test loss %.4f; %lld parameters; %.2f s/epoch (%s); results in %s\n",
              f.epoch, f.test_acc, f.test_loss, static_cast<long long>(res.params), train_total / cfg.epochs, data,
              dir.c_str());
}

RunResult train_one(const TrainConfig& cfg, Norm norm, uint64_t seed, double l1, const MnistSplit& train,
                     const MnistSplit& test, const std::string& dir, bool resume) {
  auto run = build_run(cfg, norm, seed, l1, train, test, dir, resume);
  if (train_epochs(*run)) finish_run(*run);
  return run->res;
}

// The output folder: refused when it holds an earlier run (unless --overwrite), created, writable.
void prepare_out(const std::string& out, bool overwrite) {
  for (const char* f : {"command.json", "results.json", "summary.json", "metrics.csv", "resume.ckpt"})
    if (fs::exists(fs::path(out) / f) && !overwrite)
      throw InputError("--out " + out + " holds an earlier run (" + f + "): continue it with --resume " + out +
                       ", or pass --overwrite to train into it again");
  make_out_dir(out);
}

// Refuses a run whose memory need (dataset + activations of one batch, measured per image on this
// model) is beyond what the machine has available now.
void check_memory(int batch, int64_t images) {
  constexpr double kBytesPerImage = 784 * 4;         // the dataset in float32
  // Forward values and gradients of one image: peak RSS grew by 0.475 MB per image from --batch 512 to
  // 2048 (--train-limit 2048, CPU); rounded up.
  constexpr double kActivationBytesPerImage = 0.5e6;
  const double need = static_cast<double>(images) * kBytesPerImage + batch * kActivationBytesPerImage + 256e6;
  std::ifstream mi("/proc/meminfo");
  std::string key;
  double kb = 0, avail = 0;
  while (mi >> key >> kb) {
    if (key == "MemAvailable:") avail = kb * 1024;
    mi.ignore(64, '\n');
  }
  if (avail > 0 && need > avail) {
    char b[300];
    std::snprintf(b, sizeof b,
                  "--batch %d needs about %.1f GiB of memory, and this machine has %.1f GiB available: use a smaller "
                  "--batch (each image of a batch needs about %.1f MB)",
                  batch, need / 1073741824.0, avail / 1073741824.0, kActivationBytesPerImage / 1e6);
    throw InputError(b);
  }
}

}  // namespace

double run_l1(const TrainConfig& cfg, Norm n) {
  return (norm_spec(n).l1_in_study || cfg.norms.size() == 1) ? cfg.l1 : 0.0;
}

void make_out_dir(const std::string& out) {
  std::error_code ec;
  fs::create_directories(out, ec);
  if (ec || !fs::is_directory(out))
    throw InputError("--out " + out + ": cannot create this folder (" + (ec ? ec.message() : "not a folder") +
                     "); choose a writable place");
  if (::access(out.c_str(), W_OK) != 0)
    throw InputError("--out " + out + ": the folder is not writable; choose a writable place");
}

int run_training(const TrainConfig& cfg, std::vector<RunResult>* results) {
  omp_set_num_threads(cfg.threads);
  const std::string data = resolve_data_dir(cfg.data);
  // Everything that can be wrong with the input is found before anything is written.
  MnistSplit train = load_mnist(data, true, cfg.train_limit);
  MnistSplit test = load_mnist(data, false, cfg.test_limit);
  if (cfg.batch > train.size())
    throw InputError("--batch " + std::to_string(cfg.batch) + " is larger than the training set (" +
                     std::to_string(train.size()) + " images): use --batch " +
                     std::to_string(std::min<int64_t>(128, train.size())) + " or any size up to " +
                     std::to_string(train.size()));
  check_memory(cfg.batch, train.size() + test.size());
  const bool study = cfg.norms.size() > 1 || cfg.seeds > 1;
  std::string out = cfg.out;
  if (out.empty()) {
    std::string tag;
    for (Norm n : cfg.norms) {
      if (!tag.empty()) tag += '-';
      tag += norm_name(n);
    }
    out = "runs/" + (study ? "study-" + tag : tag) + "-" + timestamp();
  }
  if (!cfg.resume) {
    prepare_out(out, cfg.overwrite);
    TrainConfig saved = cfg;
    saved.out = out;
    save_command(out, saved);
  }
  std::printf("normlab mnist_norm: %lld training / %lld test images from %s; %d thread(s); output %s\n",
              static_cast<long long>(train.size()), static_cast<long long>(test.size()), data.c_str(), cfg.threads,
              out.c_str());
  // Seed-major order: every norm's first seed finishes before any second seed starts (with --jobs,
  // starts before any second seed does).
  struct Todo {
    Norm norm;
    uint64_t seed;
    std::string dir;
  };
  std::vector<Todo> todo;
  for (int s = 0; s < cfg.seeds; ++s)
    for (Norm n : cfg.norms) {
      const uint64_t seed = cfg.seed + static_cast<uint64_t>(s);
      todo.push_back({n, seed, study ? (fs::path(out) / (norm_name(n) + "-s" + std::to_string(seed))).string() : out});
    }
  std::vector<RunResult> runs(todo.size());
  auto one = [&](std::size_t i) {
    const Todo& t = todo[i];
    if (cfg.resume && fs::exists(fs::path(t.dir) / "results.json")) {
      std::printf("%s: finished before, kept as it is\n", t.dir.c_str());
      runs[i] = load_finished(t.dir, t.norm, t.seed);
    } else {
      runs[i] = train_one(cfg, t.norm, t.seed, run_l1(cfg, t.norm), train, test, t.dir, cfg.resume);
    }
  };
  if (cfg.jobs > 1) {
    side_by_side(todo.size(), cfg.jobs, one);
  } else {
    for (std::size_t i = 0; i < todo.size(); ++i) one(i);
  }
  bool any_diverged = false;
  for (const auto& r : runs) any_diverged = any_diverged || r.status == "diverged";
  if (any_diverged && !study) {
    if (results) *results = runs;
    return 3;  // the last good checkpoint (resume.ckpt) stays; no results, no figures
  }
  if (study) write_summary(out, runs, cfg.norms, cfg);
  if (results) *results = runs;
  if (gnuplot_available()) {
    plot_dir(out);
  } else {
    std::printf("gnuplot not found: training results are saved; install gnuplot (scripts/install-deps.sh) and run\n"
                "  mnist_norm plot %s\nto draw the figures.\n", out.c_str());
  }
  return any_diverged ? 3 : 0;
}

}  // namespace normlab::app
