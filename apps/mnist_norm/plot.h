// Figures from saved results, through gnuplot-iostream (pngcairo). Never retrains.
#pragma once
#include <string>

namespace normlab::app {

bool gnuplot_available();
// DIR is a study folder (summary.json + run folders) or a single run folder (metrics.csv).
// Writes test_loss.png, test_accuracy.png, train_loss.png, train_accuracy.png and
// misclassified_<norm>.png into DIR (each via a temp file and rename). Returns 0.
int plot_dir(const std::string& dir);

}  // namespace normlab::app
