//===- Interrupt.cpp - Leaving nothing behind when interrupted ------------===//
//
// The registry is a fixed table of slots, so that the signal handler reads
// it without locks or allocation; registering claims a free slot with a
// compare-and-swap. The handler removes trees with openat/getdents64/
// unlinkat, which are async-signal-safe, unlike std::filesystem or opendir.
//
//===----------------------------------------------------------------------===//

#include "qopt/Support/Interrupt.h"

#include "llvm/ADT/SmallString.h"
#include "llvm/Support/FileSystem.h"

#include <atomic>
#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <fcntl.h>
#include <pthread.h>
#include <sys/syscall.h>
#include <unistd.h>

namespace qopt {
namespace {

enum SlotState : int { Free = 0, Claimed = 1, Active = 2 };
enum SlotKind : int { RemoveTree = 0, RenameBack = 1 };

struct Slot {
  std::atomic<int> state{Free};
  int kind = RemoveTree;
  char path[4096];
  char to[4096];
};

// A compile holds a handful at once (staging folder, calibration and report
// models, a set-aside previous artifact).
constexpr int kSlots = 32;
Slot slots[kSlots];

constexpr int kSignals[] = {SIGINT, SIGTERM, SIGHUP};
struct sigaction previousActions[3];
std::atomic<bool> installed{false};

bool isDotOrDotDot(const char *name) {
  return name[0] == '.' && (name[1] == 0 || (name[1] == '.' && name[2] == 0));
}

/// Removes `name` under `dirFd`: a file or link is unlinked (a link's
/// target is never touched), a folder emptied first. Async-signal-safe.
void removeTreeAt(int dirFd, const char *name, int depth) {
  if (unlinkat(dirFd, name, 0) == 0 || errno == ENOENT)
    return;
#if defined(__linux__)
  // Artifacts and temporary models are flat or one level deep.
  if (depth > 8)
    return;
  int fd = openat(dirFd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0)
    return;
  alignas(8) char buffer[2048];
  // Reading a folder while removing from it may skip entries: read it again
  // until a pass finds nothing left.
  for (int pass = 0; pass < 16; ++pass) {
    bool removedAny = false;
    if (lseek(fd, 0, SEEK_SET) < 0)
      break;
    long n;
    while ((n = syscall(SYS_getdents64, fd, buffer, sizeof buffer)) > 0) {
      for (long offset = 0; offset < n;) {
        // struct linux_dirent64: ino (8), off (8), reclen (2), type (1),
        // then the name.
        unsigned short length;
        std::memcpy(&length, buffer + offset + 16, sizeof length);
        const char *entry = buffer + offset + 19;
        offset += length;
        if (isDotOrDotDot(entry))
          continue;
        removeTreeAt(fd, entry, depth + 1);
        removedAny = true;
      }
    }
    if (!removedAny)
      break;
  }
  close(fd);
  unlinkat(dirFd, name, AT_REMOVEDIR);
#else
  (void)depth;
#endif
}

void onSignal(int sig) {
  int savedErrno = errno;
  for (Slot &s : slots)
    if (s.state.load() == Active && s.kind == RemoveTree)
      removeTreeAt(AT_FDCWD, s.path, 0);
  for (Slot &s : slots)
    if (s.state.load() == Active && s.kind == RenameBack)
      (void)rename(s.path, s.to);
  // Hand the signal to what was there before (the default action ends the
  // process with this signal); it is delivered when this handler returns.
  for (int i = 0; i < 3; ++i)
    if (kSignals[i] == sig)
      sigaction(sig, &previousActions[i], nullptr);
  raise(sig);
  errno = savedErrno;
}

int claimSlot(int kind, llvm::StringRef path, llvm::StringRef to) {
  for (int i = 0; i < kSlots; ++i) {
    int expected = Free;
    if (!slots[i].state.compare_exchange_strong(expected, Claimed))
      continue;
    Slot &s = slots[i];
    auto copy = [](char *dst, llvm::StringRef src) {
      llvm::SmallString<256> abs(src);
      llvm::sys::fs::make_absolute(abs);
      size_t n = std::min(abs.size(), sizeof(Slot::path) - 1);
      std::memcpy(dst, abs.data(), n);
      dst[n] = 0;
      return n == abs.size();
    };
    s.kind = kind;
    s.to[0] = 0;
    if (!copy(s.path, path) || (!to.empty() && !copy(s.to, to))) {
      // Too long to hold: better not to remove a truncated path.
      s.state.store(Free);
      return -1;
    }
    s.state.store(Active);
    return i;
  }
  return -1;
}

} // namespace

void installInterruptCleanup() {
  if (installed.exchange(true))
    return;
  struct sigaction action;
  std::memset(&action, 0, sizeof action);
  action.sa_handler = onSignal;
  sigemptyset(&action.sa_mask);
  for (int sig : kSignals)
    sigaddset(&action.sa_mask, sig);
  for (int i = 0; i < 3; ++i) {
    sigaction(kSignals[i], nullptr, &previousActions[i]);
    // A signal the process was told to ignore (nohup) stays ignored.
    if (previousActions[i].sa_handler == SIG_IGN &&
        !(previousActions[i].sa_flags & SA_SIGINFO))
      continue;
    sigaction(kSignals[i], &action, nullptr);
  }
}

bool createGuardedTempDirectory(llvm::StringRef prefix,
                                llvm::SmallVectorImpl<char> &dir,
                                CleanupOnInterrupt &guard) {
  sigset_t held, previous;
  sigemptyset(&held);
  for (int sig : kSignals)
    sigaddset(&held, sig);
  pthread_sigmask(SIG_BLOCK, &held, &previous);
  bool made = !llvm::sys::fs::createUniqueDirectory(prefix, dir);
  if (made)
    guard.reset(llvm::StringRef(dir.data(), dir.size()));
  // A signal that came meanwhile is delivered here, with the folder known.
  pthread_sigmask(SIG_SETMASK, &previous, nullptr);
  return made;
}

void CleanupOnInterrupt::reset(llvm::StringRef path) {
  release();
  slot = claimSlot(RemoveTree, path, "");
}

void CleanupOnInterrupt::resetRename(llvm::StringRef from, llvm::StringRef to) {
  release();
  slot = claimSlot(RenameBack, from, to);
}

void CleanupOnInterrupt::release() {
  if (slot >= 0)
    slots[slot].state.store(Free);
  slot = -1;
}

} // namespace qopt
