#include "bench/spawn/rss.h"

#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fcntl.h>

#include <algorithm>
#include <cerrno>
#include <fstream>
#include <string>

#include "harness/core/clock.h"
#include "harness/launch/workers.h"

namespace ipcm {
namespace {

std::optional<std::uint64_t> kib_field(const char* path, const std::string& key) {
  std::ifstream f(path);
  std::string k;
  std::uint64_t v = 0;
  std::string unit;
  while (f >> k) {
    if (k == key) {
      if (f >> v) return v * 1024;
      return std::nullopt;
    }
    f.ignore(1 << 12, '\n');
  }
  return std::nullopt;
}

}  // namespace

std::optional<std::uint64_t> mem_available_bytes() { return kib_field("/proc/meminfo", "MemAvailable:"); }
std::optional<std::uint64_t> resident_bytes() { return kib_field("/proc/self/status", "VmRSS:"); }

std::string ballast_refusal(std::size_t mib, std::optional<std::uint64_t> available) {
  if (mib == 0) return "rss_mib must be at least 1";
  if (mib > (std::size_t(1) << 40) / kMiB) return "rss_mib " + std::to_string(mib) + " is beyond any machine";
  if (!available) return "";  // cannot tell: let mmap decide
  const std::uint64_t need = std::uint64_t(mib) * kMiB + kBallastHeadroomBytes;
  if (need > *available)
    return "rss_mib " + std::to_string(mib) + " does not fit: it needs " + std::to_string(need / kMiB) +
           " MiB with headroom and MemAvailable is " + std::to_string(*available / kMiB) + " MiB";
  return "";
}

Made<Ballast> Ballast::make(std::size_t mib) {
  if (std::string no = ballast_refusal(mib, mem_available_bytes()); !no.empty()) return Made<Ballast>::Fail(no);
  std::unique_ptr<Ballast> b(new Ballast());
  b->page_ = std::size_t(sysconf(_SC_PAGESIZE));
  b->bytes_ = mib * kMiB;
  void* p = mmap(nullptr, b->bytes_, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) return Made<Ballast>::Fail(sys_error("mmap of " + std::to_string(mib) + " MiB"));
  b->p_ = static_cast<std::byte*>(p);
  // Small pages, as an interpreter's heap has: with transparent huge pages a 1 GiB ballast
  // would be 512 entries for fork to copy instead of 262144, hiding the cost users meet.
  madvise(p, b->bytes_, MADV_NOHUGEPAGE);
  for (std::size_t off = 0; off < b->bytes_; off += b->page_) b->p_[off] = std::byte(off / b->page_);
  return {std::move(b), {}};
}

Ballast::~Ballast() {
  if (p_) munmap(p_, bytes_);
}

Status measure_cow_ns_per_page(const Ballast& b, double& ns_per_page, std::string& why) {
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0) {
    why = sys_error("pipe2");
    return Status::Sys("pipe2");
  }
  const std::size_t pages = std::min(b.pages(), kCowPagesMax);
  std::byte* const base = b.data();
  const std::size_t step = b.page_bytes();
  LaunchSpec spec;
  spec.role = "cow";
  spec.inherit = {fds[1]};
  spec.body = [&]() -> int {
        const std::uint64_t t0 = TickClock::now();
        for (std::size_t i = 0; i < pages; ++i) base[i * step] = std::byte(0xA5);
        const std::uint64_t t1 = TickClock::now();
        const double ns = TickClock::get().to_ns(t1 - t0) / double(pages);
        return write(fds[1], &ns, sizeof ns) == sizeof ns ? 0 : 1;
      };
  const pid_t pid = launch(PeerKind::kFork, std::move(spec), why).pid;
  close(fds[1]);
  if (pid < 0) {
    close(fds[0]);
    return Status::Sys("fork");
  }
  double ns = 0;
  ssize_t n;
  do n = read(fds[0], &ns, sizeof ns);
  while (n < 0 && errno == EINTR);
  close(fds[0]);
  std::vector<pid_t> kids{pid};
  if (Status st = reap_children(kids, std::chrono::seconds(10), why); !st) return st;
  if (n != sizeof ns) {
    why = "the copy-on-write child sent no measurement";
    return Status::Closed("cow child");
  }
  ns_per_page = ns;
  return Status::Ok();
}

}  // namespace ipcm
