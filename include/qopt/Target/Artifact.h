//===- Artifact.h - The artifact writer shared by all targets ---*- C++ -*-===//
//
// An artifact is a folder: manifest.json (docs/artifact.md), weights.bin,
// the files of one target backend and optional extras (the quality report).
// Every target writes it through ArtifactWriter, which stages the folder
// under a temporary name beside the destination and renames it into place
// only when everything succeeded, so a failed or interrupted compile never
// leaves a half artifact and never replaces a good one. It only ever
// replaces what is its own: a previous qopt artifact, or an empty folder.
//
//===----------------------------------------------------------------------===//

#ifndef QOPT_TARGET_ARTIFACT_H
#define QOPT_TARGET_ARTIFACT_H

#include "qopt/Support/Interrupt.h"

#include "llvm/ADT/SmallString.h"
#include "llvm/Support/Error.h"
#include "llvm/Support/JSON.h"

#include <optional>
#include <string>
#include <vector>

namespace qopt {

/// The manifest's `format` and the newest `format_version` this build
/// writes and reads.
inline constexpr const char *kArtifactFormat = "qopt-artifact";
inline constexpr int64_t kArtifactFormatVersion = 2;

/// Whether `dir` holds a manifest.json that qopt wrote.
bool isQOptArtifact(llvm::StringRef dir);

/// Checks that an artifact may be written at `outDir`: refuses the current
/// folder and its parents, the folder holding `modelPath`, regular files,
/// symbolic links and non-empty folders that are not qopt artifacts. With
/// `force`, a file, a link or a foreign folder is replaced; the current
/// folder, its parents and the model's folder never are.
llvm::Error checkArtifactDestination(llvm::StringRef outDir,
                                     llvm::StringRef modelPath, bool force);

/// One weight constant's place in weights.bin.
struct WeightLayoutEntry {
  std::string global;
  int64_t offset = 0;
  int64_t bytes = 0;
};

/// Stages an artifact folder and moves it into place on commit().
class ArtifactWriter {
public:
  /// Creates the staging folder beside `outDir` (after
  /// checkArtifactDestination has accepted `outDir`).
  static llvm::Expected<std::unique_ptr<ArtifactWriter>>
  create(llvm::StringRef outDir, bool force = false);

  ArtifactWriter(const ArtifactWriter &) = delete;
  ArtifactWriter &operator=(const ArtifactWriter &) = delete;
  /// Removes the staging folder unless committed.
  ~ArtifactWriter();

  /// Path of `file` inside the staging folder, for backends that run a tool
  /// writing there (a linker). Record such files with `noteFile`.
  std::string stagedPath(llvm::StringRef file) const;
  llvm::StringRef destination() const { return outDir; }
  /// How errors name `file`: where it will be once committed.
  std::string displayPath(llvm::StringRef file) const;

  /// Writes `contents` to the staged `file` without listing it; a full disk
  /// or another write error names the file.
  llvm::Error writeFile(llvm::StringRef file, llvm::StringRef contents) const;
  /// The error for a staged file that could not be written: names the file
  /// (and `bytes`, its size, when the disk is full).
  llvm::Error writeFailure(llvm::StringRef file, std::error_code ec,
                           std::optional<size_t> bytes = std::nullopt) const;
  /// Runs a tool (`argv[0]` is its path) that writes the staged `file`, with
  /// its output captured in a temporary log removed afterwards (also on an
  /// interrupt). When the tool fails and the disk holding the staging folder
  /// is all but full, the error says so and names the file (lld, out of
  /// space, dies of SIGBUS with a stack dump); otherwise it says "`what`
  /// failed" with the exit status and quotes the tool's first lines.
  llvm::Error runTool(llvm::StringRef file,
                      llvm::ArrayRef<llvm::StringRef> argv,
                      const llvm::Twine &what) const;

  /// Writes `file` into the staging folder and lists it in the manifest
  /// under `role` ("object", "library", "header", "report", ...).
  llvm::Error addFile(llvm::StringRef file, llvm::StringRef contents,
                      llvm::StringRef role);
  /// Lists a file a backend wrote itself into the staging folder.
  llvm::Error noteFile(llvm::StringRef file, llvm::StringRef role);

  /// Writes weights.bin (unless `embedded`) and records its layout, whose
  /// entries start at multiples of `alignment` bytes.
  llvm::Error setWeights(llvm::ArrayRef<char> blob,
                         std::vector<WeightLayoutEntry> entries,
                         bool embedded, int64_t alignment = 64);

  /// The manifest under construction: backends and the driver add their
  /// entries (target, inputs, outputs, quantization, ...). commit() adds
  /// the format, versions, weights and the file list.
  llvm::json::Object &manifest() { return manifestObject; }

  /// Writes manifest.json and renames the staging folder to the
  /// destination; a previous artifact there is replaced only after the new
  /// one is complete, in one atomic exchange of the two names where the file
  /// system has it, and is restored if the rename fails or is interrupted.
  llvm::Error commit();

private:
  ArtifactWriter(std::string outDir, std::string staging, bool force);

  std::string outDir;
  std::string staging;
  bool force;
  bool committed = false;
  /// Removes the staging folder if the compile is interrupted.
  CleanupOnInterrupt stagingGuard;
  llvm::json::Object manifestObject;
  llvm::json::Array files;
  llvm::json::Object weights{{"file", ""}, {"embedded", true}, {"bytes", 0}};
};

/// Removes a folder tree without following symbolic links: a link is
/// removed, never what it points to.
std::error_code removeTreeNoFollow(llvm::StringRef path);

} // namespace qopt

#endif // QOPT_TARGET_ARTIFACT_H
