// Options: FFALLOC_* variables are parsed once from the environment; good values take effect,
// malformed ones print one warning line and keep the default, and nothing crashes.
#include <gtest/gtest.h>
#include <stdlib.h>

#include "large/large.h"
#include "runtime/runtime.h"

namespace ffa {
namespace {

class OptionsTest : public ::testing::Test {
 protected:
  void SetUp() override { saved_ = options; }
  void TearDown() override {
    for (const char* name : {"FFALLOC_DECAY_MS", "FFALLOC_THP", "FFALLOC_LARGE_CACHE_KIB",
                             "FFALLOC_STATS", "FFALLOC_VERBOSE"}) {
      unsetenv(name);
    }
    options = saved_;
    options_init();
  }
  Options saved_;
};

TEST_F(OptionsTest, ValuesFromTheEnvironmentTakeEffect) {
  setenv("FFALLOC_DECAY_MS", "250", 1);
  setenv("FFALLOC_THP", "yes", 1);
  setenv("FFALLOC_LARGE_CACHE_KIB", "2048", 1);
  options_init();
  EXPECT_EQ(options.decay_ms, 250u);
  EXPECT_TRUE(options.thp);
  EXPECT_EQ(large_config.decay_ns, 250u * 1000000);
  EXPECT_EQ(large_config.cache_bytes, 2048 * kKiB);
}

TEST_F(OptionsTest, MalformedValuesWarnOnceAndKeepTheDefault) {
  options = Options{};
  setenv("FFALLOC_DECAY_MS", "12ms", 1);
  setenv("FFALLOC_STATS", "maybe", 1);
  setenv("FFALLOC_LARGE_CACHE_KIB", "99999999999999999999999", 1);  // overflows
  ::testing::internal::CaptureStderr();
  options_init();
  std::string err = ::testing::internal::GetCapturedStderr();
  EXPECT_EQ(options.decay_ms, Options{}.decay_ms);
  EXPECT_EQ(options.stats, Options{}.stats);
  EXPECT_EQ(options.large_cache_kib, Options{}.large_cache_kib);
  EXPECT_NE(err.find("ffalloc: ignoring malformed value of FFALLOC_DECAY_MS\n"), std::string::npos);
  EXPECT_NE(err.find("ffalloc: ignoring malformed value of FFALLOC_STATS\n"), std::string::npos);
  EXPECT_NE(err.find("ffalloc: ignoring malformed value of FFALLOC_LARGE_CACHE_KIB\n"),
            std::string::npos);
}

TEST_F(OptionsTest, VerbosePrintsEveryEffectiveOption) {
  setenv("FFALLOC_VERBOSE", "1", 1);
  setenv("FFALLOC_DECAY_MS", "300", 1);
  ::testing::internal::CaptureStderr();
  options_init();
  std::string err = ::testing::internal::GetCapturedStderr();
  EXPECT_NE(err.find("ffalloc: option decay_ms = 300\n"), std::string::npos) << err;
#define FFA_OPTION(type, name, default_value, description) \
  EXPECT_NE(err.find("ffalloc: option " #name " = "), std::string::npos) << #name;
#include "runtime/options.def"
#undef FFA_OPTION
}

}  // namespace
}  // namespace ffa
