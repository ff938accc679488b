// Named objects: unpredictable names, exclusive creation, and the sweep of a dead run's
// leftovers that never touches a live run's objects.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>

#include "harness/core/names.h"
#include "tests/support.h"

namespace ipcm {
namespace {

TEST(Names, UniqueAndPrefixed) {
  const std::string a = unique_name("ring"), b = unique_name("ring");
  EXPECT_NE(a, b);
  EXPECT_EQ(a.rfind("ipcmeter-" + std::to_string(getpid()) + "-", 0), 0u) << a;
  EXPECT_NE(a.find("-ring"), std::string::npos);
}

TEST(Names, SweepRemovesOnlyDeadRunsObjects) {
  const std::string dead = "ipcmeter-" + std::to_string(dead_pid()) + "-0123456789abcdef-ring";
  const std::string live = unique_name("ring");
  for (const std::string& n : {dead, live}) {
    const int fd = shm_open(n.c_str(), O_CREAT | O_EXCL | O_RDWR, 0600);
    ASSERT_GE(fd, 0) << n;
    close(fd);
  }
  const auto removed = sweep_stale_objects();
  EXPECT_TRUE(std::find(removed.begin(), removed.end(), "/dev/shm/" + dead) != removed.end());
  EXPECT_FALSE(exists("/dev/shm/" + dead));
  EXPECT_TRUE(exists("/dev/shm/" + live));
  shm_unlink(live.c_str());
}

TEST(Names, SweepRemovesDeadRunsFifoDirectory) {
  const std::string dir = temp_root() + "/ipcmeter-" + std::to_string(dead_pid()) + "-0123456789abcdef-fifos";
  ASSERT_EQ(mkdir(dir.c_str(), 0700), 0);
  ASSERT_EQ(mkfifo((dir + "/x").c_str(), 0600), 0);
  sweep_stale_objects();
  EXPECT_FALSE(exists(dir));
}

TEST(Names, PrivateDirIsOwnerOnly) {
  struct stat st;
  ASSERT_EQ(lstat(private_dir().c_str(), &st), 0);
  EXPECT_TRUE(S_ISDIR(st.st_mode));
  EXPECT_EQ(st.st_mode & 0777, 0700u);
}

}  // namespace
}  // namespace ipcm
