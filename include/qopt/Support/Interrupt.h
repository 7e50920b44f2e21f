//===- Interrupt.h - Leaving nothing behind when interrupted -----*- C++
//-*-===//
//
// A compile writes a staging folder beside its artifact and temporary
// folders (the calibration and report models). Destructors remove them when
// a compile fails or is cancelled; a SIGINT, SIGTERM or SIGHUP would skip
// the destructors and leave them behind. Code that creates such a path
// registers it with a CleanupOnInterrupt for as long as it exists, and a
// tool that owns the process installs the handlers once: on one of those
// signals they remove every registered path (with async-signal-safe system
// calls only), undo a half-done artifact replacement, and then let the
// signal end the process as it would have.
//
//===----------------------------------------------------------------------===//

#ifndef QOPT_SUPPORT_INTERRUPT_H
#define QOPT_SUPPORT_INTERRUPT_H

#include "llvm/ADT/SmallVector.h"
#include "llvm/ADT/StringRef.h"

namespace qopt {

/// Installs the SIGINT, SIGTERM and SIGHUP handlers (once; later calls do
/// nothing). Handlers installed before are chained to, after the cleanup.
/// Tools call it from main(); a library embedded in another program (the
/// Python module) leaves the program's own handlers alone.
void installInterruptCleanup();

/// While alive, the path is removed (recursively, never following links)
/// if the process is interrupted.
class CleanupOnInterrupt {
public:
  CleanupOnInterrupt() = default;
  explicit CleanupOnInterrupt(llvm::StringRef path) { reset(path); }
  ~CleanupOnInterrupt() { release(); }
  CleanupOnInterrupt(const CleanupOnInterrupt &) = delete;
  CleanupOnInterrupt &operator=(const CleanupOnInterrupt &) = delete;

  /// Registers `path` (made absolute), releasing what was registered.
  void reset(llvm::StringRef path);
  /// On interruption, renames `from` back to `to` after the removals: the
  /// previous artifact set aside while the new one moves into place.
  void resetRename(llvm::StringRef from, llvm::StringRef to);
  /// Forgets the path: it is the caller's again.
  void release();

private:
  int slot = -1;
};

/// Creates a unique temporary folder named after `prefix` and registers it
/// with `guard`, with SIGINT, SIGTERM and SIGHUP held back in between: a
/// signal arriving after the folder exists but before it is registered
/// would otherwise leave it behind. Returns false if it cannot be created.
bool createGuardedTempDirectory(llvm::StringRef prefix,
                                llvm::SmallVectorImpl<char> &dir,
                                CleanupOnInterrupt &guard);

} // namespace qopt

#endif // QOPT_SUPPORT_INTERRUPT_H
