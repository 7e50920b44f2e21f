//===- OrtDynamicQuantize.cpp - ONNX Runtime's dynamic int8 form of a model
//===//
//
// Writes the model that ONNX Runtime's dynamic quantizer
// (onnxruntime.quantization.quantize_dynamic with its defaults: int8
// weights, symmetric, per tensor) makes of a float model, for the peers of
// the benchmarks and end-to-end tests, where the Python package is not
// installed. Every Conv and every MatMul whose weight is a float
// initializer becomes
//
//   xq, xs, xz = DynamicQuantizeLinear(x)           (shared by the readers of
//   x) acc = ConvInteger(xq, wq, xz, 0) | MatMulInteger(xq, wq, xz, 0) y =
//   Cast<float>(acc) * (xs * ws) [+ bias reshaped to [1, C, 1, ...]]
//
// with wq = round_half_even(w / ws) and ws = max|w| / 127. Other nodes are
// copied as they are. The model must keep its weights inside the file.
//
//   qopt-ort-quantize-dynamic in.onnx out.onnx
//
//===----------------------------------------------------------------------===//

#include <onnx/onnx_pb.h>

#include <google/protobuf/io/coded_stream.h>

#include <algorithm>
#include <climits>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

namespace {

[[noreturn]] void die(const std::string &message) {
  std::fprintf(stderr, "qopt-ort-quantize-dynamic: %s\n", message.c_str());
  std::exit(1);
}

/// The float values of an initializer (raw_data or float_data).
std::vector<float> floats(const onnx::TensorProto &t) {
  if (t.data_type() != onnx::TensorProto::FLOAT)
    die("initializer '" + t.name() + "' is not float");
  if (t.data_location() == onnx::TensorProto::EXTERNAL)
    die("initializer '" + t.name() + "' has external data");
  size_t n = 1;
  for (int64_t d : t.dims())
    n *= static_cast<size_t>(d);
  std::vector<float> v(n);
  if (t.has_raw_data()) {
    if (t.raw_data().size() != n * sizeof(float))
      die("initializer '" + t.name() + "' has the wrong size");
    std::memcpy(v.data(), t.raw_data().data(), n * sizeof(float));
  } else {
    if (static_cast<size_t>(t.float_data_size()) != n)
      die("initializer '" + t.name() + "' has the wrong size");
    std::copy(t.float_data().begin(), t.float_data().end(), v.begin());
  }
  return v;
}

onnx::TensorProto scalar(const std::string &name, int type, const void *value,
                         size_t bytes) {
  onnx::TensorProto t;
  t.set_name(name);
  t.set_data_type(type);
  t.set_raw_data(std::string(static_cast<const char *>(value), bytes));
  return t;
}

onnx::NodeProto &addNode(onnx::GraphProto &g, const std::string &op,
                         std::vector<std::string> inputs,
                         std::vector<std::string> outputs,
                         const std::string &name) {
  onnx::NodeProto &n = *g.add_node();
  n.set_op_type(op);
  n.set_name(name);
  for (auto &i : inputs)
    n.add_input(i);
  for (auto &o : outputs)
    n.add_output(o);
  return n;
}

onnx::TensorProto int64s(const std::string &name,
                         const std::vector<int64_t> &values) {
  onnx::TensorProto t;
  t.set_name(name);
  t.set_data_type(onnx::TensorProto::INT64);
  t.add_dims(static_cast<int64_t>(values.size()));
  t.set_raw_data(std::string(reinterpret_cast<const char *>(values.data()),
                             values.size() * sizeof(int64_t)));
  return t;
}

/// DynamicQuantizeLinear needs opset 11 (ONNX Runtime's quantizer upgrades
/// older models too). Of the ops whose schema changed between 9 and 11,
/// Clip and Slice (attributes become inputs) are rewritten; a model with
/// another one is refused.
void upgradeToOpset11(onnx::ModelProto &model) {
  onnx::OperatorSetIdProto *opset = nullptr;
  for (onnx::OperatorSetIdProto &o : *model.mutable_opset_import())
    if (o.domain().empty() || o.domain() == "ai.onnx")
      opset = &o;
  if (!opset)
    die("the model imports no default-domain opset");
  if (opset->version() >= 11)
    return;
  if (opset->version() < 9)
    die("opset " + std::to_string(opset->version()) + " is older than 9");
  static const char *unchanged[] = {
      "Add",         "AveragePool",  "BatchNormalization",
      "Cast",        "Concat",       "Constant",
      "Conv",        "Div",          "GlobalAveragePool",
      "HardSigmoid", "MatMul",       "MaxPool",
      "Mul",         "Pow",          "ReduceMean",
      "Relu",        "Reshape",      "Shape",
      "Sigmoid",     "Softmax",      "Sqrt",
      "Squeeze",     "Sub",          "Transpose",
      "Unsqueeze",   "Gemm",         "Flatten",
      "Tanh",        "Exp",          "Log",
      "Neg",         "Abs",          "Sum",
      "Max",         "Min",          "Identity",
      "LeakyRelu",   "GlobalMaxPool"};
  onnx::GraphProto *graph = model.mutable_graph();
  int fresh = 0;
  for (onnx::NodeProto &node : *graph->mutable_node()) {
    if (!node.domain().empty())
      continue;
    const std::string &op = node.op_type();
    if (op == "Clip") {
      float lo = -3.402823466e38f, hi = 3.402823466e38f;
      for (const onnx::AttributeProto &a : node.attribute())
        (a.name() == "min" ? lo : hi) = a.f();
      node.clear_attribute();
      std::string base = "clip_bound_" + std::to_string(fresh++);
      *graph->add_initializer() =
          scalar(base + "_min", onnx::TensorProto::FLOAT, &lo, sizeof lo);
      *graph->add_initializer() =
          scalar(base + "_max", onnx::TensorProto::FLOAT, &hi, sizeof hi);
      node.add_input(base + "_min");
      node.add_input(base + "_max");
    } else if (op == "Slice") {
      std::map<std::string, std::vector<int64_t>> attrs;
      for (const onnx::AttributeProto &a : node.attribute())
        attrs[a.name()].assign(a.ints().begin(), a.ints().end());
      node.clear_attribute();
      std::string base = "slice_bound_" + std::to_string(fresh++);
      for (const char *name : {"starts", "ends", "axes"}) {
        if (!attrs.count(name))
          break;
        *graph->add_initializer() = int64s(base + "_" + name, attrs[name]);
        node.add_input(base + "_" + name);
      }
    } else if (std::find(std::begin(unchanged), std::end(unchanged), op) ==
               std::end(unchanged)) {
      die("cannot upgrade " + op + " from opset " +
          std::to_string(opset->version()) + " to 11");
    }
  }
  opset->set_version(11);
  // Opset 11 came with IR version 6 (where initializers need not be inputs).
  if (model.ir_version() < 6)
    model.set_ir_version(6);
}

} // namespace

int main(int argc, char **argv) {
  if (argc != 3)
    die("usage: qopt-ort-quantize-dynamic in.onnx out.onnx");
  std::ifstream in(argv[1], std::ios::binary);
  if (!in)
    die(std::string("cannot read ") + argv[1]);
  std::stringstream buffer;
  buffer << in.rdbuf();
  std::string bytes = buffer.str();
  onnx::ModelProto model;
  google::protobuf::io::CodedInputStream stream(
      reinterpret_cast<const uint8_t *>(bytes.data()), (int)bytes.size());
  stream.SetTotalBytesLimit(INT_MAX);
  if (!model.ParseFromCodedStream(&stream))
    die(std::string(argv[1]) + " is not an ONNX model");

  onnx::GraphProto *graph = model.mutable_graph();
  upgradeToOpset11(model);
  // Weights: initializers and Constant nodes' tensors.
  std::map<std::string, const onnx::TensorProto *> constants;
  for (const onnx::TensorProto &t : graph->initializer())
    constants[t.name()] = &t;
  for (const onnx::NodeProto &node : graph->node())
    if (node.op_type() == "Constant" && node.domain().empty())
      for (const onnx::AttributeProto &a : node.attribute())
        if (a.name() == "value" && a.has_t())
          constants[node.output(0)] = &a.t();

  onnx::GraphProto out;
  std::map<std::string, std::string> quantized; // x -> prefix of xq/xs/xz
  std::vector<onnx::TensorProto> added;
  std::map<std::string, bool> replacedWeights;
  int convs = 0, matmuls = 0;
  for (const onnx::NodeProto &node : graph->node()) {
    bool isConv = node.op_type() == "Conv" && node.domain().empty();
    bool isMatMul = node.op_type() == "MatMul" && node.domain().empty();
    auto w =
        node.input_size() > 1 ? constants.find(node.input(1)) : constants.end();
    if (!(isConv || isMatMul) || w == constants.end() ||
        w->second->data_type() != onnx::TensorProto::FLOAT) {
      *out.add_node() = node;
      continue;
    }
    const onnx::TensorProto &weight = *w->second;
    std::string weightName = node.input(1);
    if (isMatMul && weight.dims_size() != 2) {
      *out.add_node() = node;
      continue;
    }
    std::string base = node.name().empty() ? node.output(0) : node.name();

    // The weights: symmetric int8 with one scale (once per weight, however
    // many nodes read it).
    if (!replacedWeights.count(weightName)) {
      std::vector<float> values = floats(weight);
      float absmax = 0;
      for (float v : values)
        absmax = std::max(absmax, std::fabs(v));
      float ws = absmax > 0 ? absmax / 127.0f : 1.0f;
      onnx::TensorProto wq;
      wq.set_name(weightName + "_quantized");
      wq.set_data_type(onnx::TensorProto::INT8);
      *wq.mutable_dims() = weight.dims();
      std::string codes(values.size(), '\0');
      for (size_t i = 0; i < values.size(); ++i) {
        float q = std::nearbyint(values[i] / ws);
        codes[i] = static_cast<char>(
            static_cast<int8_t>(std::max(-127.0f, std::min(127.0f, q))));
      }
      wq.set_raw_data(codes);
      added.push_back(wq);
      int8_t zero = 0;
      added.push_back(scalar(weightName + "_zero_point",
                             onnx::TensorProto::INT8, &zero, 1));
      added.push_back(scalar(weightName + "_scale", onnx::TensorProto::FLOAT,
                             &ws, sizeof ws));
    }
    replacedWeights[weightName] = true;

    // The activation, quantized once for all its readers.
    const std::string &x = node.input(0);
    auto q = quantized.find(x);
    if (q == quantized.end()) {
      std::string prefix = x + "_dq";
      addNode(
          out, "DynamicQuantizeLinear", {x},
          {prefix + "_quantized", prefix + "_scale", prefix + "_zero_point"},
          x + "_DynamicQuantizeLinear");
      q = quantized.emplace(x, prefix).first;
    }
    const std::string &p = q->second;

    std::string acc = base + "_output_quantized";
    onnx::NodeProto &integer =
        addNode(out, isConv ? "ConvInteger" : "MatMulInteger",
                {p + "_quantized", weightName + "_quantized", p + "_zero_point",
                 weightName + "_zero_point"},
                {acc}, base + "_quant");
    if (isConv)
      for (const onnx::AttributeProto &a : node.attribute())
        *integer.add_attribute() = a;
    onnx::NodeProto &cast =
        addNode(out, "Cast", {acc}, {acc + "_cast"}, base + "_cast");
    onnx::AttributeProto &to = *cast.add_attribute();
    to.set_name("to");
    to.set_type(onnx::AttributeProto::INT);
    to.set_i(onnx::TensorProto::FLOAT);
    addNode(out, "Mul", {p + "_scale", weightName + "_scale"},
            {base + "_scales_mul"}, base + "_scales_mul");
    bool bias = isConv && node.input_size() > 2 && !node.input(2).empty();
    std::string y = bias ? base + "_output_scaled" : node.output(0);
    addNode(out, "Mul", {acc + "_cast", base + "_scales_mul"}, {y},
            base + "_output_scale_mul");
    if (bias) {
      // The bias as [1, C, 1, ...] for the rank of the weight.
      std::vector<int64_t> shape(weight.dims_size(), 1);
      shape[1] = weight.dims(0);
      onnx::TensorProto s;
      s.set_name(base + "_bias_shape");
      s.set_data_type(onnx::TensorProto::INT64);
      s.add_dims(static_cast<int64_t>(shape.size()));
      s.set_raw_data(std::string(reinterpret_cast<const char *>(shape.data()),
                                 shape.size() * sizeof(int64_t)));
      added.push_back(s);
      addNode(out, "Reshape", {node.input(2), s.name()}, {base + "_bias"},
              base + "_bias_reshape");
      addNode(out, "Add", {y, base + "_bias"}, {node.output(0)},
              base + "_bias_add");
    }
    (isConv ? convs : matmuls)++;
  }

  // Weights no node reads any more go, with their Constant nodes and the
  // graph inputs that listed them.
  std::map<std::string, bool> read;
  for (const onnx::NodeProto &node : out.node())
    for (const std::string &i : node.input())
      read[i] = true;
  for (const onnx::ValueInfoProto &v : graph->output())
    read[v.name()] = true;
  auto dropped = [&](const std::string &name) {
    return replacedWeights.count(name) && !read.count(name);
  };
  google::protobuf::RepeatedPtrField<onnx::TensorProto> kept;
  for (const onnx::TensorProto &t : graph->initializer())
    if (!dropped(t.name()))
      *kept.Add() = t;
  for (auto &t : added)
    *kept.Add() = t;
  google::protobuf::RepeatedPtrField<onnx::NodeProto> nodes;
  for (const onnx::NodeProto &node : out.node())
    if (!(node.op_type() == "Constant" && dropped(node.output(0))))
      *nodes.Add() = node;
  google::protobuf::RepeatedPtrField<onnx::ValueInfoProto> inputs;
  for (const onnx::ValueInfoProto &v : graph->input())
    if (!dropped(v.name()))
      *inputs.Add() = v;
  *graph->mutable_initializer() = kept;
  *graph->mutable_node() = nodes;
  *graph->mutable_input() = inputs;

  std::string tmp = std::string(argv[2]) + ".tmp";
  {
    std::ofstream o(tmp, std::ios::binary);
    if (!o || !model.SerializeToOstream(&o))
      die("cannot write " + tmp);
  }
  if (std::rename(tmp.c_str(), argv[2]) != 0)
    die(std::string("cannot write ") + argv[2]);
  std::printf("qopt-ort-quantize-dynamic: %d Conv and %d MatMul quantized\n",
              convs, matmuls);
  return 0;
}
