// The reporters: the console one shows progress and ends with a summary table; the JSON one
// writes Google Benchmark's file unchanged plus the top-level "ipcmeter" object.
#pragma once

#include <benchmark/benchmark.h>

#include <chrono>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace ipcm {

// What the run says about itself at its end (floors_end, warnings), computed once.
using EndOfRun = std::function<const nlohmann::json&()>;

class ConsoleWithSummary final : public benchmark::ConsoleReporter {
 public:
  ConsoleWithSummary(OutputOptions opts, std::size_t total, EndOfRun end);
  void ReportRuns(const std::vector<Run>& runs) override;
  void Finalize() override;

 private:
  void print_summary(std::ostream& out);
  std::size_t total_;
  std::size_t done_ = 0;
  EndOfRun end_;
  std::chrono::steady_clock::time_point start_ = std::chrono::steady_clock::now();
  std::chrono::steady_clock::time_point last_progress_ = start_;
  // base name -> the run to summarise (the median aggregate when there are repetitions)
  std::map<std::string, Run> runs_;
};

class JsonWithIpcmeter final : public benchmark::JSONReporter {
 public:
  explicit JsonWithIpcmeter(EndOfRun end) : end_(std::move(end)) {}
  void Finalize() override;

 private:
  EndOfRun end_;
};

}  // namespace ipcm
