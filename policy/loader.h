// Loading manifests: YAML (multi-document) and JSON; single objects and `v1 List`s (what
// `kubectl get ns,pods,netpol -A -o yaml` prints); files and directories (recursive,
// .yaml/.yml/.json). Kinds other than Namespace, Pod and NetworkPolicy are skipped and
// counted. Nothing is dropped silently: each problem names file, document and field path.
#pragma once

#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "policy/cluster.h"
#include "policy/parse.h"

namespace policy {

struct Diagnostic {
  std::string source;  // "dir/policies.yaml, document 2" (items[3] for list entries)
  std::string object;  // "NetworkPolicy x/deny-all", when known
  FieldError error;
  std::string str() const;
};

struct LoadResult {
  Cluster cluster;
  std::vector<Diagnostic> errors;    // invalid input: the object was not loaded
  std::vector<Diagnostic> warnings;  // loaded, but worth knowing (duplicates, implied namespaces)
  std::map<std::string, int> skipped_kinds;
  int files = 0;
  int documents = 0;
  bool ok() const { return errors.empty(); }
};

class Loader {
 public:
  // Each path is a file, a directory (recursive) or "-" for standard input.
  void add_path(const std::string& path);
  // One file's text; `name` is used in messages and picks JSON for names ending ".json".
  void add_text(std::string_view text, const std::string& name);
  // Finalizes the cluster (sorting, implied namespaces) and hands the result over.
  LoadResult finish() &&;

 private:
  struct Seen {
    std::string source;
  };
  void add_document(const nlohmann::json& doc, const std::string& source);
  void add_object(const nlohmann::json& obj, const std::string& source);
  template <typename T>
  void store(std::vector<T>& into, T obj, const std::string& kind, const std::string& source);
  void error(const std::string& source, const std::string& object, FieldError e);

  LoadResult r_;
  std::map<std::string, Seen> seen_;  // "Kind ns/name" -> where it was first defined
  std::map<std::string, Seen> seen_ns_;
};

// Convenience: load every path into one cluster.
LoadResult load_paths(const std::vector<std::string>& paths);

}  // namespace policy
