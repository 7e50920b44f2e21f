// RUN: qopt-opt %s --qopt-gpu-mapping-pipeline --qopt-spirv-kernel-pipeline --split-input-file --verify-diagnostics | FileCheck %s

// f32 kernels need only Shader (and the Matrix it implies); the storage buffers are bound in set 0 in
// kernel-argument order and the entry point has the workgroup size.
// CHECK-LABEL: spirv.module @__spv__relu_kernel Logical GLSL450 requires #spirv.vce<v1.0, [Shader, Matrix], [SPV_KHR_storage_buffer_storage_class]>
// CHECK: spirv.GlobalVariable @relu_kernel_arg_0 bind(0, 0) : !spirv.ptr<!spirv.struct<(!spirv.array<256 x f32, stride=4> [0])>, StorageBuffer>
// CHECK: spirv.GlobalVariable @relu_kernel_arg_1 bind(0, 1)
// CHECK: spirv.EntryPoint "GLCompute" @relu_kernel
// CHECK: spirv.ExecutionMode @relu_kernel "LocalSize", 64, 1, 1
func.func @relu(%x: memref<256xf32>, %y: memref<256xf32>) {
  linalg.generic {indexing_maps = [affine_map<(i) -> (i)>, affine_map<(i) -> (i)>],
                  iterator_types = ["parallel"]}
      ins(%x : memref<256xf32>) outs(%y : memref<256xf32>) {
  ^bb0(%in: f32, %out: f32):
    %zero = arith.constant 0.0 : f32
    %r = arith.maximumf %in, %zero : f32
    linalg.yield %r : f32
  }
  return
}

// -----

// int8 weights widened inside the kernel: 8-bit storage and Int8.
// CHECK-LABEL: spirv.module @__spv__dequant_kernel
// CHECK-SAME: StorageBuffer8BitAccess
// CHECK-SAME: Int8
// CHECK-SAME: SPV_KHR_8bit_storage
// CHECK: !spirv.array<128 x i8, stride=1>
func.func @dequant(%w: memref<128xi8>, %y: memref<128xf32>) {
  linalg.generic {indexing_maps = [affine_map<(i) -> (i)>, affine_map<(i) -> (i)>],
                  iterator_types = ["parallel"]}
      ins(%w : memref<128xi8>) outs(%y : memref<128xf32>) {
  ^bb0(%in: i8, %out: f32):
    %f = arith.sitofp %in : i8 to f32
    %s = arith.constant 0.5 : f32
    %r = arith.mulf %f, %s : f32
    linalg.yield %r : f32
  }
  return
}

// -----

// int64 buffers (ONNX indices) need Int64.
// CHECK-LABEL: spirv.module @__spv__widen_kernel
// CHECK-SAME: Int64
// CHECK: !spirv.array<16 x i64, stride=8>
func.func @widen(%x: memref<16xi32>, %y: memref<16xi64>) {
  linalg.generic {indexing_maps = [affine_map<(i) -> (i)>, affine_map<(i) -> (i)>],
                  iterator_types = ["parallel"]}
      ins(%x : memref<16xi32>) outs(%y : memref<16xi64>) {
  ^bb0(%in: i32, %out: i64):
    %r = arith.extsi %in : i32 to i64
    linalg.yield %r : i64
  }
  return
}

// -----

// A target without int64 refuses i64 buffers by name instead of letting
// the SPIR-V type converter narrow them to i32 behind the buffer's back.
module attributes {qopt.target = #qopt.target<backend = "spirv", triple = "spirv64-unknown-vulkan1.3", cpu = "generic", features = "+int8,-int64">} {
  func.func @no_int64(%x: memref<16xi32>, %y: memref<16xi64>) {
    // expected-error @+1 {{a buffer of 'i64' needs the 'int64' feature, which the target excludes}}
    linalg.generic {indexing_maps = [affine_map<(i) -> (i)>, affine_map<(i) -> (i)>],
                    iterator_types = ["parallel"]}
        ins(%x : memref<16xi32>) outs(%y : memref<16xi64>) {
    ^bb0(%in: i32, %out: i64):
      %r = arith.extsi %in : i32 to i64
      linalg.yield %r : i64
    }
    return
  }
}
