// The check that decides whether a results file may replace anything at its path.
#include <gtest/gtest.h>

#include "harness/core/results_file.h"

namespace ipcm {
namespace {

TEST(ResultsFile, GoogleBenchmarksNonFiniteNumbersAreComplete) {
  // A default-profile run was refused as "incomplete" for a _cv row of 0/0 written as NaN.
  EXPECT_TRUE(is_complete_results_json(R"({"benchmarks": [{"x_cv": NaN, "y": -NaN, "z": Infinity, "w": -Infinity}]})"));
  EXPECT_TRUE(is_complete_results_json(R"({"name": "NaN inside a string stays text", "v": 1})"));
  EXPECT_TRUE(is_complete_results_json(R"({"esc": "a \" NaN", "v": [NaN]})"));
}

TEST(ResultsFile, ACutShortFileIsIncomplete) {
  const std::string whole = R"({"context": {}, "benchmarks": [{"name": "a", "v": NaN}]})";
  EXPECT_TRUE(is_complete_results_json(whole));
  for (std::size_t n = 0; n < whole.size(); ++n)
    EXPECT_FALSE(is_complete_results_json(whole.substr(0, n))) << n;
  EXPECT_FALSE(is_complete_results_json(R"({"v": NaNa})"));
  EXPECT_FALSE(is_complete_results_json(R"({"v": nan})"));
}

}  // namespace
}  // namespace ipcm
