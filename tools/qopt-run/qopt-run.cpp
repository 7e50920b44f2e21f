//===- qopt-run.cpp - Run a qopt artifact ----------------------------------===//
//
//   qopt-run out/ --input input_ids=ids.npy [--expect logits=ref.npy]
//   qopt-run out/ --test-data test_data_set_0        (ONNX .pb folders)
//   qopt-run out/ --perplexity --ids ids.npy --offsets offsets.npy
//   qopt-run spirv-out/ --device=vulkan --input x=x.npy   (SPIR-V artifacts)
//
// Loads the artifact through qrt, feeds inputs from .npy/.npz/.pb files,
// writes outputs as .npy and compares them with expected outputs.
//
//===----------------------------------------------------------------------===//

#include "qopt/Runtime/TensorFile.h"
#include "qopt/Calibration/Calibrate.h"
#include "qopt/Runtime/qrt.h"

#include "llvm/ADT/SmallString.h"
#include "llvm/ADT/StringMap.h"
#include "llvm/Support/CommandLine.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/Format.h"
#include "llvm/Support/InitLLVM.h"
#include "llvm/Support/Path.h"
#include "llvm/Support/raw_ostream.h"
#include "llvm/Support/Process.h"
#include "llvm/ADT/ScopeExit.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>

using namespace llvm;
using qopt::io::Tensor;

static cl::OptionCategory runCategory("qopt-run options");
static cl::opt<std::string> artifactDir(cl::Positional, cl::desc("<artifact dir>"),
                                        cl::cat(runCategory));
static cl::opt<bool> listDevices("list-devices",
                                 cl::desc("List the devices qrt can run on"),
                                 cl::cat(runCategory));
static cl::list<std::string>
    inputs("input",
           cl::desc("Input tensor file: NAME=file.npy, or a .npz/.pb file "
                    "whose member/tensor names match the inputs; repeatable"),
           cl::value_desc("spec"), cl::cat(runCategory));
static cl::list<std::string>
    expects("expect",
            cl::desc("Expected output: NAME=file.npy or a .npz; repeatable"),
            cl::value_desc("spec"), cl::cat(runCategory));
static cl::opt<std::string>
    testData("test-data",
             cl::desc("ONNX test_data_set folder (input_*.pb, output_*.pb)"),
             cl::value_desc("dir"), cl::cat(runCategory));
static cl::opt<std::string> outputDir("output-dir",
                                      cl::desc("Write every output as .npy here"),
                                      cl::value_desc("dir"), cl::cat(runCategory));
static cl::opt<double> relTol("rtol", cl::desc("Relative tolerance"),
                            cl::init(1e-4), cl::cat(runCategory));
static cl::opt<double> absTol("atol", cl::desc("Absolute tolerance"),
                            cl::init(1e-5), cl::cat(runCategory));
static cl::opt<std::string>
    device("device",
           cl::desc("Where to run: cpu (x86 artifacts), vulkan (SPIR-V "
                    "artifacts; QRT_VULKAN_DEVICE picks the device) or cuda "
                    "(NVPTX artifacts; QRT_CUDA_DEVICE). Default: the "
                    "artifact's own"),
           cl::value_desc("cpu|vulkan|cuda"), cl::init(""), cl::cat(runCategory));
static cl::opt<unsigned> repeat("repeat",
                                cl::desc("Run this many times and report the "
                                         "median latency"),
                                cl::init(1), cl::cat(runCategory));
// Registered as run-threads: libLLVM already owns a hidden `--threads`;
// main() maps the public spelling onto this one.
static cl::opt<int> threads(
    "run-threads",
    cl::desc("Run on this many threads (default 1; spelled --threads too); "
             "the outputs are the same "
             "for every count. An artifact whose code does not split runs on "
             "one, and says so"),
    cl::init(1), cl::cat(runCategory));
static cl::opt<bool> perplexity(
    "perplexity",
    cl::desc("Language-model perplexity over token ids (--ids, --offsets)"),
    cl::cat(runCategory));
static cl::opt<std::string> idsFile("ids", cl::desc("Token ids .npy (int32/int64)"),
                                    cl::cat(runCategory));
static cl::opt<std::string> offsetsFile("offsets",
                                        cl::desc("Story boundaries .npy"),
                                        cl::cat(runCategory));
static cl::opt<std::string> storyRange(
    "stories", cl::desc("Half-open story range FIRST:END (default: all)"),
    cl::cat(runCategory));

namespace {

int fail(const Twine &msg) {
  errs() << "qopt-run: error: " << msg << "\n";
  return 1;
}

std::string describe(const qrt_tensor_info &info) {
  std::string s = std::string(info.dtype) + "[";
  for (int d = 0; d < info.rank; ++d)
    s += (d ? "x" : "") + std::to_string(info.shape[d]);
  return s + "]";
}

std::string describe(const Tensor &t) {
  std::string s = t.dtype + "[";
  for (size_t d = 0; d < t.shape.size(); ++d)
    s += (d ? "x" : "") + std::to_string(t.shape[d]);
  return s + "]";
}

/// Reads NAME=file or plain files (named by their contents) into `out`.
Error collect(ArrayRef<std::string> specs, StringMap<Tensor> &out) {
  for (const std::string &spec : specs) {
    StringRef s(spec), name, file = s;
    if (s.contains('=') && !sys::fs::exists(s)) {
      std::tie(name, file) = s.split('=');
    }
    auto tensors = qopt::io::readTensorFile(file);
    if (!tensors)
      return tensors.takeError();
    if (!name.empty()) {
      if (tensors->size() != 1)
        return createStringError(inconvertibleErrorCode(),
                                 "%s holds several tensors; name none",
                                 file.str().c_str());
      out[name] = std::move((*tensors)[0]);
    } else {
      for (Tensor &t : *tensors)
        out[t.name] = std::move(t);
    }
  }
  return Error::success();
}

int runPerplexity(qrt_model *model) {
  if (idsFile.empty() || offsetsFile.empty())
    return fail("--perplexity needs --ids and --offsets");
  auto stories = qopt::calib::TokenStories::load(idsFile, offsetsFile);
  if (!stories)
    return fail(toString(stories.takeError()));
  auto range = qopt::calib::parseStoryRange(storyRange, stories->numStories());
  if (!range)
    return fail(toString(range.takeError()));
  auto [first, end] = *range;
  auto result = qopt::calib::evaluatePerplexity(model, *stories, first, end,
                                                /*showProgress=*/true);
  if (!result)
    return fail(toString(result.takeError()));
  qopt::calib::printPerplexity(outs(), *result, first, end);
  return 0;
}

} // namespace

int main(int argc, char **argv) {
  InitLLVM init(argc, argv);
  cl::HideUnrelatedOptions(runCategory);
  cl::AddExtraVersionPrinter(
      [](raw_ostream &os) { os << "qopt-run " << QOPT_VERSION << "\n"; });
  // `--threads N` / `--threads=N` (and one dash) mean --run-threads.
  std::vector<std::string> spelled(argv, argv + argc);
  for (std::string &a : spelled) {
    StringRef s(a);
    for (StringRef dash : {"--", "-"})
      if (s.consume_front(dash) && (s == "threads" || s.starts_with("threads="))) {
        a = "--run-" + s.str();
        break;
      }
  }
  std::vector<char *> args;
  for (std::string &a : spelled)
    args.push_back(a.data());
  argc = (int)args.size();
  argv = args.data();
  cl::ParseCommandLineOptions(argc, argv, "qopt-run: run a qopt artifact\n");

  if (listDevices) {
    char text[4096];
    qrt_list_devices(text, sizeof(text));
    outs() << text;
    return 0;
  }
  if (artifactDir.empty())
    return fail("no artifact folder given (qopt-run <artifact dir> ...)");
  char err[1024];
  qrt_model *model =
      qrt_load_on_device(artifactDir.c_str(), device.c_str(), err, sizeof(err));
  if (!model)
    return fail(err);
  llvm::scope_exit cleanup([&] { qrt_free(model); });
  if (threads < 1)
    return fail("--threads must be at least 1");
  int usedThreads = qrt_set_threads(model, threads);
  if (usedThreads != threads)
    errs() << "qopt-run: note: running on " << usedThreads
           << " thread: the artifact's code does not split over threads\n";

  if (perplexity)
    return runPerplexity(model);

  size_t nIn = qrt_num_inputs(model), nOut = qrt_num_outputs(model);
  std::vector<Tensor> inputsByPos, expectedByPos;
  StringMap<Tensor> byName, expectByName;
  if (!testData.empty()) {
    auto ins = qopt::io::readNumberedTensors(testData, "input_");
    if (!ins)
      return fail(toString(ins.takeError()));
    auto outs = qopt::io::readNumberedTensors(testData, "output_");
    if (!outs)
      return fail(toString(outs.takeError()));
    inputsByPos = std::move(*ins);
    expectedByPos = std::move(*outs);
  }
  if (Error e = collect(inputs, byName))
    return fail(toString(std::move(e)));
  if (Error e = collect(expects, expectByName))
    return fail(toString(std::move(e)));

  // Every expected tensor must name an output; a lone unnamed file (named
  // after itself) is matched to a lone output.
  {
    std::vector<std::string> outNames;
    for (size_t o = 0; o < nOut; ++o) {
      qrt_tensor_info info;
      qrt_output_info(model, o, &info);
      outNames.push_back(info.name);
    }
    if (expectByName.size() == 1 && nOut == 1 &&
        !expectByName.count(outNames[0])) {
      Tensor t = std::move(expectByName.begin()->second);
      expectByName.clear();
      expectByName[outNames[0]] = std::move(t);
    }
    for (auto &kv : expectByName)
      if (!llvm::is_contained(outNames, kv.getKey().str()))
        return fail("expected tensor '" + kv.getKey() +
                    "' is not an output of the model");
  }

  std::vector<const void *> inPtrs(nIn);
  std::vector<Tensor> feed(nIn);
  for (size_t i = 0; i < nIn; ++i) {
    qrt_tensor_info info;
    qrt_input_info(model, i, &info);
    auto it = byName.find(info.name);
    if (it != byName.end())
      feed[i] = it->second;
    else if (i < inputsByPos.size())
      feed[i] = inputsByPos[i];
    else
      return fail("no value for input '" + Twine(info.name) + "' (" +
                  describe(info) + "); pass --input " + info.name + "=file.npy");
    std::vector<int64_t> want(info.shape, info.shape + info.rank);
    if (feed[i].dtype != info.dtype)
      return fail("input '" + Twine(info.name) + "' has dtype " +
                  feed[i].dtype + " but the model expects " + info.dtype);
    if (feed[i].shape != want)
      return fail("input '" + Twine(info.name) + "' has shape " +
                  describe(feed[i]) + " but the model was compiled for " +
                  describe(info));
    inPtrs[i] = feed[i].data.data();
  }
  for (auto &kv : byName) {
    bool known = false;
    for (size_t i = 0; i < nIn; ++i) {
      qrt_tensor_info info;
      qrt_input_info(model, i, &info);
      known |= kv.getKey() == info.name;
    }
    if (!known)
      return fail("'" + kv.getKey() + "' is not an input of the model");
  }

  std::vector<Tensor> results(nOut);
  std::vector<void *> outPtrs(nOut);
  for (size_t o = 0; o < nOut; ++o) {
    qrt_tensor_info info;
    qrt_output_info(model, o, &info);
    results[o].name = info.name;
    results[o].dtype = info.dtype;
    results[o].shape.assign(info.shape, info.shape + info.rank);
    results[o].data.assign(info.num_elements * info.element_size, 0);
    outPtrs[o] = results[o].data.data();
  }
  std::vector<double> times;
  for (unsigned r = 0; r < std::max(1u, (unsigned)repeat); ++r) {
    auto t0 = std::chrono::steady_clock::now();
    if (qrt_run(model, inPtrs.data(), outPtrs.data()) != 0)
      return fail(std::string("model run failed: ") + qrt_last_error(model));
    times.push_back(std::chrono::duration<double, std::milli>(
                        std::chrono::steady_clock::now() - t0)
                        .count());
  }
  std::sort(times.begin(), times.end());
  if (!device.empty())
    outs() << "device: " << qrt_device(model) << "\n";
  if (repeat > 1)
    outs() << format("latency: median %.3f ms, min %.3f ms over %u runs "
                     "(%d thread%s)\n",
                     times[times.size() / 2], times[0], (unsigned)repeat,
                     usedThreads, usedThreads == 1 ? "" : "s");

  if (!outputDir.empty()) {
    sys::fs::create_directories(outputDir);
    for (const Tensor &t : results) {
      SmallString<256> p(outputDir);
      std::string file;
      for (char c : t.name)
        file.push_back(isalnum((unsigned char)c) || c == '.' || c == '-' ? c : '_');
      sys::path::append(p, file + ".npy");
      if (Error e = qopt::io::writeNpy(p, t))
        return fail(toString(std::move(e)));
    }
  }

  bool ok = true, compared = false;
  for (size_t o = 0; o < nOut; ++o) {
    const Tensor *want = nullptr;
    auto it = expectByName.find(results[o].name);
    if (it != expectByName.end())
      want = &it->second;
    else if (o < expectedByPos.size())
      want = &expectedByPos[o];
    if (!want) {
      if (expects.empty() && testData.empty())
        outs() << results[o].name << ": " << describe(results[o]) << "\n";
      continue;
    }
    compared = true;
    qopt::io::TensorComparison c =
        qopt::io::compareTensors(results[o], *want, relTol, absTol);
    if (!c.shapeOk) {
      outs() << results[o].name << ": FAIL shape " << describe(results[o])
             << " vs expected " << describe(*want) << "\n";
      ok = false;
      continue;
    }
    outs() << results[o].name << ": " << (c.mismatches ? "FAIL" : "ok")
           << format("  max abs err %.3g  max rel err %.3g", c.maxAbs, c.maxRel);
    if (c.mismatches)
      outs() << "  (" << c.mismatches << " of " << results[o].numElements()
             << " outside rtol " << relTol << " atol " << absTol
             << ", first at flat index " << c.firstBad << ")";
    outs() << "\n";
    ok &= !c.mismatches;
  }
  if (compared)
    outs() << (ok ? "PASS" : "FAIL") << "\n";
  return ok ? 0 : 2;
}
