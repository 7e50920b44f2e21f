//===- _qopt.cpp - The native half of `import qopt`
//------------------------===//
//
// pybind11 bindings over qopt's C API (qopt-c.h): compile, load, run,
// manifest and report, perplexity. The Python package (qopt/__init__.py)
// turns these into the documented API (docs/python.md): it checks inputs
// against the manifest, parses JSON into dicts and writes bytes models to
// temporary files. What is checked here is only what keeps memory safe: a
// buffer of the wrong size never reaches the model.
//
// The GIL is released while compiling, running and evaluating. A compile
// calls back into Python as each phase starts, to report progress and to
// notice Ctrl-C (PyErr_CheckSignals): an exception there stops the compile
// before the next phase and is re-raised when qopt_compile returns.
//
//===----------------------------------------------------------------------===//

#include "qopt-c.h"
#include "qopt/Runtime/qrt.h"

#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <algorithm>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

namespace py = pybind11;

namespace {

/// qopt.Error and its subclasses, created when the module is imported.
PyObject *errorType, *compileErrorType, *runtimeErrorType;

/// The ONNX node names `message` mentions, in order: "node 'NAME'" (a
/// diagnostic at a node's location) and the lists after "node(s): " (the
/// importer's unsupported-operator summary, "..." when cut short).
std::vector<std::string> nodeNames(const std::string &message) {
  std::vector<std::string> names;
  auto add = [&](std::string name) {
    if (!name.empty() && name != "..." &&
        std::find(names.begin(), names.end(), name) == names.end())
      names.push_back(std::move(name));
  };
  size_t single = message.find("node '"), list = message.find("node(s): ");
  while (single != std::string::npos || list != std::string::npos) {
    if (single < list) {
      size_t at = single + 6, end = message.find('\'', at);
      if (end == std::string::npos)
        break;
      add(message.substr(at, end - at));
      single = message.find("node '", end);
      continue;
    }
    size_t at = list + 9, end = message.find('\n', at);
    if (end == std::string::npos)
      end = message.size();
    for (size_t start = at; start < end;) {
      size_t comma = std::min(message.find(", ", start), end);
      add(message.substr(start, comma - start));
      start = comma + 2;
    }
    list = message.find("node(s): ", end);
  }
  return names;
}

/// Raises `type` with `message` and the attributes every qopt.Error has:
/// `status` (the C API's name for it), `node` (the first ONNX node the
/// message names, or None) and `nodes` (all of them).
[[noreturn]] void raise(PyObject *type, qopt_status status,
                        const std::string &message) {
  py::object error = py::reinterpret_borrow<py::object>(type)(py::str(message));
  error.attr("status") = py::str(qopt_status_string(status));
  std::vector<std::string> nodes = nodeNames(message);
  error.attr("nodes") = py::cast(nodes);
  error.attr("node") =
      nodes.empty() ? py::none() : py::object(py::str(nodes.front()));
  PyErr_SetObject(type, error.ptr());
  throw py::error_already_set();
}

/// A Python exception taken out of the interpreter while a compile goes on
/// without the GIL, to be raised again when it returns.
struct PendingException {
  PyObject *type = nullptr, *value = nullptr, *traceback = nullptr;
  bool pending() const { return type != nullptr; }
  void fetch() { PyErr_Fetch(&type, &value, &traceback); }
  [[noreturn]] void restore() {
    PyErr_Restore(type, value, traceback);
    type = value = traceback = nullptr;
    throw py::error_already_set();
  }
};

/// What the progress trampoline needs: the user's callable (or None).
struct ProgressState {
  py::object callback;
  PendingException exception;
};

int progressTrampoline(const char *phase, void *data) {
  auto *state = static_cast<ProgressState *>(data);
  py::gil_scoped_acquire gil;
  if (PyErr_CheckSignals() != 0) {
    state->exception.fetch();
    return 1;
  }
  if (state->callback.is_none())
    return 0;
  try {
    state->callback(py::str(phase));
  } catch (py::error_already_set &e) {
    e.restore();
    state->exception.fetch();
    return 1;
  }
  return 0;
}

using OptionsPtr =
    std::unique_ptr<qopt_compile_options, decltype(&qopt_compile_options_free)>;

void setString(OptionsPtr &options, const std::optional<std::string> &value,
               qopt_status (*setter)(qopt_compile_options *, const char *)) {
  if (value)
    setter(options.get(), value->c_str());
}

/// One loaded artifact. Runs are serialized: the artifact holds one
/// workspace, and the GIL is released while it runs.
class Artifact {
public:
  Artifact(const std::string &dir, const std::string &device) {
    char error[4096];
    qopt_status status;
    {
      py::gil_scoped_release release;
      status = qopt_artifact_load_on_device(
          dir.c_str(), device.empty() ? nullptr : device.c_str(), &artifact,
          error, sizeof error);
    }
    if (status != QOPT_OK)
      raise(runtimeErrorType, status, error);
  }
  ~Artifact() { qopt_artifact_free(artifact); }
  Artifact(const Artifact &) = delete;
  Artifact &operator=(const Artifact &) = delete;

  py::list tensors(bool inputs) const {
    py::list result;
    size_t count = inputs ? qopt_artifact_num_inputs(artifact)
                          : qopt_artifact_num_outputs(artifact);
    for (size_t i = 0; i < count; ++i) {
      qopt_tensor_info info = describe(inputs, i);
      py::tuple shape(info.rank);
      for (int d = 0; d < info.rank; ++d)
        shape[d] = py::int_(info.shape[d]);
      py::dict entry;
      entry["name"] = info.name;
      entry["dtype"] = info.dtype;
      entry["shape"] = shape;
      result.append(entry);
    }
    return result;
  }

  /// Later runs on `threads` threads; returns the count in effect.
  int setThreads(int threads) {
    int used = 0;
    qopt_status status;
    {
      std::lock_guard<std::mutex> lock(mutex);
      status = qopt_artifact_set_threads(artifact, threads, &used);
    }
    if (status != QOPT_OK)
      throw py::value_error("threads must be at least 1, got " +
                            std::to_string(threads));
    return used;
  }

  std::string target() const { return qopt_artifact_target(artifact); }
  std::string device() const { return qopt_artifact_device(artifact); }

  /// Runs on `inputs` into `outputs`: arrays in manifest order, each
  /// C-contiguous and exactly as large as its tensor (the Python side has
  /// checked names, dtypes and shapes and made copies where needed).
  void run(const std::vector<py::array> &inputs,
           const std::vector<py::array> &outputs) {
    std::vector<const void *> in = buffers(inputs, /*isInput=*/true);
    std::vector<void *> out;
    for (const void *p : buffers(outputs, /*isInput=*/false))
      out.push_back(const_cast<void *>(p));
    char error[4096];
    qopt_status status;
    {
      py::gil_scoped_release release;
      std::lock_guard<std::mutex> lock(mutex);
      status = qopt_artifact_run(artifact, in.data(), in.size(), out.data(),
                                 out.size(), error, sizeof error);
    }
    if (status != QOPT_OK)
      raise(runtimeErrorType, status, error);
  }

  py::dict evalPerplexity(
      py::array_t<int64_t, py::array::c_style | py::array::forcecast> ids,
      py::array_t<int64_t, py::array::c_style | py::array::forcecast> offsets,
      const std::string &stories, bool decode) {
    qopt_perplexity result{};
    char error[4096];
    qopt_status status;
    {
      py::gil_scoped_release release;
      std::lock_guard<std::mutex> lock(mutex);
      status = qopt_artifact_eval_perplexity(
          artifact, ids.data(), size_t(ids.size()), offsets.data(),
          size_t(offsets.size()), stories.c_str(), decode ? 1 : 0, &result,
          error, sizeof error);
    }
    if (status != QOPT_OK)
      raise(runtimeErrorType, status, error);
    py::dict d;
    d["perplexity"] = result.perplexity;
    d["mean_nll"] = result.mean_nll;
    d["predicted_tokens"] = result.predicted_tokens;
    d["truncated_stories"] = result.truncated_stories;
    d["seq"] = result.seq;
    d["first_story"] = result.first_story;
    d["end_story"] = result.end_story;
    return d;
  }

private:
  qopt_artifact *artifact = nullptr;
  std::mutex mutex;

  qopt_tensor_info describe(bool inputs, size_t index) const {
    qopt_tensor_info info;
    if (inputs)
      qopt_artifact_input_info(artifact, index, &info);
    else
      qopt_artifact_output_info(artifact, index, &info);
    return info;
  }

  std::vector<const void *> buffers(const std::vector<py::array> &arrays,
                                    bool isInput) const {
    const char *side = isInput ? "input" : "output";
    size_t count = isInput ? qopt_artifact_num_inputs(artifact)
                           : qopt_artifact_num_outputs(artifact);
    if (arrays.size() != count)
      raise(runtimeErrorType, QOPT_ERROR_INVALID_ARGUMENT,
            std::to_string(arrays.size()) + " " + side +
                " arrays given, the model has " + std::to_string(count));
    std::vector<const void *> pointers;
    for (size_t i = 0; i < count; ++i) {
      qopt_tensor_info info = describe(isInput, i);
      const py::array &a = arrays[i];
      size_t bytes = info.num_elements * info.element_size;
      bool contiguous = a.flags() & py::array::c_style;
      if (!contiguous || size_t(a.nbytes()) != bytes ||
          (!isInput && !a.writeable()))
        raise(runtimeErrorType, QOPT_ERROR_INVALID_ARGUMENT,
              std::string(side) + " '" + info.name + "' needs a " +
                  (isInput ? "" : "writable ") + "C-contiguous array of " +
                  std::to_string(bytes) + " bytes, got " +
                  std::to_string(a.nbytes()) +
                  (contiguous ? "" : " (not contiguous)"));
      pointers.push_back(a.data());
    }
    return pointers;
  }
};

/// qopt_compile with the options the Python side has normalized to strings.
std::string compile(const std::string &model, const std::string &outputDir,
                    const std::optional<std::string> &target,
                    const std::optional<std::string> &cpu,
                    const std::optional<std::string> &features,
                    const std::optional<std::string> &name, bool force,
                    const std::vector<std::string> &inputShapes,
                    const std::vector<std::string> &freezeInputs,
                    bool embedWeights, int optLevel,
                    const std::optional<std::string> &precision,
                    const std::optional<std::string> &recipe,
                    const std::optional<std::string> &algorithm,
                    const std::optional<std::string> &exclude,
                    const std::optional<std::string> &emitONNX,
                    const std::optional<std::string> &calib,
                    const std::optional<std::string> &calibOffsets,
                    std::optional<size_t> calibSamples,
                    const std::optional<std::string> &calibMethod,
                    const std::optional<std::string> &calibTable, bool verbose,
                    py::object progress) {
  OptionsPtr options(qopt_compile_options_create(), &qopt_compile_options_free);
  if (!options)
    throw std::bad_alloc();
  qopt_compile_options_set_output_dir(options.get(), outputDir.c_str());
  setString(options, target, qopt_compile_options_set_target_triple);
  setString(options, cpu, qopt_compile_options_set_cpu);
  setString(options, features, qopt_compile_options_set_features);
  setString(options, name, qopt_compile_options_set_name);
  qopt_compile_options_set_force(options.get(), force);
  for (const std::string &spec : inputShapes)
    qopt_compile_options_add_input_shape(options.get(), spec.c_str());
  for (const std::string &spec : freezeInputs)
    qopt_compile_options_add_freeze_input(options.get(), spec.c_str());
  qopt_compile_options_set_embed_weights(options.get(), embedWeights);
  qopt_compile_options_set_opt_level(options.get(), optLevel);
  setString(options, precision, qopt_compile_options_set_precision);
  setString(options, recipe, qopt_compile_options_set_recipe);
  setString(options, emitONNX, qopt_compile_options_set_emit_onnx);
  setString(options, algorithm, qopt_compile_options_set_algorithm);
  setString(options, exclude, qopt_compile_options_set_exclude);
  setString(options, calib, qopt_compile_options_set_calibration_data);
  setString(options, calibOffsets,
            qopt_compile_options_set_calibration_offsets);
  if (calibSamples)
    qopt_compile_options_set_calibration_samples(options.get(), *calibSamples);
  setString(options, calibMethod, qopt_compile_options_set_calibration_method);
  setString(options, calibTable, qopt_compile_options_set_calibration_table);
  qopt_compile_options_set_verbose(options.get(), verbose);
  ProgressState state{std::move(progress), {}};
  qopt_compile_options_set_progress(options.get(), progressTrampoline, &state);

  // Large enough for every diagnostic of a model with many bad nodes.
  std::vector<char> error(1 << 16);
  qopt_status status;
  {
    py::gil_scoped_release release;
    status =
        qopt_compile(model.c_str(), options.get(), error.data(), error.size());
  }
  if (state.exception.pending())
    state.exception.restore();
  if (status != QOPT_OK)
    raise(compileErrorType, status, error.data());
  return error.data();
}

/// manifest.json or report.json of `dir` (None: a float artifact's report).
py::object artifactJSON(const std::string &dir, bool report) {
  char *json = nullptr;
  char error[4096];
  qopt_status status =
      report
          ? qopt_artifact_report_json(dir.c_str(), &json, error, sizeof error)
          : qopt_artifact_manifest_json(dir.c_str(), &json, error,
                                        sizeof error);
  if (report && status == QOPT_ERROR_NOT_FOUND)
    return py::none();
  if (status != QOPT_OK)
    raise(runtimeErrorType, status, error);
  py::str text(json);
  qopt_string_free(json);
  return std::move(text);
}

std::vector<std::string> listDevices() {
  std::vector<char> buffer(8192);
  qrt_list_devices(buffer.data(), buffer.size());
  std::vector<std::string> lines;
  std::string text(buffer.data());
  for (size_t at = 0; at < text.size();) {
    size_t end = text.find('\n', at);
    if (end == std::string::npos)
      end = text.size();
    if (end > at)
      lines.push_back(text.substr(at, end - at));
    at = end + 1;
  }
  return lines;
}

} // namespace

PYBIND11_MODULE(_qopt, m) {
  m.doc() = "qopt's C API for the qopt package (use `import qopt`)";
  errorType = PyErr_NewExceptionWithDoc(
      "qopt.Error", "Every error qopt raises.", PyExc_Exception, nullptr);
  compileErrorType = PyErr_NewExceptionWithDoc(
      "qopt.CompileError",
      "A compile failed: its message holds every diagnostic, as the qopt "
      "tool prints them; `node` names the first ONNX node they mention.",
      errorType, nullptr);
  py::tuple runtimeBases =
      py::make_tuple(py::handle(errorType), py::handle(PyExc_RuntimeError));
  runtimeErrorType = PyErr_NewExceptionWithDoc(
      "qopt.RuntimeError",
      "Loading or running an artifact failed, or its inputs do not match "
      "the manifest.",
      runtimeBases.ptr(), nullptr);
  if (!errorType || !compileErrorType || !runtimeErrorType)
    throw py::error_already_set();
  // Errors the Python side raises itself (a wrong input dtype) carry no
  // status and name no node.
  py::handle error(errorType);
  error.attr("status") = py::none();
  error.attr("node") = py::none();
  error.attr("nodes") = py::tuple();
  m.attr("Error") = py::handle(errorType);
  m.attr("CompileError") = py::handle(compileErrorType);
  m.attr("RuntimeError") = py::handle(runtimeErrorType);

  m.def("version", [] { return std::string(qopt_version()); });
  m.def("c_api_version", [] { return qopt_c_api_version(); });
  m.def("compile", &compile, py::arg("model"), py::arg("output_dir"),
        py::arg("target"), py::arg("cpu"), py::arg("features"), py::arg("name"),
        py::arg("force"), py::arg("input_shapes"), py::arg("freeze_inputs"),
        py::arg("embed_weights"), py::arg("opt_level"), py::arg("precision"),
        py::arg("recipe"), py::arg("algorithm"), py::arg("exclude"),
        py::arg("emit_onnx"), py::arg("calib"), py::arg("calib_offsets"),
        py::arg("calib_samples"), py::arg("calib_method"),
        py::arg("calib_table"), py::arg("verbose"), py::arg("progress"),
        "qopt_compile; returns the warnings and notes");
  m.def("manifest_json", [](const std::string &dir) {
    return artifactJSON(dir, /*report=*/false);
  });
  m.def("report_json", [](const std::string &dir) {
    return artifactJSON(dir, /*report=*/true);
  });
  m.def("list_devices", &listDevices);

  py::class_<Artifact>(m, "Artifact")
      .def(py::init<const std::string &, const std::string &>(), py::arg("dir"),
           py::arg("device"))
      .def("inputs", [](const Artifact &a) { return a.tensors(true); })
      .def("outputs", [](const Artifact &a) { return a.tensors(false); })
      .def("target", &Artifact::target)
      .def("device", &Artifact::device)
      .def("run", &Artifact::run, py::arg("inputs"), py::arg("outputs"))
      .def("set_threads", &Artifact::setThreads, py::arg("threads"))
      .def("eval_perplexity", &Artifact::evalPerplexity, py::arg("ids"),
           py::arg("offsets"), py::arg("stories"), py::arg("decode"));
}
