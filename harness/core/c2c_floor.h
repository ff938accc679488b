// The core-to-core floor: the cheapest round trip the hardware offers between two CPUs, the
// denominator of every pingpong ratio_to_floor. Three rules make it a floor:
//  - the same statistic as what it is compared with: each round trip is timed on its own,
//    with the clock reads pingpong makes, into the same Histogram, and summarised as p50
//    (p99 and mean kept beside it), never as a mean of batches;
//  - the best of several ways to move a line between the CPUs, because which is cheapest
//    depends on the CPU and the placement: one line written by both sides (its ownership
//    moves every half trip) or two lines each written by one side (each only shared for
//    reading), each with and without a pause instruction in the wait;
//  - the best of several addresses: on a multi-chiplet CPU a line's transfer cost depends on
//    where its address is homed (here the same protocol took ~420 or ~690 ns by address),
//    so a transport whose lines happen to be homed well must not beat a floor whose line
//    was homed badly.
#pragma once

#include <sched.h>

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "harness/core/histogram.h"
#include "harness/core/limits.h"

namespace ipcm {

// Written into floors.c2c_definition, so tools can tell this floor from the one files of
// schema 1 carried before it (the median of batch means of one protocol), and refuse to
// normalise across the two.
inline constexpr const char* kC2cDefinition = "per_trip_p50_best_protocol";

enum class LineLayout { kSharedLine, kTwoLines };

// Addresses each protocol is tried at: lines 256 B apart, so neither the adjacent-line
// prefetcher nor one home agent couples them.
inline constexpr std::size_t kC2cAddresses = 8;

struct C2cProtocol {
  const char* name;
  LineLayout layout;
  bool pause;  // a pause instruction in every wait iteration, both sides
};

// Every protocol the floor tries; the name is what floors.c2c_protocols records.
inline constexpr std::array<C2cProtocol, 4> kC2cProtocols{{
    {"shared_line_pause", LineLayout::kSharedLine, true},
    {"shared_line_spin", LineLayout::kSharedLine, false},
    {"two_lines_pause", LineLayout::kTwoLines, true},
    {"two_lines_spin", LineLayout::kTwoLines, false},
}};
// One histogram per protocol and address, protocol-major: index protocol * kC2cAddresses + a.
inline constexpr std::size_t kC2cCandidates = kC2cProtocols.size() * kC2cAddresses;

// Calls fn.template operator()<layout, pause>() with the protocol's pair as constants, so the
// timed loops are compiled once per protocol with nothing decided inside them.
template <class Fn>
void with_protocol(const C2cProtocol& p, Fn&& fn) {
  switch (p.layout) {
    case LineLayout::kSharedLine:
      return p.pause ? fn.template operator()<LineLayout::kSharedLine, true>()
                     : fn.template operator()<LineLayout::kSharedLine, false>();
    case LineLayout::kTwoLines:
      return p.pause ? fn.template operator()<LineLayout::kTwoLines, true>()
                     : fn.template operator()<LineLayout::kTwoLines, false>();
  }
}

// A protocol's figures at its best address, its trips over all addresses, and its p50 at
// each address tried (0 where nothing was timed).
struct C2cProtocolFigures {
  std::string name;
  double p50_ns = 0;
  double p99_ns = 0;
  double mean_ns = 0;
  std::uint64_t trips = 0;
  std::size_t best_address = 0;
  std::vector<double> p50_ns_by_address;
};

// The floor between one pair of CPUs. p50_ns is the winner's p50 (nullopt when nothing could
// be measured, with the reason in error).
struct C2cFloor {
  std::optional<double> p50_ns;
  std::optional<double> p99_ns;
  std::optional<double> mean_ns;
  std::string protocol;  // the winner's name
  std::vector<C2cProtocolFigures> protocols;
  std::string error;
};

// Pure, for tests and the live probe alike: from one histogram per candidate (protocol-major,
// kC2cCandidates of them), each protocol's figures and the floor, the candidate with the
// lowest p50; a tie keeps the earlier one. Empty histograms are left out of the choice, and
// a protocol with none is not listed.
C2cFloor summarise_c2c(std::span<const Histogram> by_candidate);

// The one with the lower p50 (a known one over an unknown one): of two probes around a
// benchmark, the one that did not land in a slow moment of the host.
const C2cFloor& lower_floor(const C2cFloor& a, const C2cFloor& b) noexcept;

// The pingpong ratio: p50 of the transport's round trips over the floor's p50, the same
// statistic on both sides. NaN when the floor is unknown.
double ratio_to_floor(const Histogram& rtt, const C2cFloor& floor) noexcept;

// Measures every protocol at every address between cpu_a (the caller, pinned for the
// duration) and cpu_b (a partner thread), the protocols taking turns at each address so a
// host that moves the vCPUs mid-probe shifts them alike. cpu_a == cpu_b measures two
// context switches a trip instead. About 10 ms on a 500 ns floor.
C2cFloor measure_c2c_floor(int cpu_a, int cpu_b);

// The floor between these CPUs probed at most max_age ago (by measure_c2c_floor), else a new
// probe. Google Benchmark runs a row several times to size it, back to back: the probe after
// one run then serves as the probe before the next, halving the probes a row costs.
C2cFloor recent_c2c_floor(int cpu_a, int cpu_b, std::chrono::milliseconds max_age);

// {"c2c_rtt_ns", "c2c_rtt_p99_ns", "c2c_rtt_mean_ns", "c2c_protocol", "c2c_protocols",
//  "c2c_definition"}: merged into the floors object.
nlohmann::json to_json(const C2cFloor& f);

// The partner side of every protocol, one thread for the whole probe. Also used by the
// floor/probe:c2c_rtt benchmark, so the published probe and the floor share the code.
class C2cPartner {
 public:
  // Starts the partner pinned to peer_cpu and waits until it runs. share_cpu: both sides are
  // on one CPU, so every wait yields, or each would spin out a whole time slice.
  C2cPartner(int peer_cpu, bool share_cpu);
  ~C2cPartner();  // stops and joins the partner
  C2cPartner(const C2cPartner&) = delete;
  C2cPartner& operator=(const C2cPartner&) = delete;

  bool ok() const noexcept { return running_; }
  const char* error() const noexcept { return error_; }

  // Starts serving protocol p on the lines of `address` (< kC2cAddresses); round_trip() may
  // be called until end_protocol().
  void begin_protocol(const C2cProtocol& p, std::size_t address = 0) noexcept;
  void end_protocol() noexcept;

  // One round trip of the protocol begun last. Inlined into the timed loops: the only work
  // between the caller's two clock reads is the line traffic itself.
  template <LineLayout kLayout, bool kPause>
  void round_trip() noexcept {
    std::atomic<std::uint64_t>& ping = *ping_;
    if constexpr (kLayout == LineLayout::kSharedLine) {
      // The caller writes an odd value, the partner answers with the next even one.
      ping.store(next_, std::memory_order_release);
      while (ping.load(std::memory_order_acquire) != next_ + 1) wait<kPause>();
      next_ += 2;
    } else {
      // The caller writes its line, the partner copies the value to its own line.
      std::atomic<std::uint64_t>& pong = *pong_;
      ping.store(next_, std::memory_order_release);
      while (pong.load(std::memory_order_acquire) != next_) wait<kPause>();
      next_ += 1;
    }
  }

 private:
  enum Command : int { kIdle, kServe, kQuit };
  template <bool kPause>
  void wait() const noexcept {
    if (share_cpu_) {
      sched_yield();
    } else if constexpr (kPause) {
#if defined(__x86_64__) || defined(__i386__)
      __builtin_ia32_pause();
#endif
    }
  }
  template <LineLayout kLayout, bool kPause>
  void serve() noexcept;
  void partner(int cpu) noexcept;

  // The lines the protocols trade, each alone in its cache line so only the protocol's own
  // traffic moves it; address a uses lines kLinesPerAddress * a (ping) and that + 2 (pong).
  struct alignas(kCacheLine) Line {
    std::atomic<std::uint64_t> value{0};
  };
  static constexpr std::size_t kLinesPerAddress = 4;
  Line lines_[kC2cAddresses * kLinesPerAddress];
  std::atomic<std::uint64_t>* ping_ = &lines_[0].value;  // the shared line, or the caller's
  std::atomic<std::uint64_t>* pong_ = &lines_[2].value;  // the partner's line (two lines)
  // Read by the partner only while it waits, kept off the traded lines.
  alignas(kCacheLine) std::atomic<bool> stop_{false};
  alignas(kCacheLine) std::atomic<int> command_{kIdle};
  C2cProtocol protocol_{};
  std::uint64_t next_ = 1;
  bool share_cpu_;
  bool running_ = false;
  std::atomic<int> started_{0};  // 0 starting, 1 running, 2 failed
  const char* error_ = "";
  std::thread thread_;
};

}  // namespace ipcm
