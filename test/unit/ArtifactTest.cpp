//===- ArtifactTest.cpp - The shared artifact writer -----------------------===//
//
// Where an artifact may be written, staging and the atomic move into place,
// and that nothing outside the artifact is ever removed.
//
//===----------------------------------------------------------------------===//

#include "qopt/Target/Artifact.h"

#include "llvm/Support/FileSystem.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/Path.h"
#include "llvm/Support/raw_ostream.h"

#include <gtest/gtest.h>

#include <cstdlib>

using namespace qopt;
namespace fs = llvm::sys::fs;

namespace {

/// A temporary folder, made the current folder for the test's duration.
class ArtifactTest : public ::testing::Test {
protected:
  void SetUp() override {
    llvm::SmallString<128> p;
    ASSERT_FALSE(fs::createUniqueDirectory("qopt-artifact-test", p));
    root = std::string(p);
    llvm::SmallString<256> cwd;
    ASSERT_FALSE(fs::current_path(cwd));
    previousCwd = std::string(cwd);
    ASSERT_FALSE(fs::set_current_path(root));
  }
  void TearDown() override {
    (void)fs::set_current_path(previousCwd);
    removeTreeNoFollow(root);
  }

  static void write(const std::string &file, llvm::StringRef text) {
    std::error_code ec;
    llvm::raw_fd_ostream os(file, ec);
    ASSERT_FALSE(ec) << file;
    os << text;
  }
  static std::string read(const std::string &file) {
    auto buf = llvm::MemoryBuffer::getFile(file);
    return buf ? (*buf)->getBuffer().str() : "<missing>";
  }
  static std::vector<std::string> list(const std::string &dir) {
    std::vector<std::string> names;
    std::error_code ec;
    for (fs::directory_iterator it(dir, ec), end; !ec && it != end;
         it.increment(ec))
      names.push_back(llvm::sys::path::filename(it->path()).str());
    std::sort(names.begin(), names.end());
    return names;
  }
  static std::string refusal(llvm::StringRef out, llvm::StringRef model,
                             bool force) {
    llvm::Error e = checkArtifactDestination(out, model, force);
    return e ? llvm::toString(std::move(e)) : "";
  }
  /// Writes a small artifact at `out` holding `contents` in code.txt.
  static std::string writeArtifact(const std::string &out,
                                   llvm::StringRef contents,
                                   bool force = false) {
    auto writer = ArtifactWriter::create(out, force);
    if (!writer)
      return llvm::toString(writer.takeError());
    if (llvm::Error e = (*writer)->addFile("code.txt", contents, "code"))
      return llvm::toString(std::move(e));
    (*writer)->manifest()["name"] = "test";
    if (llvm::Error e = (*writer)->commit())
      return llvm::toString(std::move(e));
    return "";
  }

  std::string root, previousCwd;
};

TEST_F(ArtifactTest, RefusesTheCurrentFolderAndItsParents) {
  write("model.onnx", "model");
  EXPECT_NE(refusal(".", "model.onnx", false).find("current folder"),
            std::string::npos);
  // Not even with --force: replacing it would delete the model.
  EXPECT_NE(refusal(".", "model.onnx", true), "");
  EXPECT_NE(refusal("..", "model.onnx", true), "");
  EXPECT_NE(refusal(root, "model.onnx", true), "");
  EXPECT_EQ(read("model.onnx"), "model");
}

TEST_F(ArtifactTest, RefusesTheModelsFolder) {
  ASSERT_FALSE(fs::create_directory("models"));
  write("models/m.onnx", "model");
  std::string why = refusal("models", "models/m.onnx", true);
  EXPECT_NE(why.find("holds the model"), std::string::npos) << why;
  EXPECT_NE(refusal("./models/../models", "models/m.onnx", true), "");
}

TEST_F(ArtifactTest, RefusesFilesLinksAndForeignFoldersWithoutForce) {
  write("notes.txt", "mine");
  EXPECT_NE(refusal("notes.txt", "", false).find("is a file"),
            std::string::npos);
  EXPECT_EQ(refusal("notes.txt", "", true), "");

  ASSERT_FALSE(fs::create_directory("photos"));
  write("photos/a.jpg", "jpg");
  EXPECT_NE(refusal("photos", "", false).find("neither empty nor a qopt"),
            std::string::npos);
  EXPECT_EQ(refusal("photos", "", true), "");

  ASSERT_FALSE(fs::create_link("photos", "link"));
  EXPECT_NE(refusal("link", "", false).find("symbolic link"),
            std::string::npos);

  ASSERT_FALSE(fs::create_directory("empty"));
  EXPECT_EQ(refusal("empty", "", false), "");
  EXPECT_EQ(refusal("new/deep/out", "", false), "");
}

TEST_F(ArtifactTest, ReplacesOnlyItsOwnArtifacts) {
  ASSERT_EQ(writeArtifact("out", "first"), "");
  EXPECT_TRUE(isQOptArtifact("out"));
  EXPECT_EQ(list("out"), (std::vector<std::string>{"code.txt", "manifest.json"}));
  EXPECT_EQ(refusal("out", "", false), "");
  ASSERT_EQ(writeArtifact("out", "second"), "");
  EXPECT_EQ(read("out/code.txt"), "second");
  // No staging or previous copy is left beside it.
  EXPECT_EQ(list("."), std::vector<std::string>{"out"});
  std::string manifest = read("out/manifest.json");
  EXPECT_NE(manifest.find("\"format\": \"qopt-artifact\""), std::string::npos);
  EXPECT_NE(manifest.find("\"format_version\": 2"), std::string::npos);
  EXPECT_NE(manifest.find("\"role\": \"code\""), std::string::npos);
}

TEST_F(ArtifactTest, AnUncommittedWriterLeavesNothing) {
  ASSERT_EQ(writeArtifact("out", "good"), "");
  {
    auto writer = ArtifactWriter::create("out");
    ASSERT_TRUE((bool)writer);
    ASSERT_FALSE((bool)(*writer)->addFile("code.txt", "half", "code"));
    // Destroyed without commit(): a failed compile.
  }
  EXPECT_EQ(read("out/code.txt"), "good");
  EXPECT_EQ(list("."), std::vector<std::string>{"out"});
}

TEST_F(ArtifactTest, ForceReplacesALinkNotWhatItPointsTo) {
  ASSERT_FALSE(fs::create_directory("keep"));
  write("keep/precious.txt", "precious");
  ASSERT_FALSE(fs::create_link("keep", "out"));
  EXPECT_NE(writeArtifact("out", "x", /*force=*/false), "");
  ASSERT_EQ(writeArtifact("out", "x", /*force=*/true), "");
  EXPECT_EQ(read("keep/precious.txt"), "precious");
  EXPECT_TRUE(isQOptArtifact("out"));
}

TEST_F(ArtifactTest, RemovingATreeDoesNotFollowLinks) {
  ASSERT_FALSE(fs::create_directory("keep"));
  write("keep/precious.txt", "precious");
  ASSERT_FALSE(fs::create_directories("tree/sub"));
  ASSERT_FALSE(fs::create_link(root + "/keep", "tree/sub/link"));
  EXPECT_FALSE(removeTreeNoFollow("tree"));
  EXPECT_FALSE(fs::exists("tree"));
  EXPECT_EQ(read("keep/precious.txt"), "precious");
}

TEST_F(ArtifactTest, RejectsFileNamesOutsideTheArtifact) {
  auto writer = ArtifactWriter::create("out");
  ASSERT_TRUE((bool)writer);
  auto message = [](llvm::Error e) { return llvm::toString(std::move(e)); };
  EXPECT_NE(message((*writer)->noteFile("../escape", "code")).find("not a valid"),
            std::string::npos);
  EXPECT_NE(message((*writer)->noteFile("manifest.json", "code")).find("not a valid"),
            std::string::npos);
  llvm::Error missing = (*writer)->noteFile("never-written.o", "object");
  EXPECT_NE(llvm::toString(std::move(missing)).find("was not written"),
            std::string::npos);
}

TEST_F(ArtifactTest, ToolRunsQuoteTheToolAndLeaveNoLog) {
  // Every tool log this test's writer makes lands in a private TMPDIR.
  ASSERT_FALSE(fs::create_directory("tmp"));
  const char *previous = std::getenv("TMPDIR");
  std::string saved = previous ? previous : "";
  setenv("TMPDIR", (root + "/tmp").c_str(), 1);
  auto writer = ArtifactWriter::create("out");
  ASSERT_TRUE((bool)writer);
  std::string staged = (*writer)->stagedPath("made.txt");
  std::string ok = "echo made > '" + staged + "'";
  llvm::StringRef good[] = {"/bin/sh", "-c", ok};
  EXPECT_FALSE((bool)(*writer)->runTool("made.txt", good, "making made.txt"));
  EXPECT_EQ(read(staged), "made\n");
  llvm::StringRef bad[] = {"/bin/sh", "-c",
                           "echo 'first line'; echo ' indented' >&2; exit 3"};
  llvm::Error e = (*writer)->runTool("other.txt", bad, "making other.txt");
  ASSERT_TRUE((bool)e);
  std::string message = llvm::toString(std::move(e));
  EXPECT_NE(message.find("making other.txt failed (/bin/sh, exit 3)"),
            std::string::npos)
      << message;
  EXPECT_NE(message.find("\n  first line"), std::string::npos) << message;
  // Stack-dump style indented lines are left out.
  EXPECT_EQ(message.find("indented"), std::string::npos) << message;
  EXPECT_TRUE(list("tmp").empty());
  if (previous)
    setenv("TMPDIR", saved.c_str(), 1);
  else
    unsetenv("TMPDIR");
}

TEST_F(ArtifactTest, WriteFailuresNameTheFinishedFile) {
  auto writer = ArtifactWriter::create("out");
  ASSERT_TRUE((bool)writer);
  auto message = [](llvm::Error e) { return llvm::toString(std::move(e)); };
  EXPECT_EQ(message((*writer)->writeFailure(
                "model.so", std::make_error_code(std::errc::no_space_on_device),
                4096)),
            "cannot write 'out/model.so' (4096 bytes): " +
                std::make_error_code(std::errc::no_space_on_device).message());
  EXPECT_EQ(
      message((*writer)->writeFailure(
          "model.so", std::make_error_code(std::errc::permission_denied))),
      "cannot write 'out/model.so': " +
          std::make_error_code(std::errc::permission_denied).message());
}

} // namespace
