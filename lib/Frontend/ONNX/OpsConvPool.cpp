//===- OpsConvPool.cpp - ONNX convolution and pooling ----------------------===//

#include "Builders.h"
#include "ImportContext.h"

using namespace mlir;

namespace qopt::onnx_frontend {

void appendConvPoolConverters(std::vector<ConverterEntry> &t) {}

} // namespace qopt::onnx_frontend
