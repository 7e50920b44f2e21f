//===- Progress.h - A terminal progress bar ---------------------*- C++ -*-===//

#ifndef QOPT_CALIBRATION_PROGRESS_H
#define QOPT_CALIBRATION_PROGRESS_H

#include <chrono>
#include <string>

namespace qopt::calib {

/// Prints "label [#####.....] 40/100  12.3 items/s  ETA 5 s" on stderr,
/// redrawn in place on a terminal; elsewhere only the final line.
class ProgressBar {
public:
  ProgressBar(std::string label, size_t total, std::string unit);
  void update(size_t done);
  void finish();

private:
  std::string label, unit;
  size_t total;
  bool terminal;
  std::chrono::steady_clock::time_point start, lastDraw;
  void draw(size_t done, bool final);
};

} // namespace qopt::calib

#endif // QOPT_CALIBRATION_PROGRESS_H
