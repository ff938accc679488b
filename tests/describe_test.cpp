// `ipcmeter --describe` against the binary itself: the JSON parses and has every part, and the
// benchmarks each profile registers are exactly what it describes — every name parses
// against the described keys in order, every value is one the key allows, and every value
// described for a profile is one that profile runs. A family, key or value added without
// its description (or described but never run) fails here.
#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

namespace {

using nlohmann::json;
namespace fs = std::filesystem;

struct Ran {
  int status = -1;  // exit status, or -1 when the binary did not exit normally
  std::string out, err;
};

std::string slurp(const fs::path& p) {
  std::ifstream f(p);
  std::stringstream s;
  s << f.rdbuf();
  return s.str();
}

// Runs build/ipcmeter with `args` in `cwd`, its stdout and stderr kept beside `cwd` (not in
// it, so that the test can see whether the binary wrote anything there).
Ran run_ipcmeter(const std::vector<std::string>& args, const fs::path& cwd) {
  const fs::path out = cwd.string() + ".out", err = cwd.string() + ".err";
  std::vector<std::string> argv_s = {IPCM_BINARY};
  argv_s.insert(argv_s.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (std::string& a : argv_s) argv.push_back(a.data());
  argv.push_back(nullptr);
  const pid_t pid = fork();
  if (pid == 0) {
    const int o = open(out.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    const int e = open(err.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (o < 0 || e < 0 || dup2(o, 1) < 0 || dup2(e, 2) < 0 || chdir(cwd.c_str()) != 0) _exit(127);
    execv(argv[0], argv.data());
    _exit(127);
  }
  Ran r;
  int st = 0;
  if (pid > 0 && waitpid(pid, &st, 0) == pid && WIFEXITED(st)) r.status = WEXITSTATUS(st);
  r.out = slurp(out);
  r.err = slurp(err);
  fs::remove(out);
  fs::remove(err);
  return r;
}

class Describe : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/ipcmeter-describe-test-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override { fs::remove_all(dir_); }

  json describe() {
    const Ran r = run_ipcmeter({"--describe"}, dir_);
    EXPECT_EQ(r.status, 0) << r.err;
    EXPECT_EQ(r.err, "");
    return json::parse(r.out);  // throws (and fails the test) when it is not JSON
  }

  fs::path dir_;
};

TEST_F(Describe, HasEveryPart) {
  const json d = describe();
  EXPECT_EQ(d.at("describe_version"), 1);
  const json& families = d.at("families");
  ASSERT_TRUE(families.is_object());
  std::set<std::string> ordered;
  for (const json& f : d.at("family_order")) ordered.insert(f.get<std::string>());
  std::set<std::string> described;
  for (const auto& [name, f] : families.items()) {
    described.insert(name);
    const json& keys = f.at("keys");
    ASSERT_FALSE(keys.empty()) << name;
    for (std::size_t i = 0; i < keys.size(); ++i) {
      EXPECT_TRUE(keys[i].at("name").is_string());
      EXPECT_TRUE(keys[i].at("unit").is_string());
      // An optional key may be absent anywhere: every segment names its key, so a reader
      // matches segments to keys by name (the walk over the listed names below does).
      const bool finite = keys[i].contains("values") || keys[i].contains("values_by_profile");
      EXPECT_NE(finite, keys[i].at("scales_with_cpus").get<bool>()) << name << " " << keys[i];
    }
    ASSERT_FALSE(f.at("primary").empty()) << name;
    for (const json& p : f.at("primary")) EXPECT_TRUE(f.at("counters").at(p.get<std::string>()).at("primary"));
    for (const auto& [cname, c] : f.at("counters").items()) {
      EXPECT_TRUE(c.at("unit").is_string()) << cname;
      EXPECT_TRUE(c.at("higher_is_better").is_boolean() || c.at("higher_is_better").is_null()) << cname;
      EXPECT_TRUE(c.at("required").is_boolean()) << cname;
    }
  }
  EXPECT_EQ(described, ordered) << "a family runs without a description, or is described but never runs";
  const json& profiles = d.at("profiles");
  for (const char* p : {"quick", "default", "full"}) EXPECT_TRUE(profiles.contains(p)) << p;
  EXPECT_TRUE(profiles.contains(d.at("default_profile").get<std::string>()));
  for (const auto& [name, p] : profiles.items()) {
    EXPECT_FALSE(p.at("sizes").empty()) << name;
    EXPECT_GE(p.at("repetitions").get<int>(), 1) << name;
    for (const char* section : {"spawn", "compute", "pool", "fanin", "sync", "state"})
      EXPECT_TRUE(p.at(section).is_object()) << name << " " << section;
  }
  std::set<std::string> peers;
  for (const json& p : d.at("peers")) peers.insert(p.get<std::string>());
  EXPECT_TRUE(peers.count("thread") && peers.count("fork") && peers.count("spawn"));
  ASSERT_FALSE(d.at("transports").empty());
  for (const auto& [name, t] : d.at("transports").items()) {
    EXPECT_TRUE(t.at("kind") == "pipe" || t.at("kind") == "queue" || t.at("kind") == "shm") << name;
    EXPECT_TRUE(t.at("max_msg_bytes").is_null() || t.at("max_msg_bytes").is_number_unsigned()) << name;
    EXPECT_TRUE(t.at("waits").is_array()) << name;
  }
}

// The facts the scripts used to keep themselves, as they kept them (and the one they had
// wrong: stream's ratio_to_floor is a throughput over a floor).
TEST_F(Describe, DirectionsAndPrimaries) {
  const json f = describe().at("families");
  EXPECT_EQ(f.at("pingpong").at("primary"), json({"rtt_p50_ns", "rtt_p99_ns"}));
  EXPECT_EQ(f.at("stream").at("primary"), json({"bytes_per_second", "items_per_second"}));
  EXPECT_EQ(f.at("compute").at("primary"), json({"speedup"}));
  EXPECT_EQ(f.at("floor").at("primary"), json({"real_time_ns"}));
  EXPECT_EQ(f.at("pingpong").at("counters").at("ratio_to_floor").at("higher_is_better"), false);
  EXPECT_EQ(f.at("stream").at("counters").at("ratio_to_floor").at("higher_is_better"), true);
  EXPECT_EQ(f.at("stream").at("counters").at("ratio_to_memcpy").at("higher_is_better"), true);
  EXPECT_EQ(f.at("pool").at("counters").at("overhead_ns_per_task").at("higher_is_better"), false);
}

// Google Benchmark's own segments after the family's keys (the contract: tools ignore them).
const std::regex kGbSegment("^(iterations|repeats|threads):[0-9]+$|^(manual_time|real_time|process_time)$");

std::vector<std::string> split(const std::string& s, char sep) {
  std::vector<std::string> v;
  std::stringstream ss(s);
  std::string part;
  while (std::getline(ss, part, sep)) v.push_back(part);
  return v;
}

std::string text_of(const json& v) { return v.is_string() ? v.get<std::string>() : v.dump(); }

TEST_F(Describe, EveryRegisteredNameParsesAgainstIt) {
  const json d = describe();
  for (const auto& [profile, _] : d.at("profiles").items()) {
    const Ran r = run_ipcmeter({"--profile", profile, "--benchmark_list_tests"}, dir_);
    ASSERT_EQ(r.status, 0) << r.err;
    // family -> key -> values seen in this profile's names
    std::map<std::string, std::map<std::string, std::set<std::string>>> seen;
    std::size_t names = 0;
    for (const std::string& name : split(r.out, '\n')) {
      if (name.empty()) continue;
      ++names;
      const std::vector<std::string> seg = split(name, '/');
      ASSERT_TRUE(d.at("families").contains(seg[0])) << name;
      const json& keys = d.at("families").at(seg[0]).at("keys");
      std::size_t i = 1;
      for (const json& k : keys) {
        const std::string key = k.at("name");
        const bool here = i < seg.size() && seg[i].rfind(key + ":", 0) == 0;
        if (!here) {
          ASSERT_TRUE(k.at("optional").get<bool>()) << name << ": no " << key;
          continue;
        }
        const std::string value = seg[i++].substr(key.size() + 1);
        if (k.at("unit") != "name") {
          ASSERT_TRUE(std::regex_match(value, std::regex("[0-9]+"))) << name;
        }
        seen[seg[0]][key].insert(value);
      }
      for (; i < seg.size(); ++i) ASSERT_TRUE(std::regex_match(seg[i], kGbSegment)) << name << ": " << seg[i];
    }
    ASSERT_GT(names, 0u) << profile;
    // Both ways: what the profile runs is what is described for it.
    for (const auto& [family, f] : d.at("families").items()) {
      for (const json& k : f.at("keys")) {
        const std::string key = k.at("name");
        const json* values = k.contains("values_by_profile") ? &k.at("values_by_profile").at(profile)
                             : k.contains("values")           ? &k.at("values")
                                                               : nullptr;
        // null: values the run decides (py_*'s python: the interpreters given), not the profile
        if (!values || values->is_null()) continue;
        std::set<std::string> described;
        for (const json& v : *values) described.insert(text_of(v));
        EXPECT_EQ(seen[family][key], described) << profile << " " << family << " " << key;
      }
    }
  }
}

// Bad input stays bad input with --describe: one line, exit 2, nothing written.
TEST_F(Describe, RefusesOtherFlags) {
  for (const std::vector<std::string>& args :
       {std::vector<std::string>{"--describe", "--junk"}, {"--describe", "--profile", "quick"},
        {"--describe", "--benchmark_out=r.json"}, {"--describe=yes"}}) {
    const Ran r = run_ipcmeter(args, dir_);
    EXPECT_EQ(r.status, 2) << args[1 % args.size()];
    EXPECT_EQ(r.out, "");
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
    EXPECT_EQ(r.err.rfind("ipcmeter: ", 0), 0u) << r.err;
    EXPECT_TRUE(fs::is_empty(dir_)) << "something was written";
  }
}

}  // namespace
