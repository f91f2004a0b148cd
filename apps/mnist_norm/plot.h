// Figures from saved results, through gnuplot-iostream (pngcairo). Never retrains.
#pragma once
#include <string>

namespace normlab::app {

bool gnuplot_available();
// DIR is a study folder (summary.json + run folders) or a single run folder (metrics.csv).
// Writes test_loss, test_accuracy, train_loss and train_accuracy as .png and .svg, and
// misclassified_<norm>.png, into DIR (each via a temp file and rename). Returns 0.
// A sweep folder (sweep_summary.csv, from `mnist_norm sweep`) gets batch_sweep.png/.svg instead.
int plot_dir(const std::string& dir);
// batch_sweep.png and .svg in DIR from its sweep_summary.csv: final test error vs batch size.
void plot_sweep(const std::string& dir);

}  // namespace normlab::app
