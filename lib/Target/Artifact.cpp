//===- Artifact.cpp - The artifact writer shared by all targets ------------===//

#include "qopt/Target/Artifact.h"

#include "llvm/ADT/StringExtras.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/FormatVariadic.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/Path.h"
#include "llvm/Support/Program.h"
#include "llvm/Support/SHA256.h"
#include "llvm/Support/raw_ostream.h"

#include <cstdio>
#include <fcntl.h>

namespace fs = llvm::sys::fs;
namespace path = llvm::sys::path;

namespace qopt {

namespace {

/// The absolute, link-free path of an existing file or folder; its
/// absolute, dot-free spelling when it does not exist.
std::string canonicalPath(llvm::StringRef p) {
  llvm::SmallString<256> real;
  if (!fs::real_path(p, real))
    return std::string(real);
  llvm::SmallString<256> abs(p);
  fs::make_absolute(abs);
  path::remove_dots(abs, /*remove_dot_dot=*/true);
  // Resolve the longest existing prefix, so "a/link/../x" and "a/x" agree
  // as far as the file system can tell.
  llvm::SmallString<256> parent(path::parent_path(abs));
  if (!parent.empty() && !fs::real_path(parent, real)) {
    path::append(real, path::filename(abs));
    return std::string(real);
  }
  return std::string(abs);
}

/// Whether `inner` is `outer` or lies inside it (both canonical).
bool isWithin(llvm::StringRef inner, llvm::StringRef outer) {
  if (inner == outer)
    return true;
  if (!inner.starts_with(outer))
    return false;
  return outer.ends_with("/") || inner[outer.size()] == '/';
}

bool isEmptyFolder(llvm::StringRef dir) {
  std::error_code ec;
  fs::directory_iterator it(dir, ec);
  return !ec && it == fs::directory_iterator();
}

/// The one wording of a failed artifact write: names `shown`, the file's
/// name in the finished artifact, and on a full disk how many bytes it has.
llvm::Error writeError(llvm::StringRef shown, std::error_code ec,
                       std::optional<size_t> bytes) {
  if (bytes &&
      (ec == std::errc::no_space_on_device || ec == std::errc::file_too_large))
    return llvm::createStringError(ec, "cannot write '%s' (%zu bytes): %s",
                                   shown.str().c_str(), *bytes,
                                   ec.message().c_str());
  return llvm::createStringError(ec, "cannot write '%s': %s",
                                 shown.str().c_str(), ec.message().c_str());
}

/// Writes `contents` to `file`; errors name `shown`.
llvm::Error writeWholeFile(llvm::StringRef file, llvm::StringRef contents,
                           llvm::StringRef shown) {
  std::error_code ec;
  llvm::raw_fd_ostream os(file, ec, fs::OF_None);
  if (!ec) {
    os << contents;
    os.close();
    ec = os.error();
    // Reported here: a stream destroyed with an error aborts the process.
    os.clear_error();
  }
  if (!ec)
    return llvm::Error::success();
  return writeError(shown, ec, contents.size());
}

} // namespace

std::error_code removeTreeNoFollow(llvm::StringRef p) {
  fs::file_status st;
  if (std::error_code ec = fs::status(p, st, /*Follow=*/false))
    return ec;
  if (st.type() == fs::file_type::directory_file) {
    std::error_code ec;
    std::vector<std::string> children;
    for (fs::directory_iterator it(p, ec, /*follow_symlinks=*/false), end;
         !ec && it != end; it.increment(ec))
      children.push_back(it->path());
    if (ec)
      return ec;
    for (const std::string &child : children)
      if (std::error_code e = removeTreeNoFollow(child))
        return e;
  }
  return fs::remove(p, /*IgnoreNonExisting=*/true);
}

bool isQOptArtifact(llvm::StringRef dir) {
  llvm::SmallString<256> manifest(dir);
  path::append(manifest, "manifest.json");
  fs::file_status st;
  if (fs::status(manifest, st, /*Follow=*/false) ||
      st.type() != fs::file_type::regular_file)
    return false;
  auto buffer = llvm::MemoryBuffer::getFile(manifest);
  if (!buffer)
    return false;
  llvm::Expected<llvm::json::Value> json =
      llvm::json::parse((*buffer)->getBuffer());
  if (!json) {
    llvm::consumeError(json.takeError());
    return false;
  }
  const llvm::json::Object *object = json->getAsObject();
  return object && object->getString("format") == kArtifactFormat;
}

llvm::Error checkArtifactDestination(llvm::StringRef outDir,
                                     llvm::StringRef modelPath, bool force) {
  auto refuse = [&](const llvm::Twine &why) {
    return llvm::createStringError(std::errc::file_exists,
                                   "refusing to write the artifact to '%s': %s",
                                   outDir.str().c_str(), why.str().c_str());
  };
  if (outDir.empty())
    return refuse("no output folder given");
  fs::file_status st;
  if (fs::status(outDir, st, /*Follow=*/false))
    return llvm::Error::success(); // Nothing there yet.
  std::string dest = canonicalPath(outDir);
  llvm::SmallString<256> cwd;
  if (!fs::current_path(cwd) && isWithin(canonicalPath(cwd), dest))
    return refuse("it is the current folder or contains it");
  if (!modelPath.empty() && isWithin(canonicalPath(modelPath), dest))
    return refuse("it holds the model being compiled");
  const char *useForce = " (give --force to replace it)";
  switch (st.type()) {
  case fs::file_type::symlink_file:
    if (!force)
      return refuse(llvm::Twine("it is a symbolic link") + useForce);
    return llvm::Error::success();
  case fs::file_type::directory_file:
    if (force || isEmptyFolder(outDir) || isQOptArtifact(outDir))
      return llvm::Error::success();
    return refuse(llvm::Twine("it is a folder that is neither empty nor a "
                              "qopt artifact") +
                  useForce);
  default:
    if (!force)
      return refuse(llvm::Twine("it is a file, not a folder") + useForce);
    return llvm::Error::success();
  }
}

ArtifactWriter::ArtifactWriter(std::string outDir, std::string staging,
                               bool force)
    : outDir(std::move(outDir)), staging(std::move(staging)), force(force),
      stagingGuard(this->staging) {}

ArtifactWriter::~ArtifactWriter() {
  if (!committed)
    removeTreeNoFollow(staging);
}

std::string ArtifactWriter::displayPath(llvm::StringRef file) const {
  llvm::SmallString<256> p(outDir);
  path::append(p, file);
  return std::string(p);
}

llvm::Error ArtifactWriter::writeFile(llvm::StringRef file,
                                      llvm::StringRef contents) const {
  return writeWholeFile(stagedPath(file), contents, displayPath(file));
}

llvm::Error ArtifactWriter::writeFailure(llvm::StringRef file,
                                         std::error_code ec,
                                         std::optional<size_t> bytes) const {
  return writeError(displayPath(file), ec, bytes);
}

llvm::Error ArtifactWriter::runTool(llvm::StringRef file,
                                    llvm::ArrayRef<llvm::StringRef> argv,
                                    const llvm::Twine &what) const {
  llvm::SmallString<128> log;
  std::optional<llvm::StringRef> redirects[3];
  CleanupOnInterrupt logGuard;
  if (!fs::createTemporaryFile("qopt-tool", "log", log)) {
    logGuard.reset(log);
    redirects[1] = redirects[2] = llvm::StringRef(log);
  }
  std::string message;
  int rc = llvm::sys::ExecuteAndWait(
      argv[0], argv, std::nullopt,
      log.empty() ? llvm::ArrayRef<std::optional<llvm::StringRef>>{}
                  : llvm::ArrayRef(redirects),
      /*SecondsToWait=*/0, /*MemoryLimit=*/0, &message);
  std::string output;
  if (!log.empty()) {
    if (auto text = llvm::MemoryBuffer::getFile(log))
      output = (*text)->getBuffer().take_front(4000).str();
    fs::remove(log);
  }
  if (rc == 0)
    return llvm::Error::success();
  auto space = fs::disk_space(staging);
  if (space && space->available < (1u << 20))
    return writeFailure(file,
                        std::make_error_code(std::errc::no_space_on_device));
  // The tool's own lines, without a crash's stack dump.
  std::string quoted;
  for (llvm::StringRef line : llvm::split(llvm::StringRef(output).trim(), '\n'))
    if (!line.starts_with(" ") && !line.starts_with("#") &&
        !line.starts_with("PLEASE") && !line.starts_with("Stack dump") &&
        quoted.size() < 1200)
      quoted += "\n  " + line.str();
  std::string status = rc < 0 ? (message.empty() ? "crashed" : message)
                              : "exit " + std::to_string(rc);
  return llvm::createStringError(std::errc::io_error, "%s failed (%s, %s)%s",
                                 what.str().c_str(), argv[0].str().c_str(),
                                 status.c_str(), quoted.c_str());
}

llvm::Expected<std::unique_ptr<ArtifactWriter>>
ArtifactWriter::create(llvm::StringRef outDir, bool force) {
  llvm::SmallString<256> parent(path::parent_path(outDir));
  if (parent.empty())
    parent = ".";
  if (std::error_code ec = fs::create_directories(parent))
    return llvm::createStringError(ec, "cannot create '%s': %s",
                                   parent.c_str(), ec.message().c_str());
  // Beside the destination, so the final rename stays on one file system.
  for (int attempt = 0; attempt < 32; ++attempt) {
    llvm::SmallString<256> model(parent);
    path::append(model, "." + path::filename(outDir) + ".partial-%%%%%%");
    llvm::SmallString<256> staging;
    fs::createUniquePath(model, staging, /*MakeAbsolute=*/false);
    std::error_code ec =
        fs::create_directory(staging, /*IgnoreExisting=*/false);
    if (ec == std::errc::file_exists)
      continue;
    if (ec)
      return llvm::createStringError(ec, "cannot create '%s': %s",
                                     staging.c_str(), ec.message().c_str());
    return std::unique_ptr<ArtifactWriter>(
        new ArtifactWriter(outDir.str(), std::string(staging), force));
  }
  return llvm::createStringError(std::errc::file_exists,
                                 "cannot create a staging folder beside '%s'",
                                 outDir.str().c_str());
}

std::string ArtifactWriter::stagedPath(llvm::StringRef file) const {
  llvm::SmallString<256> p(staging);
  path::append(p, file);
  return std::string(p);
}

llvm::Error ArtifactWriter::addFile(llvm::StringRef file,
                                    llvm::StringRef contents,
                                    llvm::StringRef role) {
  if (llvm::Error e = writeFile(file, contents))
    return e;
  return noteFile(file, role);
}

llvm::Error ArtifactWriter::noteFile(llvm::StringRef file,
                                     llvm::StringRef role) {
  if (file.contains('/') || file == "manifest.json" || file.starts_with("."))
    return llvm::createStringError(std::errc::invalid_argument,
                                   "'%s' is not a valid artifact file name",
                                   file.str().c_str());
  if (!fs::exists(stagedPath(file)))
    return llvm::createStringError(std::errc::no_such_file_or_directory,
                                   "artifact file '%s' was not written",
                                   file.str().c_str());
  // Its size, which qrt checks on every load, and its SHA-256, which qrt
  // checks on request (QRT_VERIFY=1).
  auto contents = llvm::MemoryBuffer::getFile(stagedPath(file),
                                              /*IsText=*/false);
  if (!contents)
    return llvm::createStringError(
        contents.getError(), "cannot read back artifact file '%s': %s",
        file.str().c_str(), contents.getError().message().c_str());
  llvm::StringRef bytes = (*contents)->getBuffer();
  std::array<uint8_t, 32> digest = llvm::SHA256::hash(llvm::ArrayRef<uint8_t>(
      reinterpret_cast<const uint8_t *>(bytes.data()), bytes.size()));
  files.push_back(llvm::json::Object{{"name", file.str()},
                                     {"role", role.str()},
                                     {"bytes", (int64_t)bytes.size()},
                                     {"sha256", llvm::toHex(digest, true)}});
  return llvm::Error::success();
}

llvm::Error ArtifactWriter::setWeights(llvm::ArrayRef<char> blob,
                                       std::vector<WeightLayoutEntry> entries,
                                       bool embedded, int64_t alignment) {
  llvm::json::Array list;
  for (const WeightLayoutEntry &w : entries)
    list.push_back(llvm::json::Object{
        {"global", w.global}, {"offset", w.offset}, {"bytes", w.bytes}});
  if (!embedded && !blob.empty())
    if (llvm::Error e = addFile("weights.bin",
                                llvm::StringRef(blob.data(), blob.size()),
                                "weights"))
      return e;
  weights = llvm::json::Object{
      {"file", embedded || blob.empty() ? "" : "weights.bin"},
      {"embedded", embedded},
      {"bytes", (int64_t)blob.size()},
      {"alignment", alignment},
      {"entries", std::move(list)}};
  return llvm::Error::success();
}

llvm::Error ArtifactWriter::commit() {
  llvm::json::Object manifest{
      {"format", kArtifactFormat},
      {"format_version", kArtifactFormatVersion},
      {"qopt_version", QOPT_VERSION},
      {"weights", llvm::json::Object(weights)},
      {"files", llvm::json::Array(files)},
  };
  for (auto &kv : manifestObject)
    if (manifest.find(kv.first) == manifest.end())
      manifest[kv.first] = kv.second;
  std::string text;
  llvm::raw_string_ostream os(text);
  os << llvm::formatv("{0:2}", llvm::json::Value(std::move(manifest))) << "\n";
  if (llvm::Error e = writeFile("manifest.json", text))
    return e;

  // Check again: the destination may have changed during the compile.
  if (llvm::Error e = checkArtifactDestination(outDir, "", force))
    return e;
  fs::file_status st;
  bool replacing = !fs::status(outDir, st, /*Follow=*/false);
#if defined(__linux__) && defined(RENAME_EXCHANGE)
  // One atomic step: the destination's name is never missing, and an
  // interruption leaves either the old artifact or the new one. The old one
  // is then under the staging name, which the guard removes.
  if (replacing && renameat2(AT_FDCWD, staging.c_str(), AT_FDCWD,
                             outDir.c_str(), RENAME_EXCHANGE) == 0) {
    committed = true;
    (void)removeTreeNoFollow(staging);
    stagingGuard.release();
    return llvm::Error::success();
  }
#endif
  // File systems without the exchange: the previous artifact is set aside,
  // and moved back if the rename fails or the compile is interrupted.
  std::string previous;
  CleanupOnInterrupt previousGuard;
  if (replacing) {
    llvm::SmallString<256> model(outDir);
    model += ".previous-%%%%%%";
    llvm::SmallString<256> aside;
    fs::createUniquePath(model, aside, /*MakeAbsolute=*/false);
    previous = std::string(aside);
    previousGuard.resetRename(previous, outDir);
    if (std::error_code ec = fs::rename(outDir, previous))
      return llvm::createStringError(ec, "cannot move the previous '%s' aside: %s",
                                     outDir.c_str(), ec.message().c_str());
  }
  if (std::error_code ec = fs::rename(staging, outDir)) {
    if (replacing)
      (void)fs::rename(previous, outDir);
    return llvm::createStringError(ec, "cannot move the artifact to '%s': %s",
                                   outDir.c_str(), ec.message().c_str());
  }
  committed = true;
  stagingGuard.release();
  if (replacing) {
    previousGuard.reset(previous);
    (void)removeTreeNoFollow(previous);
  }
  return llvm::Error::success();
}

} // namespace qopt
