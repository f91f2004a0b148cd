#include "apps/mnist_norm/resume.h"

#include <filesystem>
#include <nlohmann/json.hpp>

#include "apps/mnist_norm/io.h"
#include "core/checkpoint.h"
#include "core/error.h"

namespace normlab::app {
namespace fs = std::filesystem;
using json = nlohmann::json;

namespace {
constexpr int kMetricCols = 6;  // epoch, train loss, train acc, test loss, test acc, seconds

// The tensors of a resume checkpoint, as host tensors shaped like the live ones.
struct StateTensors {
  std::vector<Tensor> t;
  NamedTensors named;
  StateTensors(Sequential& net, Sgd& opt, int total_epochs) {
    const auto model = net.state_dict();  // the model's tensors, named as in model.ckpt
    t.reserve(model.size() + opt.velocity().size() + 2);
    for (const auto& [name, p] : model) add(name, p->shape(), p->dtype());
    for (std::size_t i = 0; i < opt.velocity().size(); ++i)
      add("velocity." + std::to_string(i), opt.velocity()[i].shape(), opt.velocity()[i].dtype());
    add("state", {4}, DType::f64);
    add("metrics", {total_epochs, kMetricCols}, DType::f64);
  }
  void add(const std::string& name, const Shape& s, DType d) {
    t.push_back(Tensor::zeros(s, d));
    named.emplace_back(name, &t.back());
  }
  // The live tensors in the same order as the first entries of t.
  static std::vector<Tensor*> live(Sequential& net, Sgd& opt) {
    std::vector<Tensor*> v;
    for (const auto& named : net.state_dict()) v.push_back(named.second);
    for (auto& u : opt.velocity()) v.push_back(&u);
    return v;
  }
};
}  // namespace

std::string command_text(const TrainConfig& c) {
  json norms = json::array();
  for (Norm n : c.norms) norms.push_back(norm_name(n));
  const json j = {{"norms", norms},       {"arch", c.arch},       {"groups", c.groups},          {"ln_per_element", c.ln_per_element},
                  {"l1", c.l1},           {"weight_decay", c.weight_decay}, {"lr", c.lr},
                  {"momentum", c.momentum}, {"nesterov", c.nesterov},      {"schedule", c.schedule},
                  {"warmup", c.warmup},
                  {"dropout", c.dropout}, {"rotate_deg", c.rotate_deg},  {"epochs", c.epochs},
                  {"batch", c.batch},     {"eval_batch", c.eval_batch},  {"seed", c.seed},
                  {"seeds", c.seeds},
                  {"data", c.data},       {"out", c.out},                {"threads", c.threads},
                  {"train_limit", c.train_limit}, {"test_limit", c.test_limit}, {"device", c.device}};
  return j.dump(2) + "\n";
}

void save_command(const std::string& dir, const TrainConfig& c) {
  write_file_atomic((fs::path(dir) / "command.json").string(), command_text(c));
}

TrainConfig load_command(const std::string& dir) {
  const std::string path = (fs::path(dir) / "command.json").string();
  if (!fs::exists(path))
    throw InputError("--resume " + dir + ": no command.json there; give the folder of a run or study that "
                     "mnist_norm started");
  try {
    const json j = json::parse(read_file(path));
    TrainConfig c;
    c.norms.clear();
    for (const auto& n : j.at("norms")) c.norms.push_back(*parse_norm(n.get<std::string>()));
    c.arch = j.value("arch", std::string(kFirstStudyArch));  // command.json files from before --arch
    c.groups = j.at("groups");
    c.ln_per_element = j.at("ln_per_element");
    c.l1 = j.at("l1");
    c.weight_decay = j.at("weight_decay");
    c.lr = j.at("lr");
    c.momentum = j.at("momentum");
    c.nesterov = j.at("nesterov");
    c.schedule = j.at("schedule");
    c.warmup = j.value("warmup", 0.2);  // command.json files from before --warmup
    c.dropout = j.at("dropout");
    c.rotate_deg = j.at("rotate_deg");
    c.epochs = j.at("epochs");
    c.batch = j.at("batch");
    // command.json files from before --eval-batch: every evaluation then ran in batches of 1000 (the
    // size those runs used, kept here even if TrainConfig's default changes)
    c.eval_batch = j.value("eval_batch", 1000);
    c.seed = j.at("seed");
    c.seeds = j.at("seeds");
    c.data = j.at("data");
    c.out = dir;
    c.threads = j.at("threads");
    c.train_limit = j.at("train_limit");
    c.test_limit = j.at("test_limit");
    c.device = j.at("device");
    return c;
  } catch (const json::exception& e) {
    throw InputError(path + ": not a command.json that mnist_norm wrote (" + e.what() + ")");
  }
}

void save_run_state(const std::string& dir, Sequential& net, Sgd& opt, const RunState& st, int total_epochs) {
  StateTensors s(net, opt, total_epochs);
  const auto live = StateTensors::live(net, opt);
  for (std::size_t i = 0; i < live.size(); ++i) s.t[i].copy_from(*live[i]);
  Tensor& state = s.t[live.size()];
  state.set(0, st.epochs_done);
  state.set(1, static_cast<double>(st.step));
  state.set(2, st.data_seconds);
  state.set(3, st.eval_seconds);
  Tensor& m = s.t[live.size() + 1];
  for (std::size_t e = 0; e < st.epochs.size(); ++e) {
    const EpochMetrics& r = st.epochs[e];
    const double row[kMetricCols] = {double(r.epoch), r.train_loss, r.train_acc, r.test_loss, r.test_acc, r.seconds};
    for (int k = 0; k < kMetricCols; ++k) m.set(static_cast<int64_t>(e) * kMetricCols + k, row[k]);
  }
  save_checkpoint((fs::path(dir) / "resume.ckpt").string(), s.named);
}

bool load_run_state(const std::string& dir, Sequential& net, Sgd& opt, RunState& st, int total_epochs) {
  const std::string path = (fs::path(dir) / "resume.ckpt").string();
  if (!fs::exists(path)) return false;
  StateTensors s(net, opt, total_epochs);
  load_checkpoint(path, s.named);
  const auto live = StateTensors::live(net, opt);
  for (std::size_t i = 0; i < live.size(); ++i) live[i]->copy_from(s.t[i]);
  const Tensor& state = s.t[live.size()];
  st.epochs_done = static_cast<int>(state.get(0));
  st.step = static_cast<long>(state.get(1));
  st.data_seconds = state.get(2);
  st.eval_seconds = state.get(3);
  if (st.epochs_done < 0 || st.epochs_done > total_epochs)
    throw InputError(path + ": epoch " + std::to_string(st.epochs_done) + " is outside the run's " +
                     std::to_string(total_epochs) + " epochs");
  const Tensor& m = s.t[live.size() + 1];
  st.epochs.clear();
  for (int e = 0; e < st.epochs_done; ++e) {
    auto at = [&](int k) { return m.get(static_cast<int64_t>(e) * kMetricCols + k); };
    st.epochs.push_back({static_cast<int>(at(0)), at(1), at(2), at(3), at(4), at(5)});
  }
  return true;
}

void remove_run_state(const std::string& dir) { fs::remove(fs::path(dir) / "resume.ckpt"); }

}  // namespace normlab::app
