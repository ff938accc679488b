#include "bench/load/load.h"

#include <cstdio>

namespace ipcm {

double load_seconds(const LoadPlan& plan, const LoadTally& tally) {
  const double ran = std::chrono::duration<double>(tally.end - tally.start).count();
  const double schedule = double(tally.received) * plan.period_ns * 1e-9;
  return std::max(ran, schedule);
}

std::string format_ns(double ns) {
  char b[32];
  if (ns < 1e3)
    std::snprintf(b, sizeof b, "%.0f ns", ns);
  else if (ns < 1e6)
    std::snprintf(b, sizeof b, "%.1f us", ns / 1e3);
  else if (ns < 1e9)
    std::snprintf(b, sizeof b, "%.1f ms", ns / 1e6);
  else
    std::snprintf(b, sizeof b, "%.2f s", ns / 1e9);
  return b;
}

LoadVerdict judge_load(double offered_per_second, double achieved_per_second, const LoadHistograms& h) {
  LoadVerdict v;
  v.first_p50_ns = h.first_quarter.quantile(0.5);
  // An interval cut short (LoadPlan::time_limit) before its last quarter ends with its largest.
  v.last_p50_ns = h.last_quarter.count() > 0 ? h.last_quarter.quantile(0.5) : double(h.all.max());
  const bool fell_short = achieved_per_second < kAchievedShare * offered_per_second;
  const bool grew = v.last_p50_ns > kGrowthFactor * v.first_p50_ns && v.last_p50_ns - v.first_p50_ns > kGrowthFloorNs;
  v.saturated = fell_short || grew;
  if (v.saturated) {
    char b[96];
    std::snprintf(b, sizeof b, "saturated: achieved %.0f/s of offered %.0f/s; ", achieved_per_second, offered_per_second);
    // Short of the rate with a latency that did not grow (a link slow from the start): "went".
    v.label = std::string(b) + (v.last_p50_ns > v.first_p50_ns ? "latency grew from " : "latency went from ") +
              format_ns(v.first_p50_ns) + " to " + format_ns(v.last_p50_ns) + " over the interval";
  }
  return v;
}

}  // namespace ipcm
