#include "apps/mnist_norm/plot.h"

#include <gnuplot-iostream.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>
#include <vector>

#include "apps/mnist_norm/io.h"
#include "core/error.h"
#include "layers/norm.h"

namespace normlab::app {
namespace fs = std::filesystem;
using json = nlohmann::json;

bool gnuplot_available() { return std::system("command -v gnuplot >/dev/null 2>&1") == 0; }

namespace {

struct Series {
  std::string label;  // e.g. "BN + L1"
  std::string norm;
  int seeds = 0;
  // column -> per-epoch values (mean over seeds)
  std::map<std::string, std::vector<double>> cols;
  std::vector<std::string> run_dirs;
};


std::string pretty(const std::string& norm, double l1) {
  const auto n = parse_norm(norm);
  std::string s = n ? norm_spec(*n).label : norm;
  if (l1 > 0) s += " + L1";
  return s;
}

std::vector<Series> load_series(const std::string& dir) {
  std::vector<Series> out;
  const fs::path sp = fs::path(dir) / "summary.json";
  if (fs::exists(sp)) {
    const json s = json::parse(read_file(sp.string()));
    for (const auto& n : s.at("norms")) {
      Series se;
      se.norm = n.at("norm");
      se.label = pretty(se.norm, n.at("l1"));
      for (const auto& r : n.at("runs")) se.run_dirs.push_back((fs::path(dir) / r.get<std::string>()).string());
      out.push_back(se);
    }
  } else {
    const json c = json::parse(read_file((fs::path(dir) / "config.json").string()));
    Series se;
    se.norm = c.at("norm");
    se.label = pretty(se.norm, c.at("l1"));
    se.run_dirs.push_back(dir);
    out.push_back(se);
  }
  for (auto& se : out) {
    se.seeds = static_cast<int>(se.run_dirs.size());
    for (const auto& rd : se.run_dirs) {
      auto rows = read_metrics((fs::path(rd) / "metrics.csv").string());
      for (const char* col : {"train_loss", "train_acc", "test_loss", "test_acc"}) {
        auto& v = se.cols[col];
        if (v.size() < rows.size()) v.resize(rows.size(), 0.0);
        for (std::size_t e = 0; e < rows.size(); ++e) v[e] += rows[e].at(col) / se.seeds;
      }
    }
  }
  return out;
}

// Index of the first epoch that sets the y-range: a quarter of the way in (at least the second).
std::size_t first_kept(std::size_t epochs) { return epochs > 4 ? epochs / 4 : (epochs > 2 ? 1 : 0); }

const char* kColors[] = {"#1f77b4", "#d62728", "#2ca02c", "#9467bd"};

// Writes <stem>.png (pngcairo) and <stem>.svg with the same content.
void curves(const std::string& dir, const std::vector<Series>& ss, const std::string& col, const std::string& stem,
            const std::string& title, const std::string& ylabel, bool percent) {
  double lo = 1e300, hi = -1e300;
  std::size_t epochs = 0;
  for (const auto& s : ss) {
    const auto& v = s.cols.at(col);
    epochs = std::max(epochs, v.size());
    // y-range: where the curves live after the first quarter of training (the early epochs,
    // far from the rest, would flatten everything); points left outside are named in a label
    for (std::size_t e = first_kept(v.size()); e < v.size(); ++e) lo = std::min(lo, v[e]), hi = std::max(hi, v[e]);
  }
  const double pad = (hi - lo) * 0.08 + 1e-9;
  int seeds = ss.empty() ? 1 : ss.front().seeds;
  const std::pair<const char*, const char*> formats[] = {
      {"png", "pngcairo size 1100,680 enhanced font 'Sans,12'"},
      {"svg", "svg size 1100,680 enhanced font 'Sans,12' background rgb 'white'"}};
  for (const auto& [ext, terminal] : formats) {
    const std::string out = (fs::path(dir) / (stem + "." + ext)).string(), tmp = out + ".tmp";
    {
      Gnuplot gp("gnuplot");
      gp << "set terminal " << terminal << "\n";
      gp << "set output '" << tmp << "'\n";
      gp << "set title '" << title << (seeds > 1 ? " (mean of " + std::to_string(seeds) + " seeds)" : std::string())
         << "' font 'Sans,15'\n";
      gp << "set xlabel 'epoch'\nset ylabel '" << ylabel << "'\n";
      gp << "set grid\nset key " << (percent ? "right bottom" : "right top") << " box opaque\n";
      gp << "set xrange [0.5:" << epochs + 0.5 << "]\nset xtics 1\n";
      gp << "set yrange [" << lo - pad << ":" << hi + pad << "]\n";
      // Say which early points lie outside the range chosen for the later ones.
      std::string clipped;
      for (const auto& s : ss) {
        const auto& v = s.cols.at(col);
        std::vector<std::size_t> out;
        for (std::size_t e = 0; e < first_kept(v.size()); ++e)
          if (v[e] < lo - pad || v[e] > hi + pad) out.push_back(e + 1);
        if (out.empty()) continue;
        std::string ep = std::to_string(out.front());
        if (out.size() > 1) ep += "-" + std::to_string(out.back());
        clipped += (clipped.empty() ? "" : ", ") + s.label + " " + ep;
      }
      if (!clipped.empty())
        gp << "set label 1 'early epochs off the scale (see metrics.csv): " << clipped << "' at graph 0.01, graph "
           << (percent ? 0.97 : 0.03) << " font 'Sans,9' tc rgb '#555555'\n";
      if (percent && lo - pad < 99.4 && hi + pad > 99.4)
        gp << "set arrow 2 from graph 0, first 99.4 to graph 1, first 99.4 nohead dt 2 lw 1.5 lc rgb '#777777'\n"
           << "set label 3 '99.4% target' at graph 0.01, first 99.4 offset 0,0.6 font 'Sans,10' tc rgb '#555555'\n";
      gp << "plot ";
      for (std::size_t i = 0; i < ss.size(); ++i) {
        const double fin = ss[i].cols.at(col).back();
        char lab[96];
        std::snprintf(lab, sizeof lab, percent ? "%s (final %.2f%%)" : "%s (final %.4f)", ss[i].label.c_str(), fin);
        gp << (i ? ", " : "") << "'-' with linespoints lw 2 pt 7 ps 0.8 lc rgb '" << kColors[i % 4] << "' title '"
           << lab << "', '-' with points pt 6 ps 2.5 lw 2 lc rgb '" << kColors[i % 4] << "' notitle";
      }
      gp << "\n";
      for (const auto& s : ss) {
        const auto& v = s.cols.at(col);
        std::vector<std::pair<int, double>> pts;
        for (std::size_t e = 0; e < v.size(); ++e) pts.emplace_back(static_cast<int>(e + 1), v[e]);
        gp.send1d(pts);
        gp.send1d(std::vector<std::pair<int, double>>{pts.back()});  // the final point, circled
      }
      gp << "set output\n";
    }
    fs::rename(tmp, out);
    std::printf("wrote %s\n", out.c_str());
  }
}

void grid(const std::string& dir, const Series& s) {
  const std::string csv = (fs::path(s.run_dirs.front()) / "misclassified.csv").string();
  std::ifstream is(csv);
  if (!is) throw InputError(csv + ": not found; it is written at the end of training");
  std::string line;
  std::getline(is, line);
  struct Tile {
    long index;
    int truth, pred;
    double conf;
    std::vector<int> px;
  };
  std::vector<Tile> tiles;
  while (std::getline(is, line) && tiles.size() < 10) {
    std::stringstream ss(line);
    Tile t;
    char comma;
    ss >> t.index >> comma >> t.truth >> comma >> t.pred >> comma >> t.conf >> comma;
    int v;
    while (ss >> v) t.px.push_back(v);
    if (t.px.size() != 784) throw InputError(csv + ": row for image " + std::to_string(t.index) + " is malformed");
    tiles.push_back(t);
  }
  const std::string out = (fs::path(dir) / ("misclassified_" + s.norm + ".png")).string(), tmp = out + ".tmp.png";
  {
    Gnuplot gp("gnuplot");
    gp << "set terminal pngcairo size 1100,560 enhanced font 'Sans,11'\n";
    gp << "set output '" << tmp << "'\n";
    gp << "set multiplot layout 2,5 title '" << s.label << ": the 10 most confident test mistakes"
       << (s.seeds > 1 ? " (seed " + fs::path(s.run_dirs.front()).filename().string() + ")" : std::string())
       << "' font 'Sans,15'\n";
    gp << "unset key\nunset colorbox\nunset xtics\nunset ytics\nunset border\n";
    gp << "set palette gray negative\nset cbrange [0:255]\nset size ratio -1\n";
    gp << "set xrange [-0.5:27.5]\nset yrange [27.5:-0.5]\n";
    for (const auto& t : tiles) {
      char title[128];
      std::snprintf(title, sizeof title, "#%ld  true %d, pred %d\\nconfidence %.1f%%", t.index, t.truth, t.pred,
                    100 * t.conf);
      gp << "set title \"" << title << "\" font 'Sans,11'\n";
      gp << "plot '-' matrix with image\n";
      for (int r = 0; r < 28; ++r) {
        for (int c = 0; c < 28; ++c) gp << t.px[static_cast<std::size_t>(r * 28 + c)] << (c < 27 ? " " : "\n");
      }
      gp << "e\n";
    }
    gp << "unset multiplot\nset output\n";
  }
  fs::rename(tmp, out);
  std::printf("wrote %s\n", out.c_str());
}

}  // namespace

int plot_dir(const std::string& dir) {
  if (!fs::is_directory(dir)) throw InputError("plot: '" + dir + "' is not a folder; pass a run or study folder");
  if (!gnuplot_available())
    throw InputError(
        "plot: gnuplot is not installed; install it with scripts/install-deps.sh (or apt-get install gnuplot-nox)");
  const auto ss = load_series(dir);
  curves(dir, ss, "test_loss", "test_loss", "Graph 1: test loss per epoch", "test loss (mean NLL, nats)", false);
  curves(dir, ss, "test_acc", "test_accuracy", "Graph 2: test accuracy per epoch", "test accuracy (%)", true);
  curves(dir, ss, "train_loss", "train_loss", "Training loss per epoch (incl. L1 term)",
         "train loss (mean NLL + penalty, nats)", false);
  curves(dir, ss, "train_acc", "train_accuracy", "Training accuracy per epoch (augmented data)", "train accuracy (%)",
         true);
  for (const auto& s : ss) grid(dir, s);
  return 0;
}

}  // namespace normlab::app
