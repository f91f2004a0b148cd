// Figures from saved results, through gnuplot-iostream (pngcairo). Never retrains.
#pragma once
#include <string>

namespace normlab::app {

bool gnuplot_available();
// DIR is a study folder (summary.json + run folders) or a single run folder (metrics.csv).
// Writes test_loss, test_accuracy, train_loss and train_accuracy as .png and .svg, and
// misclassified_<norm>.png, into DIR (each via a temp file and rename). Returns 0.
int plot_dir(const std::string& dir);

}  // namespace normlab::app
