// Golden files under tests/nft/testdata; NFT_UPDATE_GOLDEN=1 rewrites them.
#pragma once

#include <gtest/gtest.h>

#include <fstream>
#include <sstream>
#include <string>

namespace nft::testing {

inline std::string golden_path(const std::string& name) {
  return std::string(NFT_TESTDATA_DIR) + "/" + name;
}

inline void expect_golden(const std::string& name, const std::string& actual) {
  std::string path = golden_path(name);
  if (std::getenv("NFT_UPDATE_GOLDEN") != nullptr) {
    std::ofstream(path) << actual;
    return;
  }
  std::ifstream in(path);
  ASSERT_TRUE(in.good()) << "missing golden file " << path << " (run with NFT_UPDATE_GOLDEN=1)";
  std::stringstream expected;
  expected << in.rdbuf();
  EXPECT_EQ(actual, expected.str()) << "golden file " << path;
}

}  // namespace nft::testing
