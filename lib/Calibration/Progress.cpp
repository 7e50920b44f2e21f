//===- Progress.cpp - A terminal progress bar -----------------------------===//

#include "qopt/Calibration/Progress.h"

#include "llvm/Support/Format.h"
#include "llvm/Support/Process.h"
#include "llvm/Support/raw_ostream.h"

namespace qopt::calib {

ProgressBar::ProgressBar(std::string label, size_t total, std::string unit)
    : label(std::move(label)), unit(std::move(unit)), total(total),
      terminal(llvm::sys::Process::StandardErrIsDisplayed()),
      start(std::chrono::steady_clock::now()), lastDraw(start) {}

void ProgressBar::update(size_t done) {
  auto now = std::chrono::steady_clock::now();
  if (!terminal || now - lastDraw < std::chrono::milliseconds(100))
    return;
  lastDraw = now;
  draw(done, false);
}

void ProgressBar::finish() { draw(total, true); }

void ProgressBar::draw(size_t done, bool final) {
  constexpr int width = 30;
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() -
                                              start)
                    .count();
  int filled = total ? int(width * done / total) : width;
  std::string bar(filled, '#');
  bar.resize(width, '.');
  double rate = secs > 0 ? done / secs : 0;
  auto &os = llvm::errs();
  os << (terminal ? "\r" : "") << label << " [" << bar << "] " << done << "/"
     << total << llvm::format("  %.1f %s/s", rate, unit.c_str());
  if (final)
    os << llvm::format("  %.1f s   \n", secs);
  else
    os << llvm::format("  ETA %.0f s   ", rate > 0 ? (total - done) / rate : 0.0);
}

} // namespace qopt::calib
