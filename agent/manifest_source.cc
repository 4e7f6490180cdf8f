#include "agent/manifest_source.h"

#include <poll.h>
#include <sys/inotify.h>
#include <unistd.h>

#include <filesystem>
#include <set>

namespace agent {
namespace fs = std::filesystem;

LoadOutcome load_manifests(const std::vector<std::string>& paths) {
  auto r = policy::load_paths(paths);
  LoadOutcome out;
  std::vector<policy::Diagnostic> skipped;
  for (auto& d : r.errors) {
    (d.object.empty() ? out.fatal : skipped).push_back(std::move(d));
  }
  if (!out.fatal.empty()) return out;
  out.snapshot =
      Snapshot{std::move(r.cluster), std::move(skipped), static_cast<std::size_t>(r.files)};
  return out;
}

ManifestWatcher::ManifestWatcher(std::vector<std::string> paths)
    : paths_(std::move(paths)), fd_(inotify_init1(IN_NONBLOCK | IN_CLOEXEC)) {
  rewatch();
}

ManifestWatcher::~ManifestWatcher() {
  if (fd_ >= 0) ::close(fd_);
}

void ManifestWatcher::rewatch() {
  if (fd_ < 0) return;
  for (int wd : watches_) inotify_rm_watch(fd_, wd);
  watches_.clear();
  std::set<std::string> dirs;
  for (const auto& p : paths_) {
    std::error_code ec;
    if (fs::is_directory(p, ec)) {
      dirs.insert(p);
      for (fs::recursive_directory_iterator it(p, ec), end; !ec && it != end; it.increment(ec)) {
        if (it->is_directory(ec)) dirs.insert(it->path().string());
      }
    } else {
      const auto parent = fs::path(p).parent_path();
      dirs.insert(parent.empty() ? "." : parent.string());
    }
  }
  constexpr std::uint32_t kMask = IN_CLOSE_WRITE | IN_MOVED_TO | IN_MOVED_FROM | IN_CREATE |
                                  IN_DELETE | IN_DELETE_SELF | IN_MOVE_SELF | IN_ATTRIB;
  for (const auto& d : dirs) {
    const int wd = inotify_add_watch(fd_, d.c_str(), kMask);
    if (wd >= 0) watches_.push_back(wd);
  }
}

// Reads all pending events; true if there were any.
bool ManifestWatcher::drain(int timeout_ms) {
  pollfd pfd{.fd = fd_, .events = POLLIN};
  if (::poll(&pfd, 1, timeout_ms) <= 0) return false;
  alignas(inotify_event) char buf[16384];
  bool any = false;
  while (::read(fd_, buf, sizeof buf) > 0) any = true;
  return any;
}

bool ManifestWatcher::wait(std::chrono::milliseconds timeout, std::chrono::milliseconds quiet) {
  if (fd_ < 0) {
    ::usleep(static_cast<useconds_t>(timeout.count()) * 1000);
    return false;
  }
  if (!drain(static_cast<int>(timeout.count()))) return false;
  while (drain(static_cast<int>(quiet.count()))) {
  }
  rewatch();  // directories may have come or gone
  return true;
}

}  // namespace agent
