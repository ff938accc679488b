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

// Where the run's wall time went: each family's rows (a row's time runs from the previous
// report to its own, so Google Benchmark's own work between rows is charged to the next row)
// and the floor measurements at the start and the end. Facts for the profiles' time budgets.
class RunTimes {
 public:
  // Called once, right before the first row starts.
  void start();
  // From every reporter's ReportRuns; a second reporter's call for the same row adds ~0.
  void reported(const std::vector<benchmark::BenchmarkReporter::Run>& runs);
  double floors_start_s = 0;
  double floors_end_s = 0;
  nlohmann::json to_json() const;

 private:
  std::chrono::steady_clock::time_point last_ = std::chrono::steady_clock::now();
  std::chrono::steady_clock::time_point first_ = last_;
  std::map<std::string, double> by_family_;
  std::vector<std::string> order_;
};
RunTimes& run_times();

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
  void ReportRuns(const std::vector<Run>& runs) override;
  void Finalize() override;

 private:
  EndOfRun end_;
};

}  // namespace ipcm
