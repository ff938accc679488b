// load/transport:T/peer:P/size:B[/wait:W]/offered:N — latency under an open-loop load. The
// sender emits on a fixed schedule at N% of the link's saturation throughput, the peer echoes
// (the echo role pingpong uses), and every message's latency runs from its due time to its
// echo being read (bench/load/load.h). Saturation is measured in the same run, for each
// transport × peer × size × wait once, by the same loop without a schedule, before the first
// row of that combination and outside its timed interval; every row of the combination reports
// it (saturation_per_second), so the percent grid gives the same names in every run and the
// absolute rate is a counter (offered_per_second). A row offered more than the link carries
// says so (saturated = 1, and its label) and reports no latency percentiles: they would
// describe how long the interval ran, not the transport.
#include <benchmark/benchmark.h>
#include <sys/prctl.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <string>
#include <vector>

#include "bench/load/load.h"
#include "bench/suite.h"
#include "harness/core/kernel_counters.h"
#include "harness/launch/session.h"

namespace ipcm {
namespace {

// Which links each profile loads, at which percents of saturation, and for how long.
struct LoadProfile {
  std::vector<std::string> transports;
  std::vector<PeerKind> peers;
  std::vector<Wait> waits;  // of the transports that offer a choice
  std::vector<std::size_t> sizes;
  std::vector<int> offered;  // percent of the saturation throughput
  double interval_s;         // each row's timed interval (at least kMinTimedMessages)
  double saturation_s;       // the saturation measurement's, once per combination
};
constexpr PeerKind kThread = PeerKind::kThread, kFork = PeerKind::kFork;
const std::vector<int> kFullGrid = {1, 10, 25, 50, 75, 90, 100, 110};
// quick: about 2.5 s for the family (8 rows of 0.2 s and two saturation measurements).
const ByProfile<LoadProfile> kLoadProfile = {
    {"quick",
     {.transports = {"pipe", "shm_ring"},
      .peers = {kFork},
      .waits = {Wait::kSpin},
      .sizes = {64},
      .offered = {10, 50, 90, 110},
      .interval_s = 0.2,
      .saturation_s = 0.1}},
    {"default",
     {.transports = {"pipe", "socketpair", "posix_mq", "bip_mq", "shm_ring"},
      .peers = {kFork},
      .waits = {Wait::kSpin, Wait::kBlock},
      .sizes = {64},
      .offered = kFullGrid,
      .interval_s = 0.5,
      .saturation_s = 0.3}},
    {"full",
     {.transports = {"pipe", "socketpair", "fifo", "tcp", "posix_mq", "bip_mq", "tbb_queue", "shm_ring"},
      .peers = {kThread, kFork},
      .waits = {Wait::kSpin, Wait::kHybrid, Wait::kBlock},
      .sizes = {64, 64u << 10},
      .offered = kFullGrid,
      .interval_s = 1.0,
      .saturation_s = 0.5}},
};

// Before every timed interval, the same schedule for this long (at least kMinWarmup
// messages, at most kMaxWarmup): the first messages pay for cold caches, page faults and the
// peer's first wake-ups, which are not the steady state reported.
constexpr double kWarmupSeconds = 0.02;
constexpr std::uint64_t kMinWarmup = 32, kMaxWarmup = 4096;
// A timed interval has at least this many messages whatever the rate, so that p99 has some.
constexpr std::uint64_t kMinTimedMessages = 200;
// The saturation measurement: a probe of this many messages (also its warm-up) gives the
// rate that sizes the measured interval, which is kept within these bounds.
constexpr std::uint64_t kSaturationProbe = 2000;
constexpr std::uint64_t kMinSaturationMessages = 1000, kMaxSaturationMessages = 50'000'000;

// Lowers the calling thread's timer slack to 1 ns for a scope: a timed wait (poll, futex,
// mq_timedreceive) otherwise wakes up to 50 µs late by default, which would show as schedule
// slips and latency that belong to the sleep, not the link.
class ScopedTimerSlack {
 public:
  ScopedTimerSlack() : saved_(prctl(PR_GET_TIMERSLACK, 0, 0, 0, 0)) { prctl(PR_SET_TIMERSLACK, 1, 0, 0, 0); }
  ~ScopedTimerSlack() {
    if (saved_ > 0) prctl(PR_SET_TIMERSLACK, saved_, 0, 0, 0);
  }
  ScopedTimerSlack(const ScopedTimerSlack&) = delete;
  ScopedTimerSlack& operator=(const ScopedTimerSlack&) = delete;

 private:
  long saved_;
};

SessionOptions load_options(const LinkVariant& v) {
  SessionOptions opt;
  opt.transport = v.transport;
  opt.peer = v.peer;
  opt.role = Role::kEcho;
  opt.cfg.msg_bytes = v.size;
  opt.cfg.depth = kLoadDepth;
  opt.cfg.wait = v.wait.value_or(Wait::kBlock);
  opt.peer_cpu = peer_cpu_of(suite().placement);
  return opt;
}

Clock::time_point steady_now() noexcept { return Clock::now(); }

// One combination's saturation: messages/s with the window kept full, or why it could not
// be measured (a refusal's sentence as it is, so the row says what the transport says).
struct Saturation {
  double per_second = 0;
  std::string error;
};

Saturation measure_saturation(const LinkVariant& v, double seconds) {
  const ScopedTimerSlack slack;
  Made<Session> made = Session::start(load_options(v));
  if (!made) return {0, made.error};
  Session& s = *made.value;
  MessageSet ms(v.size);
  LoadHistograms unused;
  LoadTally tally;
  std::uint64_t seq = 0;
  // Each part ends within the measurement's time, however slow the link is at the moment.
  const auto limit = std::chrono::nanoseconds(std::int64_t(seconds * 1e9));
  LoadPlan plan{.messages = kSaturationProbe,
                .period_ns = 0,
                .window = load_link_window(s.window_msgs(), v.size),
                .time_limit = limit};
  Status st = load_loop(s.channel(), ms, plan, unused, tally, s.progress(), seq, steady_now);
  if (st) {
    const double probe_rate = double(tally.received) / std::max(load_seconds(plan, tally), 1e-9);
    plan.messages = std::clamp(std::uint64_t(probe_rate * seconds), kMinSaturationMessages, kMaxSaturationMessages);
    plan.time_limit = 2 * limit;
    st = load_loop(s.channel(), ms, plan, unused, tally, s.progress(), seq, steady_now);
  }
  if (st) st = s.request_stop(ms, seq);
  if (st) st = s.finish(ms, seq);
  if (!st) return {0, "saturation measurement: " + s.explain(st)};
  return {double(tally.received) / load_seconds(plan, tally), {}};
}

// Measured by the first row of a combination that runs, kept for the others (Google Benchmark
// calls a row once here: Iterations(1)).
const Saturation& saturation_of(const LinkVariant& v, double seconds) {
  static std::map<std::string, Saturation> cache;
  const std::string key = v.name();
  auto it = cache.find(key);
  if (it == cache.end()) it = cache.emplace(key, measure_saturation(v, seconds)).first;
  return it->second;
}

void run(benchmark::State& state, const LinkVariant& v, int offered_pct, const LoadProfile& sw) {
  const Saturation& sat = saturation_of(v, sw.saturation_s);
  if (!sat.error.empty()) return skip(state, sat.error);
  if (!(sat.per_second > 0)) return skip(state, "saturation measurement: no messages came back");
  const double rate = sat.per_second * double(offered_pct) / 100.0;

  const ScopedTimerSlack slack;
  const SessionOptions opt = load_options(v);
  Made<Session> made = Session::start(opt);
  if (!made) return skip(state, made.error);
  Session& s = *made.value;
  MessageSet ms(v.size);
  LoadHistograms h;
  LoadTally tally;
  std::uint64_t seq = 0;
  const std::size_t window = load_link_window(s.window_msgs(), v.size);
  {
    LoadHistograms discarded;
    const LoadPlan warmup =
        scheduled_plan(std::clamp(std::uint64_t(rate * kWarmupSeconds), kMinWarmup, kMaxWarmup), rate, window);
    const Status st = load_loop(s.channel(), ms, warmup, discarded, tally, s.progress(), seq, steady_now);
    if (!st) return skip(state, s.explain(st));
  }
  const LoadPlan plan =
      scheduled_plan(std::max(kMinTimedMessages, std::uint64_t(std::ceil(rate * sw.interval_s))), rate, window);

  // The row's one iteration (Iterations(1)): Google Benchmark's loop must run, and its
  // time is the interval's (SetIterationTime), not the loop's.
  for (auto _ : state) {
    KernelCounters kernel(s.counted_tasks());
    const std::uint64_t cpu0 = thread_cpu_ns(), peer_cpu0 = s.peer_cpu_ns();
    // Inside the CPU-time reads, so their system calls are not counted.
    kernel.start();
    Status st = load_loop(s.channel(), ms, plan, h, tally, s.progress(), seq, steady_now);
    if (st) st = s.request_stop(ms, seq);
    kernel.stop();
    const std::uint64_t cpu1 = thread_cpu_ns(), peer_cpu1 = s.peer_cpu_ns();
    if (st) st = s.finish(ms, seq);
    if (!st) return skip(state, s.explain(st));

    const double seconds = load_seconds(plan, tally);
    const double achieved = double(tally.received) / seconds;
    const LoadVerdict verdict = judge_load(rate, achieved, h);
    state.SetIterationTime(seconds);
    state.SetItemsProcessed(std::int64_t(tally.received));
    auto& c = state.counters;
    if (!verdict.saturated) {
      c["lat_p50_ns"] = h.all.quantile(0.50);
      c["lat_p99_ns"] = h.all.quantile(0.99);
      c["lat_p999_ns"] = h.all.quantile(0.999);
      c["lat_max_ns"] = double(h.all.max());
    } else {
      state.SetLabel(verdict.label);
    }
    c["saturated"] = verdict.saturated ? 1 : 0;
    c["offered_per_second"] = rate;
    c["achieved_per_second"] = achieved;
    c["saturation_per_second"] = sat.per_second;
    c["late_sends"] = double(tally.late_sends);
    c["window_msgs"] = double(window);
    // Two messages per echo; both sides' CPU, so a spinning wait shows as cost.
    const std::uint64_t messages = 2 * tally.received;
    if (messages > 0) c["cpu_ns_per_msg"] = double((cpu1 - cpu0) + (peer_cpu1 - peer_cpu0)) / double(messages);
    for (const auto& [name, per_msg] : per_message(kernel.counts(), messages)) c[name] = per_msg;
  }
}

std::vector<std::optional<Wait>> waits_of(const TransportDef& t, const LoadProfile& sw) {
  std::vector<std::optional<Wait>> waits;
  for (Wait w : t.waits)
    if (std::find(sw.waits.begin(), sw.waits.end(), w) != sw.waits.end()) waits.push_back(w);
  if (t.waits.empty()) waits.push_back(std::nullopt);
  return waits;
}

// Every combination the profile names is registered, also those that cannot run here (a
// thread-only transport with a process peer, a size over the transport's limit): they end
// with the transport's own sentence (Session::start asks TransportDef::refusal).
void add_load_benchmarks(const Profile& p, const Placement&) {
  const LoadProfile& sw = kLoadProfile.of(p);
  for (const std::string& tname : sw.transports) {
    const TransportDef* t = find_transport(tname);
    IPCM_CHECK(t != nullptr);
    for (PeerKind peer : sw.peers)
      for (std::size_t size : sw.sizes)
        for (const std::optional<Wait>& wait : waits_of(*t, sw))
          for (int pct : sw.offered) {
            const LinkVariant v{t, peer, size, wait};
            const std::string name = "load/" + v.name() + "/offered:" + std::to_string(pct);
            add_benchmark(name, [v, pct, &sw](benchmark::State& st) { run(st, v, pct, sw); }, true, 1)
                ->Unit(benchmark::kNanosecond);
          }
  }
}

nlohmann::json load_section(const Profile& p) {
  const LoadProfile& sw = kLoadProfile.of(p);
  return {{"transports", sw.transports},
          {"peers", peers_json(sw.peers)},
          {"waits", words_of(sw.waits, wait_name)},
          {"sizes", sw.sizes},
          {"offered_percent", sw.offered},
          {"interval_s", sw.interval_s},
          {"saturation_s", sw.saturation_s},
          {"late_tolerance_ns", std::chrono::nanoseconds(kLateTolerance).count()}};
}

FamilyDef load_family() {
  return {.name = "load",
          .keys = {{"transport", Unit::kName, transport_names,
                    [](const Profile& p) { return nlohmann::json(kLoadProfile.of(p).transports); }},
                   {"peer", Unit::kName, peer_names, [](const Profile& p) { return peers_json(kLoadProfile.of(p).peers); }},
                   {"size", Unit::kBytes, nullptr, [](const Profile& p) { return nlohmann::json(kLoadProfile.of(p).sizes); }},
                   {"wait", Unit::kName, wait_names,
                    [](const Profile& p) { return nlohmann::json(words_of(kLoadProfile.of(p).waits, wait_name)); }, false,
                    true},
                   {"offered", Unit::kCount, nullptr,
                    [](const Profile& p) { return nlohmann::json(kLoadProfile.of(p).offered); }}},
          // The latencies are absent from a saturated row, so none is required.
          .counters = with_kernel_counters({{"lat_p50_ns", Unit::kNs, kLow, true, false},
                                            {"lat_p99_ns", Unit::kNs, kLow, true, false},
                                            {"lat_p999_ns", Unit::kNs, kLow, false, false},
                                            {"lat_max_ns", Unit::kNs, kLow, false, false},
                                            {"achieved_per_second", Unit::kPerSecond, kHigh, false, true},
                                            {"offered_per_second", Unit::kPerSecond, kFact, false, true},
                                            {"saturation_per_second", Unit::kPerSecond, kFact, false, true},
                                            {"late_sends", Unit::kCount, kLow, false, true},
                                            {"saturated", Unit::kCount, kFact, false, true},
                                            {"window_msgs", Unit::kCount, kFact, false, true},
                                            {"cpu_ns_per_msg", Unit::kNs, kLow, false, true}}),
          .profile_section = load_section,
          .add_benchmarks = add_load_benchmarks};
}

}  // namespace

static const FamilyRegistrar kRegistrar(load_family);

}  // namespace ipcm
