//===- ReportWriter.cpp - report.json, report.html and the table ----------===//

#include "qopt/Driver/Report.h"

#include "llvm/Support/Format.h"
#include "llvm/Support/FormatVariadic.h"

#include <algorithm>
#include <map>

using namespace llvm;

namespace qopt {
namespace {

std::string escapeHTML(StringRef s) {
  std::string out;
  for (char c : s) {
    switch (c) {
    case '<': out += "&lt;"; break;
    case '>': out += "&gt;"; break;
    case '&': out += "&amp;"; break;
    case '"': out += "&quot;"; break;
    default: out += c;
    }
  }
  return out;
}

std::string bytesText(int64_t b) {
  if (b >= 10 * 1024 * 1024)
    return formatv("{0:f1} MiB", b / (1024.0 * 1024.0)).str();
  if (b >= 10 * 1024)
    return formatv("{0:f1} KiB", b / 1024.0).str();
  return std::to_string(b) + " B";
}

} // namespace

json::Value QualityReport::toJSON() const {
  json::Array layersJson, outputsJson;
  for (const LayerQuality &l : layers) {
    json::Object o{{"node", l.layer.node},
                   {"op", l.layer.op},
                   {"precision", l.layer.precision},
                   {"algorithm", l.layer.algorithm},
                   {"scheme", l.layer.scheme},
                   {"float_bytes", l.layer.floatBytes},
                   {"quantized_bytes", l.layer.quantizedBytes},
                   {"bits_per_weight", l.bitsPerWeight()}};
    if (l.sensitivity)
      o["predicted_loss"] = *l.sensitivity;
    if (!l.layer.role.empty())
      o["role"] = l.layer.role;
    if (!l.layer.reason.empty())
      o["reason"] = l.layer.reason;
    if (l.sqnrDb)
      o["sqnr_db"] = *l.sqnrDb;
    if (l.cosine)
      o["cosine"] = *l.cosine;
    if (const auto &out = l.layer.outliers) {
      json::Array channels;
      for (int64_t c : out->channels)
        channels.push_back(c);
      o["outliers"] = json::Object{{"channels", std::move(channels)},
                                   {"count", int64_t(out->channels.size())},
                                   {"median_channel_absmax", out->median},
                                   {"max_ratio", out->maxRatio},
                                   {"range_fraction", out->rangeFraction}};
    }
    layersJson.push_back(std::move(o));
  }
  for (const OutputQuality &q : outputs) {
    json::Object o{{"name", q.name},
                   {"sqnr_db", q.sqnrDb},
                   {"cosine", q.cosine},
                   {"max_abs_error", q.maxAbsError}};
    if (q.top1)
      o["top1_agreement"] = *q.top1;
    if (q.kl)
      o["kl"] = *q.kl;
    outputsJson.push_back(std::move(o));
  }
  json::Object extra;
  if (predictedLoss) {
    extra["predicted_loss"] = *predictedLoss;
    extra["loss_metric"] = lossMetric;
  }
  json::Object out{{"format", "qopt-quality-report"},
                      {"format_version", 1},
                      {"model", model},
                      {"precision", precision},
                      {"algorithm", algorithm},
                      {"algorithm_choice", algorithmChoice},
                      {"samples", int64_t(samples)},
                      {"samples_description", samplesDescription},
                      {"held_out", heldOut},
                      {"float_weight_bytes", floatWeightBytes},
                      {"quantized_weight_bytes", quantizedWeightBytes},
                      {"layers", std::move(layersJson)},
                      {"outputs", std::move(outputsJson)}};
  for (auto &kv : extra)
    out[kv.first] = std::move(kv.second);
  return out;
}

void QualityReport::print(raw_ostream &os) const {
  os << "qopt: " << precision << " quality";
  if (samples)
    os << " on " << samplesDescription;
  os << "\n";
  if (!algorithm.empty())
    os << "  weights chosen by " << algorithm << " (" << algorithmChoice
       << ")\n";
  if (!samples) {
    // Without measurements, one line per scheme instead of one per layer
    // (report.json and the manifest list every layer).
    std::map<std::string, size_t> perScheme;
    for (const LayerQuality &l : layers)
      ++perScheme[l.layer.op + " " + l.layer.scheme];
    for (const auto &[scheme, count] : perScheme)
      os << "  " << count << " x " << scheme << "\n";
  } else {
    size_t width = 5;
    for (const LayerQuality &l : layers)
      width = std::max(width, l.layer.node.size());
    width = std::min<size_t>(width, 48);
    os << "  " << left_justify("layer", width) << "  "
       << left_justify("precision", 14) << left_justify("weights", 26)
       << "  SQNR dB   cosine\n";
    // Worst layers first: they are where outlier handling should look.
    std::vector<const LayerQuality *> order;
    for (const LayerQuality &l : layers)
      order.push_back(&l);
    // Ties keep the model's order (no stable_sort: its temporary buffer is
    // deprecated in this libstdc++).
    std::sort(order.begin(), order.end(), [](auto *a, auto *b) {
      double sa = a->sqnrDb.value_or(1e9), sb = b->sqnrDb.value_or(1e9);
      return sa != sb ? sa < sb : a < b;
    });
    for (const LayerQuality *l : order) {
      StringRef scheme = l->layer.scheme;
      scheme.consume_front("#qopt.scheme<");
      scheme.consume_back(">");
      os << "  " << left_justify(l->layer.node, width) << "  "
         << left_justify(l->layer.precision, 14) << left_justify(scheme, 26);
      if (l->sqnrDb)
        os << format("  %7.2f  %8.6f", *l->sqnrDb, *l->cosine);
      else
        os << "        -         -";
      os << "\n";
    }
  }
  printOutliers(os);
  for (const OutputQuality &q : outputs) {
    os << format("  output %s: SQNR %.2f dB, cosine %.6f, max |err| %.4g",
                 q.name.c_str(), q.sqnrDb, q.cosine, q.maxAbsError);
    if (q.top1)
      os << format(", top-1 agreement %.2f%%", *q.top1 * 100);
    if (q.kl)
      os << format(", KL %.3g nats/token", *q.kl);
    os << "\n";
  }
  if (predictedLoss)
    os << format("  per-layer search: predicted loss %.3g (%s, the sum of "
                 "the layers' measured sensitivities)\n",
                 *predictedLoss, lossMetric.c_str());
  if (!samples)
    os << "  (no quality metrics: give --calib data to measure them)\n";
  os << "  weights of quantized ops: " << bytesText(floatWeightBytes)
     << " float -> " << bytesText(quantizedWeightBytes);
  if (quantizedWeightBytes)
    os << format(" (%.2fx smaller)",
                 double(floatWeightBytes) / double(quantizedWeightBytes));
  os << "\n";
}

void QualityReport::printOutliers(raw_ostream &os) const {
  const LayerQuality *widest = nullptr;
  size_t flagged = 0, analysed = 0;
  for (const LayerQuality &l : layers) {
    const auto &out = l.layer.outliers;
    if (!out)
      continue;
    ++analysed;
    if (!widest || out->maxRatio > widest->layer.outliers->maxRatio)
      widest = &l;
    flagged += !out->channels.empty();
  }
  if (!analysed)
    return;
  os << format("  activation outliers (input channels past %g and %gx the "
               "median channel): ",
               outlierThreshold, outlierRatio);
  if (!flagged) {
    os << format("none in %zu layers; widest input: %s, largest channel "
                 "%.1fx the median\n",
                 analysed, widest->layer.node.c_str(),
                 widest->layer.outliers->maxRatio);
    return;
  }
  os << flagged << " of " << analysed << " layers\n";
  for (const LayerQuality &l : layers) {
    const auto &out = l.layer.outliers;
    if (!out || out->channels.empty())
      continue;
    os << format("    %-40s %3zu channels, largest %.1fx the median, "
                 "%.0f%% of the int8 range spent on them\n",
                 l.layer.node.c_str(), out->channels.size(), out->maxRatio,
                 out->rangeFraction * 100);
  }
}

std::string QualityReport::toHTML() const {
  std::string html;
  raw_string_ostream os(html);
  os << "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>qopt "
        "report: "
     << escapeHTML(model) << "</title>\n<style>body{font-family:sans-serif;"
        "margin:2em}table{border-collapse:collapse}td,th{padding:2px 8px;"
        "border-bottom:1px solid #ddd;text-align:left}td.n{text-align:right;"
        "font-variant-numeric:tabular-nums}</style></head><body>\n";
  os << "<h1>" << escapeHTML(model) << " at " << escapeHTML(precision)
     << "</h1>\n<p>";
  if (samples)
    os << "Measured on " << escapeHTML(samplesDescription)
       << (heldOut ? " (held out from calibration)" : "") << ".";
  else
    os << "No quality metrics: compile with --calib data to measure them.";
  os << " Weights of quantized ops: " << bytesText(floatWeightBytes)
     << " float &rarr; " << bytesText(quantizedWeightBytes) << ".</p>\n";

  // Per-layer SQNR chart: one horizontal bar per op.
  double maxSqnr = 1;
  for (const LayerQuality &l : layers)
    if (l.sqnrDb)
      maxSqnr = std::max(maxSqnr, std::min(*l.sqnrDb, 100.0));
  if (samples && !layers.empty()) {
    int rowH = 18, labelW = 300, barW = 420;
    int h = rowH * int(layers.size()) + 30;
    os << "<h2>Per-layer output SQNR (dB, higher is better)</h2>\n"
       << formatv("<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{0}\" "
                  "height=\"{1}\" font-size=\"12\">\n",
                  labelW + barW + 70, h);
    for (size_t i = 0; i < layers.size(); ++i) {
      const LayerQuality &l = layers[i];
      double v = l.sqnrDb ? std::max(0.0, std::min(*l.sqnrDb, 100.0)) : 0;
      int y = int(i) * rowH + 4;
      int w = int(barW * v / maxSqnr);
      // Red below 20 dB, amber below 30 dB, green above.
      const char *color = v < 20 ? "#d9534f" : v < 30 ? "#f0ad4e" : "#5cb85c";
      os << formatv("<text x=\"{0}\" y=\"{1}\" text-anchor=\"end\">{2}</text>"
                    "<rect x=\"{3}\" y=\"{4}\" width=\"{5}\" height=\"{6}\" "
                    "fill=\"{7}\"/><text x=\"{8}\" y=\"{1}\">{9:f1}</text>\n",
                    labelW - 6, y + 12, escapeHTML(l.layer.node), labelW, y, w,
                    rowH - 4, color, labelW + w + 4, v);
    }
    os << "</svg>\n";
  }
  // Per-layer bits and, under the search, sensitivity: two bar columns
  // side by side, one row per op in program order.
  bool anySensitivity = llvm::any_of(
      layers, [](const LayerQuality &l) { return l.sensitivity.has_value(); });
  if (!layers.empty()) {
    int rowH = 18, labelW = 300, barW = 260, gap = 70;
    int columns = anySensitivity ? 2 : 1;
    int h = rowH * int(layers.size()) + 34;
    double maxBits = 1, maxLoss = 0;
    for (const LayerQuality &l : layers) {
      maxBits = std::max(maxBits, l.bitsPerWeight());
      if (l.sensitivity)
        maxLoss = std::max(maxLoss, *l.sensitivity);
    }
    os << "<h2>Per-layer bits per weight"
       << (anySensitivity ? " and sensitivity (" + escapeHTML(lossMetric) +
                                " with only that layer quantized, at its "
                                "precision)"
                          : std::string())
       << "</h2>\n"
       << formatv("<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{0}\" "
                  "height=\"{1}\" font-size=\"12\">\n",
                  labelW + columns * (barW + gap), h);
    os << formatv("<text x=\"{0}\" y=\"12\">bits per weight</text>\n", labelW);
    if (anySensitivity)
      os << formatv("<text x=\"{0}\" y=\"12\">sensitivity</text>\n",
                    labelW + barW + gap);
    for (size_t i = 0; i < layers.size(); ++i) {
      const LayerQuality &l = layers[i];
      int y = int(i) * rowH + 20;
      double bits = l.bitsPerWeight();
      int w = int(barW * bits / maxBits);
      // Darker for fewer bits.
      const char *color = bits < 3.5 ? "#2c5d8a" : bits < 6 ? "#4a86c5"
                                                            : "#9cc3e8";
      os << formatv("<text x=\"{0}\" y=\"{1}\" text-anchor=\"end\">{2}</text>"
                    "<rect x=\"{3}\" y=\"{4}\" width=\"{5}\" height=\"{6}\" "
                    "fill=\"{7}\"/><text x=\"{8}\" y=\"{1}\">{9:f2} ({10})</text>\n",
                    labelW - 6, y + 12, escapeHTML(l.layer.node), labelW, y, w,
                    rowH - 4, color, labelW + w + 4, bits,
                    escapeHTML(l.layer.precision));
      if (l.sensitivity) {
        int x = labelW + barW + gap;
        // In context a layer's loss may be below zero (moving it off the
        // base removes error): no bar then, the value still printed.
        int sw =
            maxLoss > 0 ? std::max(0, int(barW * *l.sensitivity / maxLoss)) : 0;
        os << formatv("<rect x=\"{0}\" y=\"{1}\" width=\"{2}\" "
                      "height=\"{3}\" fill=\"#d9534f\"/><text x=\"{4}\" "
                      "y=\"{5}\">{6:e2}</text>\n",
                      x, y, sw, rowH - 4, x + sw + 4, y + 12, *l.sensitivity);
      }
    }
    os << "</svg>\n";
  }
  os << "<h2>Layers</h2>\n<table><tr><th>ONNX node</th><th>role</th>"
        "<th>precision</th><th>why</th><th>scheme</th><th>weights by</th><th>SQNR dB</th><th>cosine</th><th>float "
        "bytes</th><th>quantized bytes</th><th>outlier channels</th><th>largest "
        "/ median channel</th></tr>\n";
  for (const LayerQuality &l : layers) {
    os << "<tr><td>" << escapeHTML(l.layer.node) << "</td><td>"
       << escapeHTML(l.layer.role) << "</td><td>"
       << escapeHTML(l.layer.precision) << "</td><td>"
       << escapeHTML(l.layer.reason) << "</td><td>"
       << escapeHTML(l.layer.scheme) << "</td><td>"
       << escapeHTML(l.layer.algorithm) << "</td>";
    if (l.sqnrDb)
      os << format("<td class=n>%.2f</td><td class=n>%.6f</td>", *l.sqnrDb,
                   *l.cosine);
    else
      os << "<td>-</td><td>-</td>";
    os << "<td class=n>" << l.layer.floatBytes << "</td><td class=n>"
       << l.layer.quantizedBytes << "</td>";
    if (const auto &out = l.layer.outliers) {
      std::string list;
      for (int64_t c : out->channels)
        list += (list.empty() ? "" : ", ") + std::to_string(c);
      os << "<td>" << (list.empty() ? "none" : list) << "</td>"
         << format("<td class=n>%.1f</td>", out->maxRatio);
    } else {
      os << "<td>-</td><td>-</td>";
    }
    os << "</tr>\n";
  }
  os << "</table>\n";
  if (!outputs.empty()) {
    os << "<h2>Model outputs</h2>\n<table><tr><th>output</th><th>SQNR "
          "dB</th><th>cosine</th><th>max |error|</th><th>top-1 "
          "agreement</th></tr>\n";
    for (const OutputQuality &q : outputs) {
      os << "<tr><td>" << escapeHTML(q.name) << "</td>"
         << format("<td class=n>%.2f</td><td class=n>%.6f</td><td "
                   "class=n>%.4g</td>",
                   q.sqnrDb, q.cosine, q.maxAbsError);
      if (q.top1)
        os << format("<td class=n>%.2f%%</td>", *q.top1 * 100);
      else
        os << "<td>-</td>";
      os << "</tr>\n";
    }
    os << "</table>\n";
  }
  os << "</body></html>\n";
  return html;
}

} // namespace qopt
