#include "policy/loader.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <iterator>
#include <nlohmann/json.hpp>
#include <sstream>

#include "policy/yaml_json.h"

namespace policy {
namespace {

using json = nlohmann::json;
namespace fs = std::filesystem;

constexpr int kMaxJsonDepth = 64;  // as for YAML (yaml_json.cc)

bool has_manifest_extension(const fs::path& p) {
  const auto ext = p.extension().string();
  return ext == ".yaml" || ext == ".yml" || ext == ".json";
}

bool ends_with(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

std::string object_name(const json& obj, const std::string& kind) {
  const auto meta = obj.find("metadata");
  if (meta == obj.end() || !meta->is_object()) return kind;
  const auto name = meta->find("name");
  const auto ns = meta->find("namespace");
  std::string out = kind + " ";
  if (ns != meta->end() && ns->is_string())
    out += ns->get<std::string>() + "/";
  else if (kind != "Namespace")
    out += std::string(kDefaultNamespace) + "/";
  out += name != meta->end() && name->is_string() ? name->get<std::string>() : "<unnamed>";
  return out;
}

std::string key_of(const Pod& p) {
  return "Pod " + p.key();
}
std::string key_of(const NetworkPolicy& p) {
  return "NetworkPolicy " + p.key();
}

}  // namespace

std::string Diagnostic::str() const {
  std::string out = source;
  if (!object.empty()) out += (out.empty() ? "" : ": ") + object;
  return out + (out.empty() ? "" : ": ") + error.str();
}

void Loader::error(const std::string& source, const std::string& object, FieldError e) {
  r_.errors.push_back({source, object, std::move(e)});
}

void Loader::add_path(const std::string& path) {
  if (path == "-") {
    std::string text(std::istreambuf_iterator<char>(std::cin), {});
    add_text(text, "<stdin>");
    return;
  }
  std::error_code ec;
  const fs::path p(path);
  if (fs::is_directory(p, ec)) {
    std::vector<fs::path> files;
    for (fs::recursive_directory_iterator it(p, ec), end; !ec && it != end; it.increment(ec)) {
      if (it->is_regular_file() && has_manifest_extension(it->path())) files.push_back(it->path());
    }
    if (ec) error(path, "", {"", "cannot read directory: " + ec.message()});
    std::sort(files.begin(), files.end());  // deterministic: later files override earlier ones
    for (const auto& f : files) add_path(f.string());
    return;
  }
  std::ifstream in(p, std::ios::binary);
  if (!in) {
    error(path, "", {"", fs::exists(p, ec) ? "cannot read file" : "no such file or directory"});
    return;
  }
  std::stringstream ss;
  ss << in.rdbuf();
  add_text(ss.str(), path);
}

void Loader::add_text(std::string_view text, const std::string& name) {
  ++r_.files;
  std::vector<json> docs;
  if (ends_with(name, ".json")) {
    // Values nested deeper than any manifest are dropped while parsing, before anything
    // recursive (dump, parse) can run out of stack on them.
    bool too_deep = false;
    const json::parser_callback_t depth_guard = [&](int depth, json::parse_event_t, json&) {
      if (depth > kMaxJsonDepth) too_deep = true;
      return depth <= kMaxJsonDepth;
    };
    json doc = json::parse(text, depth_guard, /*allow_exceptions=*/false);
    if (too_deep) {
      error(name, "",
            {"", "JSON: nested more than " + std::to_string(kMaxJsonDepth) + " levels deep"});
      return;
    }
    if (doc.is_discarded()) {
      error(name, "", {"", "JSON: not a valid JSON document"});
      return;
    }
    docs.push_back(std::move(doc));
  } else {
    auto parsed = yaml_to_json(text);
    if (!parsed.error.empty()) {
      error(name, "", {"", parsed.error});
      return;
    }
    docs = std::move(parsed.docs);
  }
  const bool numbered = docs.size() > 1;
  for (size_t i = 0; i < docs.size(); ++i) {
    if (docs[i].is_null()) continue;  // an empty document ("---" at the end)
    ++r_.documents;
    add_document(docs[i], numbered ? name + ", document " + std::to_string(i + 1) : name);
  }
}

void Loader::add_document(const json& doc, const std::string& source) {
  if (!doc.is_object()) {
    error(source, "",
          {"", "a Kubernetes object must be a map, not " +
                   doc.dump(-1, ' ', false, json::error_handler_t::replace).substr(0, 40)});
    return;
  }
  const auto kind = doc.find("kind");
  if (kind != doc.end() && kind->is_string() && ends_with(kind->get<std::string>(), "List")) {
    const auto items = doc.find("items");
    if (items == doc.end() || items->is_null()) return;  // an empty list
    if (!items->is_array()) {
      error(source, "", {"items", "Invalid value: must be a list"});
      return;
    }
    for (size_t i = 0; i < items->size(); ++i) {
      add_object((*items)[i], source + ", items[" + std::to_string(i) + "]");
    }
    return;
  }
  add_object(doc, source);
}

void Loader::add_object(const json& obj, const std::string& source) {
  if (!obj.is_object()) {
    error(source, "", {"", "a Kubernetes object must be a map"});
    return;
  }
  const auto kind_it = obj.find("kind");
  if (kind_it == obj.end() || !kind_it->is_string()) {
    error(source, "", {"kind", "Required value: every object needs a kind"});
    return;
  }
  const auto kind = kind_it->get<std::string>();
  const auto api_it = obj.find("apiVersion");
  const std::string api =
      api_it != obj.end() && api_it->is_string() ? api_it->get<std::string>() : "";
  const std::string expected = kind == "NetworkPolicy" ? "networking.k8s.io/v1" : "v1";
  if (kind != "Pod" && kind != "Namespace" && kind != "NetworkPolicy") {
    ++r_.skipped_kinds[kind];
    return;
  }
  const auto name = object_name(obj, kind);
  if (api != expected) {
    error(source, name,
          {"apiVersion",
           "Unsupported value: \"" + api + "\": supported values: \"" + expected + "\""});
    return;
  }
  FieldErrors errs;
  if (kind == "Namespace") {
    if (auto ns = parse_namespace(obj, errs)) {
      auto [it, fresh] = seen_ns_.try_emplace(ns->name, Seen{source});
      if (!fresh) {
        r_.warnings.push_back(
            {source,
             name,
             {"", "defined again (first in " + it->second.source + "); this definition wins"}});
      }
      r_.cluster.namespaces[ns->name] = std::move(*ns);
    }
  } else if (kind == "Pod") {
    if (auto pod = parse_pod(obj, errs)) store(r_.cluster.pods, std::move(*pod), kind, source);
  } else if (auto np = parse_network_policy(obj, errs)) {
    store(r_.cluster.policies, std::move(*np), kind, source);
  }
  for (auto& e : errs) error(source, name, std::move(e));
}

template <typename T>
void Loader::store(std::vector<T>& into, T obj, const std::string&, const std::string& source) {
  const auto key = key_of(obj);
  auto [it, fresh] = seen_.try_emplace(key, Seen{source});
  if (fresh) {
    into.push_back(std::move(obj));
    return;
  }
  r_.warnings.push_back(
      {source,
       key,
       {"", "defined again (first in " + it->second.source + "); this definition wins"}});
  for (auto& existing : into) {
    if (key_of(existing) == key) existing = std::move(obj);
  }
}

LoadResult Loader::finish() && {
  r_.cluster.finalize();
  for (const auto& [name, ns] : r_.cluster.namespaces) {
    if (ns.declared) continue;
    r_.warnings.push_back({"",
                           "Namespace " + name,
                           {"", "not in the input; assumed to carry only the label " +
                                    std::string(kNamespaceNameLabel) + "=" + name}});
  }
  return std::move(r_);
}

LoadResult load_paths(const std::vector<std::string>& paths) {
  Loader loader;
  for (const auto& p : paths) loader.add_path(p);
  return std::move(loader).finish();
}

}  // namespace policy
