// The static source of cluster state: manifests on disk (files or directories, as
// policy-dry-run reads them), and inotify to notice when they change.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "policy/loader.h"

namespace agent {

struct Snapshot {
  policy::Cluster cluster;
  std::vector<policy::Diagnostic> skipped;  // invalid objects, left out
  std::size_t files = 0;
};

// Loads every path. A file that cannot be read or parsed (or a document that is not an
// object) makes the whole snapshot unusable: applying the rest would silently drop the
// policies it holds. Invalid objects are only left out, as the API server would refuse them.
struct LoadOutcome {
  std::optional<Snapshot> snapshot;
  std::vector<policy::Diagnostic> fatal;
};
LoadOutcome load_manifests(const std::vector<std::string>& paths);

// Watches the paths (directories recursively, files through their directory, so that
// editors replacing a file by rename are seen).
class ManifestWatcher {
 public:
  explicit ManifestWatcher(std::vector<std::string> paths);
  ~ManifestWatcher();
  ManifestWatcher(const ManifestWatcher&) = delete;
  ManifestWatcher& operator=(const ManifestWatcher&) = delete;

  bool ok() const { return fd_ >= 0; }
  // Waits up to `timeout` for a change; after the first event, waits for `quiet` without
  // further events (editors write in several steps). True if something changed.
  bool wait(std::chrono::milliseconds timeout, std::chrono::milliseconds quiet);

 private:
  void rewatch();
  bool drain(int timeout_ms);

  std::vector<std::string> paths_;
  int fd_ = -1;
  std::vector<int> watches_;
};

}  // namespace agent
