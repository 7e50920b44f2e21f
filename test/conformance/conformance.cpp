//===- conformance.cpp - ONNX backend conformance runner -------------------===//
//
// Runs the ONNX backend tests of Debian's libonnx-testdata through qopt:
// every test whose ops are all in qopt's float op list ("in scope") is
// imported with the shapes of its test inputs, compiled for this machine,
// run on each test_data_set_N and compared with the expected outputs.
//
//   qopt-conformance --data /usr/share/libonnx-testdata/data
//       --passing test/conformance/passing.txt
//       --failing test/conformance/failing.txt [--shard 0/2] [--update]
//
// Check mode fails if a test in passing.txt no longer passes, or if an
// in-scope test fails without being listed (with its reason) in
// failing.txt. --update rewrites both lists from this run. Each test runs in
// a forked child, so a crash or hang is a test failure, not a runner crash.
//
//===----------------------------------------------------------------------===//

#include "qopt/Driver/Driver.h"
#include "qopt/Runtime/TensorFile.h"
#include "qopt/Runtime/qrt.h"

#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/MLIRContext.h"
#include "llvm/ADT/StringSet.h"
#include "llvm/Support/CommandLine.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/InitLLVM.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/Path.h"
#include "llvm/Support/raw_ostream.h"

#include <onnx/onnx_pb.h>

#include <chrono>
#include <cmath>
#include <cstring>
#include <fstream>
#include <map>
#include <sys/wait.h>
#include <unistd.h>

using namespace llvm;

static cl::opt<std::string> dataRoot("data", cl::desc("libonnx-testdata data folder"),
                                     cl::init("/usr/share/libonnx-testdata/data"));
static cl::opt<std::string> passingFile("passing", cl::desc("Committed list of passing tests"));
static cl::opt<std::string> failingFile("failing", cl::desc("Committed list of failing in-scope tests"));
static cl::opt<std::string> shardSpec("shard", cl::desc("I/N: run every N-th test from I"),
                                      cl::init("0/1"));
static cl::opt<bool> update("update", cl::desc("Rewrite the lists from this run"));
static cl::opt<std::string> filter("filter", cl::desc("Only tests whose name contains this"));
static cl::opt<std::string> workDir("work", cl::desc("Scratch folder"),
                                    cl::init("conformance-work"));
static cl::opt<bool> verbose("v", cl::desc("Print every test"));
static cl::opt<int> runThreads(
    "run-threads",
    cl::desc("Also run each test on this many threads and require outputs "
             "byte-identical to the one-thread run"),
    cl::init(1));

/// The op lists of the foundation (float), recurrent, quantization and
/// control-flow issues: a test is in scope when all of its nodes, subgraphs included, use
/// these default-domain ops.
static const char *const kScopeOps[] = {
    "Abs", "Add", "And", "ArgMax", "ArgMin", "AveragePool", "BatchNormalization",
    "Cast", "CastLike", "Ceil", "Celu", "Clip", "Concat", "Constant", "ConstantOfShape", "Conv",
    "ConvTranspose", "Cos", "CumSum", "DepthToSpace", "Div", "Dropout", "Einsum",
    "Elu", "Equal", "Erf", "Exp", "Expand", "Flatten", "Floor", "Gather",
    "GatherElements", "Gelu", "Gemm", "GlobalAveragePool", "GlobalMaxPool",
    "Greater", "GreaterOrEqual", "HardSigmoid", "HardSwish", "Hardmax", "Identity",
    "If", "Loop", "Scan",
    "InstanceNormalization", "LayerNormalization", "LeakyRelu", "Less",
    "LessOrEqual", "Log", "LogSoftmax", "MatMul", "Max", "MaxPool", "Mean", "Min",
    "Mish", "Mod", "Mul", "Neg", "Not", "Or", "Pad", "Pow", "PRelu", "Range",
    "Reciprocal", "ReduceL1", "ReduceL2", "ReduceLogSum", "ReduceLogSumExp", "ReduceMax",
    "ReduceMean", "ReduceMin", "ReduceProd", "ReduceSum", "ReduceSumSquare", "Relu",
    "Reshape", "Resize", "Round", "Selu", "Shape", "Shrink", "Sigmoid", "Sign",
    "Sin", "Size", "Slice", "Softmax", "Softplus", "Softsign", "SpaceToDepth",
    "Split", "Sqrt", "Squeeze", "Sub", "Sum", "Tanh", "ThresholdedRelu", "Tile",
    "Transpose", "Trilu", "Unsqueeze", "Upsample", "Where", "Xor",
    // Recurrent layers
    "GRU", "LSTM", "RNN",
    // Quantization
    "QuantizeLinear", "DequantizeLinear", "DynamicQuantizeLinear",
    "MatMulInteger", "QLinearMatMul", "ConvInteger", "QLinearConv",
    // Scatter, gather-like and selection ops
    "Scatter", "ScatterElements", "ScatterND", "GatherND", "OneHot",
    "ReverseSequence", "Compress", "TopK", "NonZero", "Unique",
    // Sampling
    "GridSample", "RoiAlign", "NonMaxSuppression"};

namespace {

struct Outcome {
  bool pass = false;
  std::string reason;
};

std::string firstLine(StringRef s) {
  std::string line;
  for (char c : s.trim())
    line.push_back(c == '\n' ? ' ' : c);
  if (line.size() > 200)
    line = line.substr(0, 200) + "...";
  return line;
}

bool inScope(const onnx::GraphProto &graph) {
  static StringSet<> ops = [] {
    StringSet<> s;
    for (const char *op : kScopeOps)
      s.insert(op);
    return s;
  }();
  for (const auto &node : graph.node()) {
    if (!node.domain().empty() && node.domain() != "ai.onnx")
      return false;
    if (!ops.contains(node.op_type()))
      return false;
    for (const auto &attr : node.attribute()) {
      if (attr.has_g() && !inScope(attr.g()))
        return false;
      for (const auto &g : attr.graphs())
        if (!inScope(g))
          return false;
    }
  }
  return true;
}

std::vector<std::string> dataSets(StringRef testDir) {
  std::vector<std::string> sets;
  for (int i = 0;; ++i) {
    SmallString<256> p(testDir);
    sys::path::append(p, "test_data_set_" + std::to_string(i));
    if (!sys::fs::is_directory(p))
      break;
    sets.push_back(std::string(p));
  }
  return sets;
}

/// ONNX 1.12's test generator stored bfloat16 tensors as uint16 (numpy has
/// no bfloat16): the same bits, so a uint16 tensor stands for a bfloat16
/// model input or output.
bool isBFloat16Bits(const qopt::io::Tensor &t, StringRef modelDType) {
  return t.dtype == "uint16" && modelDType == "bfloat16";
}

/// Compiles and runs one test (in the forked child).
Outcome runTest(const std::string &testDir, const onnx::ModelProto &model,
                const std::string &artifact) {
  Outcome o;
  std::vector<std::string> sets = dataSets(testDir);
  if (sets.empty()) {
    o.reason = "no test_data_set";
    return o;
  }
  auto ins0 = qopt::io::readNumberedTensors(sets[0], "input_");
  if (!ins0) {
    o.reason = "cannot read inputs: " + toString(ins0.takeError());
    return o;
  }
  // Graph inputs that are not initializers, in order, take the data set's
  // shapes.
  std::set<std::string> inits;
  for (const auto &t : model.graph().initializer())
    inits.insert(t.name());
  std::vector<std::string> inputNames;
  for (const auto &vi : model.graph().input())
    if (!inits.count(vi.name()))
      inputNames.push_back(vi.name());

  mlir::DialectRegistry registry;
  qopt::registerQOptDialects(registry);
  mlir::MLIRContext context(registry, mlir::MLIRContext::Threading::DISABLED);
  std::string diagnostics;
  context.getDiagEngine().registerHandler([&](mlir::Diagnostic &d) {
    // Remarks (such as the float16-in-float32 note) are not the reason.
    if (diagnostics.empty() &&
        d.getSeverity() == mlir::DiagnosticSeverity::Error)
      diagnostics = d.str();
    return mlir::success();
  });
  qopt::CompileOptions options;
  SmallString<256> modelPath(testDir);
  sys::path::append(modelPath, "model.onnx");
  options.modelPath = std::string(modelPath);
  for (size_t i = 0; i < inputNames.size() && i < ins0->size(); ++i)
    options.import.inputShapes[inputNames[i]] = (*ins0)[i].shape;
  options.outDir = artifact;
  options.codegen.optLevel = 2;
  bool compiled = succeeded(qopt::compileModel(context, options));
  if (!compiled && diagnostics.find("known at compile time") != std::string::npos) {
    // Shape-like tensors given as graph inputs (shapes, axes, scales,
    // roi, loop trip counts and conditions): specialize the small vectors of the first data set, as
    // `qopt --freeze-input` does.
    for (size_t i = 0; i < inputNames.size() && i < ins0->size(); ++i) {
      const qopt::io::Tensor &t = (*ins0)[i];
      bool shapeLike = t.dtype == "int64" || t.dtype == "int32" ||
                       t.dtype == "float32" || t.dtype == "bool";
      if (shapeLike && t.shape.size() <= 1 && t.numElements() <= 16) {
        qopt::onnx_frontend::FrozenInput f;
        f.dtype = qopt::io::onnxDataType(t.dtype);
        f.shape = t.shape;
        f.data = t.data;
        options.import.frozenInputs[inputNames[i]] = f;
        options.import.inputShapes.erase(inputNames[i]);
      }
    }
    diagnostics.clear();
    compiled = succeeded(qopt::compileModel(context, options));
  }
  if (!compiled) {
    o.reason = "compile: " + firstLine(diagnostics);
    return o;
  }
  char err[512];
  qrt_model *m = qrt_load(artifact.c_str(), err, sizeof(err));
  if (!m) {
    o.reason = std::string("load: ") + err;
    return o;
  }
  for (const std::string &set : sets) {
    auto ins = qopt::io::readNumberedTensors(set, "input_");
    auto outs = qopt::io::readNumberedTensors(set, "output_");
    if (!ins || !outs) {
      o.reason = "cannot read test data";
      consumeError(ins.takeError());
      consumeError(outs.takeError());
      qrt_free(m);
      return o;
    }
    if (ins->size() != inputNames.size() ||
        outs->size() != qrt_num_outputs(m)) {
      o.reason = "test data has " + std::to_string(ins->size()) + " inputs/" +
                 std::to_string(outs->size()) + " outputs, model " +
                 std::to_string(inputNames.size()) + "/" +
                 std::to_string(qrt_num_outputs(m));
      qrt_free(m);
      return o;
    }
    std::vector<const void *> inPtrs;
    for (size_t i = 0; i < qrt_num_inputs(m); ++i) {
      qrt_tensor_info info;
      qrt_input_info(m, i, &info);
      auto pos = std::find(inputNames.begin(), inputNames.end(), info.name);
      if (pos == inputNames.end()) {
        o.reason = std::string("artifact input '") + info.name + "' unknown";
        qrt_free(m);
        return o;
      }
      qopt::io::Tensor &t = (*ins)[pos - inputNames.begin()];
      if (isBFloat16Bits(t, info.dtype))
        t.dtype = info.dtype;
      if (t.dtype != info.dtype) {
        o.reason = "input dtype " + t.dtype + " vs " + info.dtype;
        qrt_free(m);
        return o;
      }
      inPtrs.push_back(t.data.data());
    }
    std::vector<std::vector<char>> results;
    std::vector<void *> outPtrs;
    for (size_t i = 0; i < outs->size(); ++i) {
      qrt_tensor_info info;
      qrt_output_info(m, i, &info);
      qopt::io::Tensor &want = (*outs)[i];
      if (isBFloat16Bits(want, info.dtype))
        want.dtype = info.dtype;
      std::vector<int64_t> shape(info.shape, info.shape + info.rank);
      if (want.dtype != info.dtype || want.shape != shape) {
        auto dims = [](ArrayRef<int64_t> d) {
          std::string s = "[";
          for (size_t k = 0; k < d.size(); ++k)
            s += (k ? ", " : "") + std::to_string(d[k]);
          return s + "]";
        };
        o.reason = "output " + std::to_string(i) + " is " + info.dtype +
                   dims(shape) + ", expected " + want.dtype + dims(want.shape);
        qrt_free(m);
        return o;
      }
      results.emplace_back(info.num_elements * info.element_size + 1);
      outPtrs.push_back(results.back().data());
    }
    qrt_run(m, inPtrs.data(), outPtrs.data());
    if (runThreads > 1 && qrt_set_threads(m, runThreads) > 1) {
      std::vector<std::vector<char>> again;
      std::vector<void *> againPtrs;
      for (const std::vector<char> &r : results) {
        again.emplace_back(r.size());
        againPtrs.push_back(again.back().data());
      }
      qrt_run(m, inPtrs.data(), againPtrs.data());
      qrt_set_threads(m, 1);
      for (size_t i = 0; i < results.size(); ++i)
        if (std::memcmp(results[i].data(), again[i].data(),
                        results[i].size() - 1)) {
          o.reason = "output " + std::to_string(i) + " differs on " +
                     std::to_string(runThreads) + " threads";
          qrt_free(m);
          return o;
        }
    }
    for (size_t i = 0; i < outs->size(); ++i) {
      qopt::io::Tensor got = (*outs)[i];
      got.data.assign(results[i].begin(), results[i].end() - 1);
      double rtol = got.dtype == "float16"    ? 4e-3
                    : got.dtype == "bfloat16" ? 8e-3
                                              : 1e-3,
             atol = 1e-5;
      qopt::io::TensorComparison c =
          qopt::io::compareTensors(got, (*outs)[i], rtol, atol);
      if (c.mismatches) {
        o.reason = "output " + std::to_string(i) + " mismatch at " +
                   std::to_string(c.firstBad) + ": got " +
                   std::to_string(c.firstGot) + ", expected " +
                   std::to_string(c.firstWant);
        qrt_free(m);
        return o;
      }
    }
  }
  qrt_free(m);
  o.pass = true;
  return o;
}

/// Runs `runTest` in a child process with a time limit.
Outcome runIsolated(const std::string &testDir, const onnx::ModelProto &model,
                    const std::string &artifact) {
  int fds[2];
  if (pipe(fds) != 0)
    return {false, "pipe failed"};
  pid_t pid = fork();
  if (pid == 0) {
    close(fds[0]);
    // The reason travels through the pipe; keep LLVM crash dumps quiet.
    if (!verbose)
      freopen("/dev/null", "w", stderr);
    alarm(120);
    Outcome o = runTest(testDir, model, artifact);
    std::string msg = (o.pass ? "P" : "F") + o.reason;
    (void)!write(fds[1], msg.data(), msg.size());
    close(fds[1]);
    _exit(0);
  }
  close(fds[1]);
  std::string msg;
  char buf[512];
  ssize_t n;
  while ((n = read(fds[0], buf, sizeof(buf))) > 0)
    msg.append(buf, n);
  close(fds[0]);
  int status = 0;
  waitpid(pid, &status, 0);
  if (WIFSIGNALED(status))
    return {false, std::string("crashed (signal ") +
                       std::to_string(WTERMSIG(status)) + ")"};
  if (msg.empty())
    return {false, "no result"};
  return {msg[0] == 'P', msg.substr(1)};
}

std::map<std::string, std::string> readList(StringRef path) {
  std::map<std::string, std::string> out;
  std::ifstream in(path.str());
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#')
      continue;
    auto [name, reason] = StringRef(line).split(' ');
    out[name.trim().str()] = reason.trim().str();
  }
  return out;
}

} // namespace

int main(int argc, char **argv) {
  InitLLVM init(argc, argv);
  cl::ParseCommandLineOptions(argc, argv, "qopt ONNX backend conformance\n");
  unsigned shard = 0, shards = 1;
  {
    auto [a, b] = StringRef(shardSpec).split('/');
    if (a.getAsInteger(10, shard) || b.getAsInteger(10, shards) || !shards ||
        shard >= shards) {
      errs() << "bad --shard\n";
      return 2;
    }
  }
  if (!sys::fs::is_directory(dataRoot)) {
    errs() << "conformance: no test data at " << dataRoot
           << " (install libonnx-testdata)\n";
    return 2;
  }
  std::vector<std::string> tests;
  for (const char *cat : {"node", "pytorch-converted", "pytorch-operator", "simple"}) {
    SmallString<256> dir(dataRoot);
    sys::path::append(dir, cat);
    std::error_code ec;
    std::vector<std::string> names;
    for (sys::fs::directory_iterator it(dir, ec), end; it != end && !ec;
         it.increment(ec))
      names.push_back(sys::path::filename(it->path()).str());
    std::sort(names.begin(), names.end());
    for (auto &n : names)
      tests.push_back(std::string(cat) + "/" + n);
  }
  auto passing = readList(passingFile);
  auto failing = readList(failingFile);
  sys::fs::create_directories(workDir);

  std::map<std::string, Outcome> results;
  unsigned index = 0, inScopeCount = 0, passed = 0;
  auto start = std::chrono::steady_clock::now();
  for (const std::string &test : tests) {
    if (index++ % shards != shard)
      continue;
    if (!filter.empty() && test.find(filter) == std::string::npos)
      continue;
    SmallString<256> dir(dataRoot);
    sys::path::append(dir, test);
    SmallString<256> modelPath(dir);
    sys::path::append(modelPath, "model.onnx");
    auto buf = MemoryBuffer::getFile(modelPath);
    onnx::ModelProto model;
    if (!buf || !model.ParseFromArray((*buf)->getBufferStart(),
                                      (*buf)->getBufferSize()))
      continue;
    if (!inScope(model.graph()))
      continue;
    ++inScopeCount;
    SmallString<256> artifact(workDir);
    std::string flat = test;
    std::replace(flat.begin(), flat.end(), '/', '_');
    sys::path::append(artifact, flat);
    Outcome o = runIsolated(std::string(dir), model, std::string(artifact));
    sys::fs::remove_directories(artifact);
    passed += o.pass;
    if (verbose || (!o.pass && passing.count(test)))
      outs() << (o.pass ? "PASS " : "FAIL ") << test
             << (o.pass ? "" : "  (" + o.reason + ")") << "\n";
    results[test] = o;
  }
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() -
                                              start)
                    .count();

  if (update) {
    // Merge this shard's results into the lists (other shards' entries stay).
    for (auto &[name, o] : results) {
      passing.erase(name);
      failing.erase(name);
      if (o.pass)
        passing[name] = "";
      else
        failing[name] = o.reason;
    }
    std::ofstream p(passingFile.getValue()), f(failingFile.getValue());
    p << "# ONNX backend tests qopt passes (x86, fp32 pipeline). May only grow.\n";
    for (auto &[name, r] : passing)
      p << name << "\n";
    f << "# In-scope ONNX backend tests qopt does not pass yet, with the reason.\n";
    for (auto &[name, r] : failing)
      f << name << " " << r << "\n";
    outs() << "updated " << passingFile << " and " << failingFile << "\n";
  }

  unsigned regressions = 0, unlisted = 0, newPasses = 0;
  for (auto &[name, o] : results) {
    if (!o.pass && passing.count(name))
      ++regressions;
    if (!o.pass && !passing.count(name) && !failing.count(name)) {
      ++unlisted;
      outs() << "UNLISTED FAIL " << name << "  (" << o.reason << ")\n";
    }
    if (o.pass && !passing.count(name))
      ++newPasses;
  }
  outs() << "conformance shard " << shard << "/" << shards << ": " << inScopeCount
         << " in scope, " << passed << " pass, " << (inScopeCount - passed)
         << " fail, " << regressions << " regressions, " << unlisted
         << " unlisted failures, " << newPasses
         << " new passes (run with --update to record) in "
         << format("%.0f", secs) << " s\n";
  outs() << passed << " passed, " << (inScopeCount - passed) << " failed\n";
  return regressions || unlisted ? 1 : 0;
}
