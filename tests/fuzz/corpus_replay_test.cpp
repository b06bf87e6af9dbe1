// Replays the checked-in codec fuzz corpus through the fuzz target's entry point, so every build
// (gcc included, no libFuzzer) re-checks the inputs that once found bugs or seed the fuzzer.
#include <gtest/gtest.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);

namespace {

namespace fs = std::filesystem;

TEST(FuzzCorpus, CodecCorpusReplays) {
  const fs::path dir = PARLEY_CODEC_CORPUS;
  ASSERT_TRUE(fs::is_directory(dir)) << dir;
  size_t files = 0;
  for (const auto& entry : fs::directory_iterator(dir)) {
    if (!entry.is_regular_file()) continue;
    SCOPED_TRACE(entry.path().filename().string());
    std::ifstream in(entry.path(), std::ios::binary);
    const std::vector<uint8_t> bytes{std::istreambuf_iterator<char>(in),
                                     std::istreambuf_iterator<char>()};
    EXPECT_EQ(LLVMFuzzerTestOneInput(bytes.data(), bytes.size()), 0);
    ++files;
  }
  // Guards against an empty or misplaced corpus making this test pass vacuously.
  EXPECT_GE(files, 30u);
}

}  // namespace
