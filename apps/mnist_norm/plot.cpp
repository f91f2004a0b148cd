#include "apps/mnist_norm/plot.h"

#include <gnuplot-iostream.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>
#include <tuple>
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
  // column -> per-epoch mean, minimum and maximum over the seeds
  std::map<std::string, std::vector<double>> cols, lo, hi;
  // column -> the last epoch's value of each seed (for the legend's mean +- std)
  std::map<std::string, std::vector<double>> finals;
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
        auto &v = se.cols[col], &lo = se.lo[col], &hi = se.hi[col];
        if (v.size() < rows.size()) {
          v.resize(rows.size(), 0.0);
          lo.resize(rows.size(), 1e300);
          hi.resize(rows.size(), -1e300);
        }
        for (std::size_t e = 0; e < rows.size(); ++e) {
          const double x = rows[e].at(col);
          v[e] += x / se.seeds;
          lo[e] = std::min(lo[e], x);
          hi[e] = std::max(hi[e], x);
        }
        se.finals[col].push_back(rows.back().at(col));  // read_metrics refuses a file without epochs
      }
    }
  }
  return out;
}

// "99.43 ± 0.07" style: the mean and the sample standard deviation of the seeds' final values
// (the mean alone for a single seed).
std::string format_mean_std(const std::vector<double>& v, const char* fmt) {
  const auto [m, sd] = mean_std(v);
  char f2[32], b[64];
  std::snprintf(f2, sizeof f2, v.size() < 2 ? "%s" : "%s ± %s", fmt, fmt);
  std::snprintf(b, sizeof b, f2, m, sd);
  return b;
}

const char* kColors[] = {"#1f77b4", "#d62728", "#2ca02c", "#9467bd"};
// Every line figure is written twice, the same content: PNG and SVG (extension, gnuplot terminal).
const std::pair<const char*, const char*> kFormats[] = {
    {"png", "pngcairo size 1100,680 enhanced font 'Sans,12'"},
    {"svg", "svg size 1100,680 enhanced font 'Sans,12' background rgb 'white'"}};

// Writes <stem>.png (pngcairo) and <stem>.svg with the same content: per norm the mean over the
// seeds (line) and the band from the lowest to the highest seed (shaded), every epoch on the
// scale. Losses on a log scale; accuracies as error = 100 - accuracy on a reversed log scale
// labelled in accuracy, so that 90% at epoch 1 and 99.5% at epoch 20 are both readable.
void curves(const std::string& dir, const std::vector<Series>& ss, const std::string& col, const std::string& stem,
            const std::string& title, const std::string& ylabel, bool percent) {
  // The plotted value: the loss, or the error 100 - accuracy; at least 1e-4 for the log axis.
  auto y = [&](double v) { return std::max(percent ? 100.0 - v : v, 1e-4); };
  double lo = 1e300, hi = -1e300;
  std::size_t epochs = 0;
  for (const auto& s : ss) {
    epochs = std::max(epochs, s.cols.at(col).size());
    for (double v : s.lo.at(col)) lo = std::min(lo, y(v)), hi = std::max(hi, y(v));
    for (double v : s.hi.at(col)) lo = std::min(lo, y(v)), hi = std::max(hi, y(v));
  }
  const int seeds = ss.empty() ? 1 : ss.front().seeds;
  for (const auto& [ext, terminal] : kFormats) {
    const std::string out = (fs::path(dir) / (stem + "." + ext)).string(), tmp = out + ".tmp";
    {
      Gnuplot gp("gnuplot");
      gp << "set terminal " << terminal << "\n";
      gp << "set output '" << tmp << "'\n";
      gp << "set title '" << title
         << (seeds > 1 ? " (line: mean of " + std::to_string(seeds) + " seeds; band: lowest to highest seed)"
                       : std::string())
         << "' font 'Sans,14'\n";
      gp << "set xlabel 'epoch'\nset ylabel '" << ylabel << "'\n";
      gp << "set grid xtics ytics mytics\nset key " << (percent ? "right bottom" : "right top") << " box opaque\n";
      gp << "set xrange [0.5:" << epochs + 0.5 << "]\nset xtics 1\nset logscale y\n";
      // Tics at round values inside [bottom, top] (log axes label only decades by themselves).
      const double bottom = lo / 1.15, top = hi * 1.15;
      auto tics = [&](std::initializer_list<double> values, bool as_accuracy) {
        std::string t;
        for (double v : values) {
          const double at = as_accuracy ? 100 - v : v;
          if (at < bottom || at > top) continue;
          char b[64];
          std::snprintf(b, sizeof b, "%s'%g' %g", t.empty() ? "" : ", ", v, at);
          t += b;
        }
        gp << "set ytics (" << t << ")\n";
      };
      if (percent) {  // reversed: the best accuracy (smallest error) at the top
        gp << "set yrange [" << top << ":" << bottom << "]\n";
        tics({0, 30, 50, 80, 90, 95, 97, 98, 98.5, 99, 99.2, 99.4, 99.5, 99.6, 99.7, 99.8, 99.9}, true);
        if (col == "test_acc" && 0.6 <= top && 0.6 >= bottom)  // the study's target is on the test set
          gp << "set arrow 2 from graph 0, first 0.6 to graph 1, first 0.6 nohead dt 2 lw 1.5 lc rgb '#777777'\n"
             << "set label 3 '99.4% target' at graph 0.01, first 0.6 offset 0,-0.8 font 'Sans,10' tc rgb '#555555'\n";
      } else {
        gp << "set yrange [" << bottom << ":" << top << "]\n";
        tics({0.005, 0.01, 0.015, 0.02, 0.03, 0.05, 0.1, 0.2, 0.3, 0.5, 1, 2, 3}, false);
      }
      gp << "set style fill transparent solid 0.18 noborder\n";
      gp << "plot ";
      for (std::size_t i = 0; i < ss.size(); ++i) {
        const std::string fin = percent ? format_mean_std(ss[i].finals.at(col), "%.2f") + "%"
                                        : format_mean_std(ss[i].finals.at(col), "%.4f");
        const std::string c = kColors[i % 4];
        gp << (i ? ", " : "") << "'-' using 1:2:3 with filledcurves lc rgb '" << c << "' notitle, "
           << "'-' with linespoints lw 2 pt 7 ps 0.7 lc rgb '" << c << "' title '" << ss[i].label << " (final "
           << fin << ")'";
      }
      gp << "\n";
      for (const auto& s : ss) {
        const auto &v = s.cols.at(col), &l = s.lo.at(col), &h = s.hi.at(col);
        std::vector<std::tuple<int, double, double>> band;
        std::vector<std::pair<int, double>> mean;
        for (std::size_t e = 0; e < v.size(); ++e) {
          band.emplace_back(static_cast<int>(e + 1), y(l[e]), y(h[e]));
          mean.emplace_back(static_cast<int>(e + 1), y(v[e]));
        }
        gp.send1d(band);
        gp.send1d(mean);
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

std::vector<std::string> split_csv(const std::string& line) {
  std::vector<std::string> f;
  std::stringstream ss(line);
  std::string x;
  while (std::getline(ss, x, ',')) f.push_back(x);
  if (!line.empty() && line.back() == ',') f.emplace_back();
  return f;
}

}  // namespace

void plot_sweep(const std::string& dir) {
  const std::string csv = (fs::path(dir) / "sweep_summary.csv").string();
  std::ifstream is(csv);
  if (!is) throw InputError(csv + ": not found; `mnist_norm sweep` writes it");
  std::string line;
  std::getline(is, line);  // batch,norm,label,runs,diverged,mean,std,min,max,error_mean
  struct Point {
    int batch;
    double err, err_lo, err_hi;  // mean error; from the best seed's error to the worst seed's
  };
  std::vector<std::pair<std::string, std::vector<Point>>> lines;  // per label, in file order
  std::vector<int> batches;
  int seeds = 0;
  while (std::getline(is, line)) {
    const auto f = split_csv(line);
    if (f.size() != 10) throw InputError(csv + ": malformed row '" + line + "'");
    if (f[5].empty()) continue;  // no run of this batch and norm finished
    const Point p{std::stoi(f[0]), 100 - std::stod(f[5]), 100 - std::stod(f[8]), 100 - std::stod(f[7])};
    seeds = std::max(seeds, std::stoi(f[3]));
    auto it = std::find_if(lines.begin(), lines.end(), [&](const auto& l) { return l.first == f[2]; });
    if (it == lines.end()) it = lines.insert(lines.end(), {f[2], {}});
    it->second.push_back(p);
    if (std::find(batches.begin(), batches.end(), p.batch) == batches.end()) batches.push_back(p.batch);
  }
  if (lines.empty()) throw InputError(csv + ": no finished runs to plot");
  // The y-range holds every point and bar, unless a point is far off the rest (a seed that diverged
  // or collapsed): a mean above kOffScale times the median of the means. Such points are left above
  // the axis, each with a label giving its mean and seed range, so the others stay readable.
  constexpr double kOffScale = 10;
  std::vector<double> means;
  for (const auto& l : lines)
    for (const Point& p : l.second) means.push_back(p.err);
  std::nth_element(means.begin(), means.begin() + means.size() / 2, means.end());
  const double cap = kOffScale * means[means.size() / 2];
  double top = 0;
  std::string off_scale;  // gnuplot label and arrow commands
  int n_off = 0;
  for (const auto& l : lines)
    for (const Point& p : l.second) {
      if (p.err <= cap) {
        top = std::max(top, p.err_hi);
        continue;
      }
      char b[320];
      std::snprintf(b, sizeof b,
                    "set label '%s at %d: %.2f%% (off scale; seeds %.2f-%.2f%%)' at first %d, graph %.2f right "
                    "offset -1,0 tc rgb '#555555'\nset arrow from first %d, graph %.2f to first %d, graph 1 lc rgb "
                    "'#555555'\n",
                    l.first.c_str(), p.batch, p.err, p.err_lo, p.err_hi, p.batch, 0.93 - 0.06 * n_off, p.batch,
                    0.85 - 0.06 * n_off, p.batch);
      ++n_off;
      off_scale += b;
    }
  for (const auto& [ext, terminal] : kFormats) {
    const std::string out = (fs::path(dir) / (std::string("batch_sweep.") + ext)).string(), tmp = out + ".tmp";
    {
      Gnuplot gp("gnuplot");
      gp << "set terminal " << terminal << "\nset output '" << tmp << "'\n";
      gp << "set title 'Final test error vs batch size (point: mean of " << seeds
         << " seeds; bar: best to worst seed)' font 'Sans,14'\n";
      gp << "set xlabel 'batch size (images per step; log_2 axis; lr scaled with the batch)'\n"
         << "set ylabel 'test error at the last epoch (%)'\n";
      gp << "set logscale x 2\nset grid xtics ytics\nset key left top box opaque\n";
      std::string tics;
      for (int b : batches) tics += (tics.empty() ? "" : ", ") + std::to_string(b);
      gp << "set xtics (" << tics << ")\n";
      gp << "set xrange [" << batches.front() / 1.4 << ":" << batches.back() * 1.4 << "]\n";
      gp << "set yrange [0:" << top * 1.15 << "]\n" << off_scale;
      gp << "plot ";
      for (std::size_t i = 0; i < lines.size(); ++i)
        gp << (i ? ", " : "") << "'-' using 1:2:3:4 with yerrorlines lw 2 pt 7 ps 1 lc rgb '" << kColors[i % 4]
           << "' title '" << lines[i].first << "'";
      gp << "\n";
      for (const auto& l : lines) {
        // Each norm's points a few percent apart on x, so that bars at the same batch do not overlap.
        const double shift = std::pow(1.04, static_cast<double>(&l - &lines.front()) - (lines.size() - 1) / 2.0);
        std::vector<std::tuple<double, double, double, double>> pts;
        for (const Point& p : l.second) pts.emplace_back(p.batch * shift, p.err, p.err_lo, p.err_hi);
        gp.send1d(pts);
      }
      gp << "set output\n";
    }
    fs::rename(tmp, out);
    std::printf("wrote %s\n", out.c_str());
  }
}

int plot_dir(const std::string& dir) {
  if (!fs::is_directory(dir)) throw InputError("plot: '" + dir + "' is not a folder; pass a run or study folder");
  if (!gnuplot_available())
    throw InputError(
        "plot: gnuplot is not installed; install it with scripts/install-deps.sh (or apt-get install gnuplot-nox)");
  if (fs::exists(fs::path(dir) / "sweep_summary.csv")) {  // a batch-size sweep (mnist_norm sweep)
    plot_sweep(dir);
    return 0;
  }
  const auto ss = load_series(dir);
  curves(dir, ss, "test_loss", "test_loss", "Graph 1: test loss", "test loss (mean NLL, nats; log scale)", false);
  curves(dir, ss, "test_acc", "test_accuracy", "Graph 2: test accuracy", "test accuracy (%; log scale of the error)",
         true);
  curves(dir, ss, "train_loss", "train_loss", "Training loss (incl. L1 term)",
         "train loss (mean NLL + penalty, nats; log scale)", false);
  curves(dir, ss, "train_acc", "train_accuracy", "Training accuracy (augmented data)",
         "train accuracy (%; log scale of the error)", true);
  for (const auto& s : ss) grid(dir, s);
  return 0;
}

}  // namespace normlab::app
