// The check that decides whether a results file may replace anything at its path.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "harness/core/results_file.h"
#include "tests/support.h"

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

namespace ipcm {
namespace {

TEST(ResultsFile, SweepRemovesOnlyADeadRunsOwnTemporaryFiles) {
  char dir_template[] = "/tmp/ipcm-sweeptest-XXXXXX";
  ASSERT_NE(mkdtemp(dir_template), nullptr);
  const std::string dir = dir_template, target = dir + "/r.json";
  const auto touch = [](const std::string& path) { std::ofstream(path) << "x"; };
  const std::string dead = target + ".tmp-" + std::to_string(dead_pid()) + "-0123456789abcdef";
  const std::string live = target + ".tmp-" + std::to_string(getpid()) + "-0123456789abcdef";
  const std::string odd = target + ".tmp-" + std::to_string(dead_pid()) + "-notsixteenhex";
  const std::string other_target = dir + "/other.json.tmp-" + std::to_string(dead_pid()) + "-0123456789abcdef";
  const std::string link = target + ".tmp-" + std::to_string(dead_pid()) + "-fedcba9876543210";
  const std::string victim = dir + "/victim";
  for (const std::string& p : {dead, live, odd, other_target, victim}) touch(p);
  ASSERT_EQ(symlink(victim.c_str(), link.c_str()), 0);

  const std::vector<std::string> removed = sweep_stale_results_temps(target);
  EXPECT_EQ(removed, std::vector<std::string>{dead});
  EXPECT_FALSE(std::filesystem::exists(dead));
  for (const std::string& p : {live, odd, other_target, victim}) EXPECT_TRUE(std::filesystem::exists(p)) << p;
  EXPECT_TRUE(std::filesystem::is_symlink(link));
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace ipcm
