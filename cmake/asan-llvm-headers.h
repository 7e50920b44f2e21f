/*===- asan-llvm-headers.h - ASan builds against uninstrumented LLVM -----===*\
|*                                                                        *|
|* Included first in every translation unit of an AddressSanitizer build  *|
|* (QOPT_SANITIZE). LLVM's allocators (BumpPtrAllocator, used by MLIR's   *|
|* storage uniquer for every type and attribute) poison their free slab   *|
|* space when compiled with ASan and unpoison each allocation. qopt's     *|
|* sanitized code instantiates those header allocators while Debian's     *|
|* libMLIR, built without ASan, allocates from the same slabs without     *|
|* unpoisoning: each such use would be reported as use-after-poison. The  *|
|* explicit poisoning calls become no-ops here, as they are in the        *|
|* libraries; every other ASan check is unchanged.                        *|
\*===----------------------------------------------------------------------===*/

#ifndef QOPT_CMAKE_ASAN_LLVM_HEADERS_H
#define QOPT_CMAKE_ASAN_LLVM_HEADERS_H

#include <sanitizer/asan_interface.h>

#define __asan_poison_memory_region(addr, size) ((void)(addr), (void)(size))
#define __asan_unpoison_memory_region(addr, size) ((void)(addr), (void)(size))

#endif
