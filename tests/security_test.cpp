// What another local user (here: uid 65534, "nobody"; the tests run as root and hand objects
// to that uid with fchown/chown) can and cannot do to a running ipcmeter: names made first,
// symlinks, directories others may write, a loopback port, the fork server's socket, the
// results file's temporary name. Each test stages the attack and checks that it fails; run
// against the code before docs/security.md's fixes, most of them fail. See docs/security.md.
#include <gtest/gtest.h>
#include <fcntl.h>
#include <mqueue.h>
#include <netinet/in.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <arpa/inet.h>

#include <array>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "harness/core/check.h"
#include "harness/core/names.h"
#include "tests/support.h"
#include "harness/core/results_file.h"
#include "harness/launch/forkserver.h"
#include "harness/launch/launcher.h"
#include "harness/transports/shm_segment.h"
#include "harness/transports/transport.h"

namespace ipcm {
namespace {

constexpr uid_t kOtherUid = 65534;  // nobody
constexpr gid_t kOtherGid = 65534;

bool running_as_root() { return geteuid() == 0; }

#define REQUIRE_ROOT()                                                             \
  do {                                                                             \
    if (!running_as_root()) GTEST_SKIP() << "needs root to act as another user";   \
  } while (0)

bool contains(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

// A scratch directory of ours (mode as given), removed with everything in it at the end.
struct ScratchDir {
  std::string path;
  explicit ScratchDir(mode_t mode = 0700) {
    char tmpl[] = "/tmp/ipcm-sectest-XXXXXX";
    IPCM_CHECK(mkdtemp(tmpl) != nullptr);
    path = tmpl;
    IPCM_CHECK(chmod(path.c_str(), mode) == 0);
  }
  ~ScratchDir() { std::system(("rm -rf '" + path + "'").c_str()); }
};

// ---- Named shared memory and message queues ----

TEST(Security, ShmNameMadeFirstByAnotherUserIsRefusedNotUsed) {
  REQUIRE_ROOT();
  const std::string name = "/" + unique_name("sectest");
  const int fd = shm_open(name.c_str(), O_CREAT | O_EXCL | O_RDWR, 0666);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(fchown(fd, kOtherUid, kOtherGid), 0);
  ASSERT_EQ(ftruncate(fd, 4096), 0);
  close(fd);
  Made<ShmSegment> s = ShmSegment::create_named(4096, name);
  EXPECT_FALSE(s);
  EXPECT_TRUE(contains(s.error, "already exists")) << s.error;
  // Refused, and the other user's object is neither used nor removed by our cleanup.
  struct stat st;
  ASSERT_EQ(stat(("/dev/shm" + name).c_str(), &st), 0);
  EXPECT_EQ(st.st_uid, kOtherUid);
  shm_unlink(name.c_str());
}

TEST(Security, ShmAttachRefusesAnotherUsersSegment) {
  REQUIRE_ROOT();
  const std::string name = "/" + unique_name("sectest");
  const int fd = shm_open(name.c_str(), O_CREAT | O_EXCL | O_RDWR, 0666);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(ftruncate(fd, 4096), 0);
  ASSERT_EQ(fchown(fd, kOtherUid, kOtherGid), 0);
  close(fd);
  Made<ShmSegment> s = ShmSegment::attach(name);
  EXPECT_FALSE(s);
  EXPECT_TRUE(contains(s.error, "belongs to uid 65534")) << s.error;
  shm_unlink(name.c_str());
}

TEST(Security, ShmIsOwnerOnlyWhateverTheUmask) {
  // A umask that would leave the owner unable to read (0277 -> 0200) or one of 0 (-> 0600
  // all the same): the segment is exactly 0600.
  for (mode_t mask : {mode_t(0277), mode_t(0)}) {
    const mode_t old = umask(mask);
    Made<ShmSegment> s = ShmSegment::create(4096, "sectest");
    umask(old);
    ASSERT_TRUE(s) << s.error;
    struct stat st;
    ASSERT_EQ(stat(("/dev/shm" + s.value->name()).c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 07777, 0600u) << "umask " << mask;
  }
}

TEST(Security, MqAttachRefusesAnotherUsersQueue) {
  REQUIRE_ROOT();
  const TransportDef* mq = find_transport("posix_mq");
  ASSERT_NE(mq, nullptr);
  std::string names[2];
  for (std::string& n : names) {
    n = "/" + unique_name("sectest");
    mq_attr attr{};
    attr.mq_maxmsg = 1;
    attr.mq_msgsize = 64;
    const mqd_t q = mq_open(n.c_str(), O_CREAT | O_EXCL | O_RDWR, 0666, &attr);
    if (q == mqd_t(-1)) GTEST_SKIP() << "POSIX message queues unavailable: " << std::strerror(errno);
    ASSERT_EQ(fchown(q, kOtherUid, kOtherGid), 0);
    mq_close(q);
  }
  ChannelConfig cfg;
  cfg.msg_bytes = 64;
  Made<Channel> ch = mq->attach(PeerSpec{{"mq:" + names[0], names[1]}, {}}, cfg, nullptr);
  EXPECT_FALSE(ch);
  EXPECT_TRUE(contains(ch.error, "belongs to uid 65534")) << ch.error;
  for (const std::string& n : names) mq_unlink(n.c_str());
}

// ---- The sweep of a dead run's leftovers ----

TEST(Security, SweepLeavesAnotherUsersObjectsAndSymlinksAlone) {
  REQUIRE_ROOT();
  const std::string tag = "ipcmeter-" + std::to_string(dead_pid()) + "-0123456789abcdef-";
  // Another user's object under a dead pid's name: not ours to remove.
  const std::string theirs = tag + "ring";
  const int fd = shm_open(theirs.c_str(), O_CREAT | O_EXCL | O_RDWR, 0600);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(fchown(fd, kOtherUid, kOtherGid), 0);
  close(fd);
  // A symlink named like a dead run's segment, pointing at a file that must survive.
  ScratchDir victim;
  const std::string victim_file = victim.path + "/precious";
  std::ofstream(victim_file) << "keep me";
  const std::string link = "/dev/shm/" + tag + "link";
  ASSERT_EQ(symlink(victim_file.c_str(), link.c_str()), 0);
  sweep_stale_objects();
  EXPECT_TRUE(exists("/dev/shm/" + theirs));
  EXPECT_TRUE(exists(victim_file));
  EXPECT_TRUE(exists(link));  // not a segment of ours: left as it is
  shm_unlink(theirs.c_str());
  unlink(link.c_str());
}

TEST(Security, SweepSkipsATempDirectoryOthersCanRenameIn) {
  ScratchDir open_dir(0777);  // world-writable, not sticky
  const std::string stale = open_dir.path + "/ipcmeter-" + std::to_string(dead_pid()) + "-0123456789abcdef-fifos";
  ASSERT_EQ(mkdir(stale.c_str(), 0700), 0);
  const char* old = std::getenv("TMPDIR");
  const std::string saved = old ? old : "";
  setenv("TMPDIR", open_dir.path.c_str(), 1);
  sweep_stale_objects();
  if (old) setenv("TMPDIR", saved.c_str(), 1);
  else unsetenv("TMPDIR");
  // Between the sweep's lstat and its removal, anyone could have swapped the directory for a
  // symlink into theirs or ours: such a directory is not swept at all.
  EXPECT_TRUE(exists(stale));
}

// At exit (or on a signal) the private directory is emptied and removed by name. If the name
// has become a symlink into someone's directory by then, nothing there may be deleted. Run in
// a child, whose removal of recorded objects must not touch the test process's own.
TEST(Security, PrivateDirCleanupNeverFollowsASymlink) {
  ScratchDir victim;
  const std::string victim_file = victim.path + "/precious";
  std::ofstream(victim_file) << "keep me";
  ScratchDir holder;
  const std::string link = holder.path + "/" + unique_name("fifos");
  ASSERT_EQ(symlink(victim.path.c_str(), link.c_str()), 0);
  const pid_t pid = fork();
  if (pid == 0) {
    std::string why;
    if (const std::string* mine = try_private_dir(why)) forget_object(NameSpace::kDir, *mine);
    record_object(NameSpace::kDir, link);
    remove_recorded_objects();
    _exit(0);
  }
  int status = 0;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  EXPECT_TRUE(exists(victim_file));
}

// ---- The temporary directory ----

TEST(Security, TempDirectoryTrust) {
  EXPECT_EQ(untrusted_dir_reason("/tmp"), "");  // world-writable, but sticky
  ScratchDir mine;
  EXPECT_EQ(untrusted_dir_reason(mine.path), "");
  ScratchDir open_dir(0777);
  EXPECT_TRUE(contains(untrusted_dir_reason(open_dir.path), "writable by other users and not sticky"))
      << untrusted_dir_reason(open_dir.path);
  // Below such a directory is no better: the whole subtree can be renamed away.
  const std::string below = open_dir.path + "/sub";
  ASSERT_EQ(mkdir(below.c_str(), 0700), 0);
  EXPECT_TRUE(contains(untrusted_dir_reason(below), open_dir.path + " (mode 0777)")) << untrusted_dir_reason(below);
  // A group-writable one likewise.
  ScratchDir group_dir(0770);
  EXPECT_FALSE(untrusted_dir_reason(group_dir.path).empty());
  if (running_as_root()) {
    ScratchDir theirs;
    ASSERT_EQ(chown(theirs.path.c_str(), kOtherUid, kOtherGid), 0);
    EXPECT_TRUE(contains(untrusted_dir_reason(theirs.path), "belongs to uid 65534")) << untrusted_dir_reason(theirs.path);
  }
}

TEST(Security, TempRootResolvesSymlinks) {
  ScratchDir real;
  ScratchDir holder;
  const std::string link = holder.path + "/tmpdir";
  ASSERT_EQ(symlink(real.path.c_str(), link.c_str()), 0);
  const char* old = std::getenv("TMPDIR");
  const std::string saved = old ? old : "";
  setenv("TMPDIR", link.c_str(), 1);
  const std::string root = temp_root();
  if (old) setenv("TMPDIR", saved.c_str(), 1);
  else unsetenv("TMPDIR");
  // The checked path is the one used later: a symlink cannot be repointed in between.
  EXPECT_EQ(root, real.path);
}

// ---- Loopback TCP ----

int connect_loopback(int port) {
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(std::uint16_t(port));
  IPCM_CHECK(connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
  return fd;
}

TEST(Security, TcpTokenIsNotInArgvAndStrangersAreRefused) {
  const TransportDef* tcp = find_transport("tcp");
  ASSERT_NE(tcp, nullptr);
  ChannelConfig cfg;
  cfg.msg_bytes = 64;
  Made<Link> link = tcp->create(cfg);
  ASSERT_TRUE(link) << link.error;
  const PeerSpec spec = link.value->peer_spec();
  // A spawned peer's argv is world-readable (/proc/<pid>/cmdline): it must hold no secret.
  ASSERT_EQ(spec.args.size(), 2u);
  int port = 0;
  ASSERT_EQ(std::sscanf(spec.args[0].c_str(), "tcp:%d", &port), 1);
  for (const std::string& a : spec.args) EXPECT_TRUE(a.rfind("tcp:", 0) == 0 || a.rfind("tokenfd:", 0) == 0) << a;
  // Two strangers get there first: one stays silent, one sends a wrong token.
  const int silent = connect_loopback(port);
  const int liar = connect_loopback(port);
  const std::uint64_t wrong = 0x0123456789abcdefULL;
  ASSERT_EQ(write(liar, &wrong, sizeof wrong), ssize_t(sizeof wrong));
  Made<Channel> peer_end;
  std::thread peer([&] { peer_end = tcp->attach(spec, cfg, link.value.get()); });
  // Where the silent stranger would hold the parent for good, the test's own bound ends it
  // (by hanging up on the stranger's side), so a regression fails the test instead of hanging.
  std::atomic<bool> done{false};
  std::thread bound([&] {
    for (int i = 0; i < 60 && !done; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(100));
    if (!done) shutdown(silent, SHUT_RDWR);
  });
  const auto t0 = std::chrono::steady_clock::now();
  Made<Channel> parent_end = link.value->open_parent();
  const auto waited = std::chrono::steady_clock::now() - t0;
  done = true;
  bound.join();
  peer.join();
  ASSERT_TRUE(peer_end) << peer_end.error;
  ASSERT_TRUE(parent_end) << parent_end.error;
  // The silent stranger cost its token wait, not the watchdog's whole patience.
  EXPECT_LT(waited, std::chrono::seconds(5));
  // The strangers were dropped: their sockets read end-of-file (or reset).
  char c;
  EXPECT_LE(read(liar, &c, 1), 0);
  EXPECT_LE(read(silent, &c, 1), 0);
  close(silent);
  close(liar);
  // And the connection kept is the real peer's: a byte goes through.
  const std::array<std::byte, 64> msg{};
  ASSERT_TRUE(peer_end.value->send(Bytes(msg.data(), msg.size())));
  Bytes got;
  ASSERT_TRUE(parent_end.value->recv(got));
  EXPECT_EQ(got.size(), msg.size());
}

// ---- The fork server ----

struct ServerRun {
  int code = -1;
  std::string err;
};

// Runs the fork server's role in a child over the descriptors given, after `client` has done
// its part on the other end; the child's stderr is captured.
template <class Client>
ServerRun run_forkserver(std::vector<std::string> args, const std::vector<int>& child_closes, Client client) {
  int errp[2];
  IPCM_CHECK(pipe(errp) == 0);
  const pid_t pid = fork();
  if (pid == 0) {
    dup2(errp[1], STDERR_FILENO);
    for (int fd : child_closes) close(fd);
    std::vector<char*> argv;
    for (std::string& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    _exit(find_role(kForkServerRole)(int(args.size()), argv.data()));
  }
  close(errp[1]);
  client();
  ServerRun r;
  int status = 0;
  waitpid(pid, &status, 0);
  r.code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  char buf[512];
  ssize_t n;
  while ((n = read(errp[0], buf, sizeof buf)) > 0) r.err.append(buf, std::size_t(n));
  close(errp[0]);
  return r;
}

TEST(Security, ForkServerEndsOnAGarbageRequestWithoutForking) {
  int sv[2], rp[2];
  ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
  ASSERT_EQ(pipe(rp), 0);
  const ServerRun r = run_forkserver({std::to_string(sv[1]), std::to_string(rp[1])}, {sv[0], rp[0]}, [&] {
    close(sv[1]);
    close(rp[1]);
    const char garbage[] = "GET / HTTP/1.0\r\n\r\n";
    ASSERT_EQ(write(sv[0], garbage, sizeof garbage), ssize_t(sizeof garbage));
    shutdown(sv[0], SHUT_WR);  // so a server that took the garbage ends too, not hangs
  });
  EXPECT_EQ(r.code, kPeerMessageBad);
  EXPECT_TRUE(contains(r.err, "not the fork request")) << r.err;
  char c;
  EXPECT_EQ(read(rp[0], &c, 1), 0) << "a child was forked for garbage";
  close(sv[0]);
  close(rp[0]);
}

TEST(Security, ForkServerRefusesPassedDescriptors) {
  int sv[2], rp[2];
  ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
  ASSERT_EQ(pipe(rp), 0);
  const ServerRun r = run_forkserver({std::to_string(sv[1]), std::to_string(rp[1])}, {sv[0], rp[0]}, [&] {
    close(sv[1]);
    close(rp[1]);
    // A well-formed request byte, but with three descriptors attached.
    char req = 'f';
    iovec iov{&req, 1};
    const int fds[3] = {0, 1, 2};
    alignas(cmsghdr) char control[CMSG_SPACE(sizeof fds)];
    msghdr msg{};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control;
    msg.msg_controllen = sizeof control;
    cmsghdr* c = CMSG_FIRSTHDR(&msg);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof fds);
    std::memcpy(CMSG_DATA(c), fds, sizeof fds);
    ASSERT_EQ(sendmsg(sv[0], &msg, 0), 1);
    shutdown(sv[0], SHUT_WR);
  });
  EXPECT_EQ(r.code, kPeerMessageBad);
  EXPECT_TRUE(contains(r.err, "descriptors")) << r.err;
  char c;
  EXPECT_EQ(read(rp[0], &c, 1), 0) << "a child was forked for a request carrying descriptors";
  close(sv[0]);
  close(rp[0]);
}

TEST(Security, ForkServerChecksItsArguments) {
  int rp[2], sv[2];
  ASSERT_EQ(pipe(rp), 0);
  ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
  const std::vector<std::vector<std::string>> bad = {
      {},
      {"1", "2", "3"},
      {"99999999999", std::to_string(rp[1])},     // beyond int
      {"4000", std::to_string(rp[1])},            // not open
      {std::to_string(rp[0]), std::to_string(rp[1])},  // a pipe where the socket goes
      {std::to_string(sv[1]), std::to_string(sv[1])},  // a socket where the pipe goes
      {"-1", std::to_string(rp[1])},
  };
  for (const auto& args : bad) {
    const ServerRun r = run_forkserver(args, {}, [] {});
    EXPECT_EQ(r.code, kPeerUsage) << ::testing::PrintToString(args);
    EXPECT_TRUE(contains(r.err, "ipcmeter forkserver:")) << r.err;
  }
  for (int fd : {rp[0], rp[1], sv[0], sv[1]}) close(fd);
}

TEST(Security, ForkServerWellFormedRequestStillWorks) {
  // The same harness with a good request: so the refusals above are the checks', not the harness's.
  int sv[2], rp[2];
  ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
  ASSERT_EQ(pipe(rp), 0);
  int status = -1;
  const ServerRun r = run_forkserver({std::to_string(sv[1]), std::to_string(rp[1])}, {sv[0], rp[0]}, [&] {
    close(sv[1]);
    close(rp[1]);
    ASSERT_EQ(write(sv[0], "f", 1), 1);
    ASSERT_EQ(read(sv[0], &status, sizeof status), ssize_t(sizeof status));
    shutdown(sv[0], SHUT_WR);
  });
  EXPECT_EQ(r.code, kPeerOk) << r.err;
  EXPECT_EQ(status, 0);
  char c = 0;
  EXPECT_EQ(read(rp[0], &c, 1), 1);
  close(sv[0]);
  close(rp[0]);
}

// The client's side: a server that answers garbage, or half an answer and then nothing.
TEST(Security, ForkServerClientRejectsAGarbageAnswer) {
  int sv[2], rp[2];
  ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
  ASSERT_EQ(pipe2(rp, O_CLOEXEC), 0);
  auto client = ForkServer::over_descriptors(sv[0], rp[0]);
  const int garbage = 0x7fff1234;
  ASSERT_EQ(write(rp[1], "r", 1), 1);
  ASSERT_EQ(write(sv[1], &garbage, sizeof garbage), ssize_t(sizeof garbage));
  std::uint64_t tick = 0;
  std::string why;
  EXPECT_FALSE(client->start_child(tick, why));
  EXPECT_TRUE(contains(why, "not a wait status")) << why;
  close(sv[1]);
  close(rp[1]);
}

TEST(Security, ForkServerClientDoesNotHangOnHalfAnAnswer) {
  int sv[2], rp[2];
  ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
  ASSERT_EQ(pipe2(rp, O_CLOEXEC), 0);
  auto client = ForkServer::over_descriptors(sv[0], rp[0]);
  ASSERT_EQ(write(rp[1], "r", 1), 1);
  ASSERT_EQ(write(sv[1], "\0\0", 2), 2);  // half a status, then silence with the socket open
  std::uint64_t tick = 0;
  std::string why;
  const auto t0 = std::chrono::steady_clock::now();
  EXPECT_FALSE(client->start_child(tick, why));
  EXPECT_LT(std::chrono::steady_clock::now() - t0, peer_timeout() + std::chrono::seconds(5));
  EXPECT_TRUE(contains(why, "part of an answer")) << why;
  close(sv[1]);
  close(rp[1]);
}

// ---- The results file's temporary name ----

TEST(Security, ResultsTempNeverFollowsOrReusesWhatIsThere) {
  ScratchDir shared(01777);  // like /tmp
  ScratchDir victim;
  const std::string precious = victim.path + "/precious";
  std::ofstream(precious) << "keep me";
  const std::string target = shared.path + "/results.json";
  // The attack on a name made of the pid alone: a symlink waiting at it.
  const std::string guessable = target + ".tmp-" + std::to_string(getpid());
  ASSERT_EQ(symlink(precious.c_str(), guessable.c_str()), 0);
  int fd = -1;
  std::string why;
  const std::string tmp = create_results_temp(target, fd, why);
  ASSERT_FALSE(tmp.empty()) << why;
  EXPECT_NE(tmp, guessable);
  EXPECT_EQ(tmp.rfind(target + ".tmp-", 0), 0u);
  struct stat st;
  ASSERT_EQ(fstat(fd, &st), 0);
  EXPECT_TRUE(S_ISREG(st.st_mode));
  EXPECT_EQ(st.st_uid, geteuid());
  // Written through /proc/self/fd: the very file created, whatever happens to its name.
  {
    std::ofstream out(fd_path(fd), std::ios::trunc);
    out << "{}";
  }
  close(fd);
  std::string text;
  std::ifstream(tmp) >> text;
  EXPECT_EQ(text, "{}");
  std::string kept;
  std::getline(std::ifstream(precious) >> std::ws, kept);
  EXPECT_EQ(kept, "keep me");
  unlink(tmp.c_str());
}

TEST(Security, ResultsTempModeFollowsTheUmask) {
  ScratchDir dir;
  for (mode_t mask : {mode_t(022), mode_t(077)}) {
    const mode_t old = umask(mask);
    int fd = -1;
    std::string why;
    const std::string tmp = create_results_temp(dir.path + "/r.json", fd, why);
    umask(old);
    ASSERT_FALSE(tmp.empty()) << why;
    struct stat st;
    ASSERT_EQ(fstat(fd, &st), 0);
    EXPECT_EQ(st.st_mode & 0777, 0666u & ~mask);
    close(fd);
    unlink(tmp.c_str());
  }
}

}  // namespace
}  // namespace ipcm
