#include "bench/report.h"

#include "bench/family.h"

#include <cmath>
#include <cstdio>
#include <iostream>
#include <set>
#include <sstream>

namespace ipcm {
namespace {

// Progress lines go to stderr at most this often, so a long run shows it is alive.
constexpr auto kProgressEvery = std::chrono::seconds(10);
// Error messages are cut to this in the summary table; the JSON keeps them whole.
constexpr std::size_t kSummaryReasonChars = 70;

std::string human_ns(double ns) {
  char b[32];
  if (ns < 1e3) std::snprintf(b, sizeof b, "%.0f ns", ns);
  else if (ns < 1e6) std::snprintf(b, sizeof b, "%.2f us", ns / 1e3);
  else std::snprintf(b, sizeof b, "%.2f ms", ns / 1e6);
  return b;
}

std::string human_rate(double r) {
  char b[32];
  if (r >= 1e9) std::snprintf(b, sizeof b, "%.2f G", r / 1e9);
  else if (r >= 1e6) std::snprintf(b, sizeof b, "%.2f M", r / 1e6);
  else if (r >= 1e3) std::snprintf(b, sizeof b, "%.1f k", r / 1e3);
  else std::snprintf(b, sizeof b, "%.0f", r);
  return b;
}

std::string human_size(const std::string& bytes) {
  const double b = std::atof(bytes.c_str());
  char out[32];
  if (b >= (1 << 20)) std::snprintf(out, sizeof out, "%g MiB", b / (1 << 20));
  else if (b >= 1024) std::snprintf(out, sizeof out, "%g KiB", b / 1024);
  else std::snprintf(out, sizeof out, "%g B", b);
  return out;
}

double counter(const benchmark::BenchmarkReporter::Run& r, const char* name) {
  const auto it = r.counters.find(name);
  return it == r.counters.end() ? NAN : double(it->second.value);
}

}  // namespace

RunTimes& run_times() {
  static RunTimes t;
  return t;
}

void RunTimes::start() { first_ = last_ = std::chrono::steady_clock::now(); }

void RunTimes::reported(const std::vector<benchmark::BenchmarkReporter::Run>& runs) {
  const auto now = std::chrono::steady_clock::now();
  const double s = std::chrono::duration<double>(now - last_).count();
  last_ = now;
  if (runs.empty()) return;
  const std::string family = parse_name(runs.front().run_name.function_name).family;
  if (!by_family_.count(family)) order_.push_back(family);
  by_family_[family] += s;
}

nlohmann::json RunTimes::to_json() const {
  // A list, not an object: nlohmann::json sorts an object's keys, and the order families ran
  // in is part of the answer.
  nlohmann::json fam = nlohmann::json::array();
  for (const std::string& f : order_) fam.push_back({{"family", f}, {"s", std::round(by_family_.at(f) * 1000) / 1000}});
  const double rows = std::chrono::duration<double>(last_ - first_).count();
  return {{"floors_start_s", std::round(floors_start_s * 1000) / 1000},
          {"floors_end_s", std::round(floors_end_s * 1000) / 1000},
          {"rows_s", std::round(rows * 1000) / 1000},
          {"by_family_s", fam}};
}

ConsoleWithSummary::ConsoleWithSummary(OutputOptions opts, std::size_t total, EndOfRun end)
    : benchmark::ConsoleReporter(opts), total_(total), end_(std::move(end)) {}

void ConsoleWithSummary::ReportRuns(const std::vector<Run>& runs) {
  benchmark::ConsoleReporter::ReportRuns(runs);
  run_times().reported(runs);
  for (const Run& r : runs) {
    const std::string base = r.run_name.function_name;
    if (r.run_type == Run::RT_Aggregate) {
      if (r.aggregate_name == "median") runs_[base] = r;
    } else if (!runs_.count(base) || r.error_occurred) {
      runs_[base] = r;
    }
  }
  // Google Benchmark reports a repeated row twice (its repetitions, then its aggregates), so
  // the rows done are the distinct rows reported, not the calls.
  done_ = runs_.size();
  const auto now = std::chrono::steady_clock::now();
  if (now - last_progress_ >= kProgressEvery && done_ < total_) {
    last_progress_ = now;
    const double elapsed = std::chrono::duration<double>(now - start_).count();
    std::fprintf(stderr, "ipcmeter: %zu/%zu benchmarks done (%.0f%%), %.0f s elapsed, about %.0f s left\n", done_,
                 total_, 100.0 * double(done_) / double(total_), elapsed,
                 elapsed / double(done_) * double(total_ - done_));
  }
}

void ConsoleWithSummary::Finalize() {
  benchmark::ConsoleReporter::Finalize();
  print_summary(GetOutputStream());
}

void ConsoleWithSummary::print_summary(std::ostream& out) {
  const nlohmann::json& meta = end_();
  // Rows: transport[/wait] x peer; columns: pingpong p50, p99, x floor; stream msg/s, GB/s, cpu.
  struct Row {
    std::string ping_p50 = "-", ping_p99 = "-", ratio = "-", stream_rate = "-", stream_bw = "-", cpu = "-",
                error;
  };
  std::map<std::string, std::map<std::string, Row>> by_size;  // size -> "transport peer" -> row
  std::vector<std::string> order;
  std::set<std::string> seen;
  char b[64];
  for (const auto& [base, r] : runs_) {
    ParsedName p = parse_name(base);
    if (p.family != "pingpong" && p.family != "stream") continue;
    std::string label = p.kv["transport"];
    if (p.kv.count("wait")) label += "/" + p.kv["wait"];
    label += "\t" + p.kv["peer"];
    Row& row = by_size[p.kv["size"]][label];
    if (r.error_occurred) {
      std::string why = r.error_message;
      if (why.size() > kSummaryReasonChars) why = why.substr(0, kSummaryReasonChars - 3) + "...";
      row.error = why;
      continue;
    }
    if (p.family == "pingpong") {
      row.ping_p50 = human_ns(counter(r, "rtt_p50_ns"));
      row.ping_p99 = human_ns(counter(r, "rtt_p99_ns"));
      const double ratio = counter(r, "ratio_to_floor");
      if (!std::isnan(ratio)) std::snprintf(b, sizeof b, "%.1fx", ratio), row.ratio = b;
    } else {
      row.stream_rate = human_rate(counter(r, "items_per_second"));
      const double bps = counter(r, "bytes_per_second");
      std::snprintf(b, sizeof b, "%.2f GB/s", bps / 1e9);
      row.stream_bw = b;
      const double cpu = counter(r, "cpu_ns_per_msg");
      if (!std::isnan(cpu)) row.cpu = human_ns(cpu);
    }
  }
  if (!by_size.empty()) out << "\nipcmeter summary (medians when repeated; pingpong = round trip, stream = one way)\n";
  std::vector<std::pair<double, std::string>> sizes;
  for (const auto& [size, rows] : by_size) sizes.emplace_back(std::atof(size.c_str()), size);
  std::sort(sizes.begin(), sizes.end());
  for (const auto& [_, size] : sizes) {  // empty when no transfer benchmark ran
    out << "\nsize " << human_size(size) << "\n";
    std::snprintf(b, sizeof b, "%-18s %-7s", "transport", "peer");
    out << b << "  rtt p50     rtt p99     xfloor  stream msg/s  stream GB/s  stream cpu/msg\n";
    for (const auto& [label, row] : by_size[size]) {
      const auto tab = label.find('\t');
      std::snprintf(b, sizeof b, "%-18s %-7s", label.substr(0, tab).c_str(), label.substr(tab + 1).c_str());
      out << b << "  ";
      if (!row.error.empty()) {
        out << "cannot run: " << row.error << "\n";
        continue;
      }
      char line[160];
      std::snprintf(line, sizeof line, "%-11s %-11s %-7s %-13s %-12s %s\n", row.ping_p50.c_str(),
                    row.ping_p99.c_str(), row.ratio.c_str(), row.stream_rate.c_str(), row.stream_bw.c_str(),
                    row.cpu.c_str());
      out << line;
    }
  }
  const auto& floors = meta["floors"];
  const auto& end = meta["floors_end"];
  auto show = [](const nlohmann::json& v, const char* unit) {
    if (!v.is_number()) return std::string("unknown");
    char s[32];
    std::snprintf(s, sizeof s, "%.1f %s", v.get<double>(), unit);
    return std::string(s);
  };
  out << "\nfloors (start -> end): core-to-core round trip " << show(floors["c2c_rtt_ns"], "ns") << " -> "
      << show(end["c2c_rtt_ns"], "ns");
  if (floors.value("measured", "all") == "all") {
    out << "; memcpy 64 KiB " << show(floors["memcpy_gbps_cache"], "GB/s") << " -> "
        << show(end["memcpy_gbps_cache"], "GB/s") << "; memcpy DRAM " << show(floors["memcpy_gbps_dram"], "GB/s")
        << " -> " << show(end["memcpy_gbps_dram"], "GB/s") << "; null syscall " << show(floors["syscall_ns"], "ns")
        << " -> " << show(end["syscall_ns"], "ns") << "\n";
  } else {
    out << " (--floors=" << floors["measured"].get<std::string>() << ": no other floor measured)\n";
  }
  const auto& t = meta["seconds"];
  if (t.is_object()) {
    out << "time: floors " << t["floors_start_s"].get<double>() + t["floors_end_s"].get<double>() << " s";
    for (const auto& f : t["by_family_s"]) out << ", " << f["family"].get<std::string>() << " " << f["s"].get<double>() << " s";
    out << "\n";
  }
  for (const auto& w : meta["warnings"]) out << "WARNING: " << w.get<std::string>() << "\n";
  out.flush();
}

void JsonWithIpcmeter::ReportRuns(const std::vector<Run>& runs) {
  benchmark::JSONReporter::ReportRuns(runs);
  run_times().reported(runs);
}

void JsonWithIpcmeter::Finalize() {
  // Google Benchmark's own Finalize closes the list and the object; this closes the list,
  // adds the ipcmeter object, then closes the object.
  GetOutputStream() << "\n  ],\n  \"ipcmeter\": " << end_().dump(2) << "\n}\n";
}

}  // namespace ipcm
