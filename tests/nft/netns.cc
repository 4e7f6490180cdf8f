#include "netns.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sched.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

namespace nft::testing {

Output run(const std::string& command) {
  Output out;
  FILE* pipe = popen((command + " 2>&1").c_str(), "r");
  if (pipe == nullptr) {
    return out;
  }
  char buffer[4096];
  std::size_t n;
  while ((n = fread(buffer, 1, sizeof(buffer), pipe)) > 0) {
    out.text.append(buffer, n);
  }
  out.status = pclose(pipe);
  return out;
}

bool have(const char* tool) {
  return run(std::string("command -v ") + tool).status == 0;
}

std::unique_ptr<Netns> Netns::create(std::string& why_not) {
  if (geteuid() != 0) {
    return why_not = "needs root", nullptr;
  }
  if (!have("nft") || !have("ip")) {
    return why_not = "needs nft and ip", nullptr;
  }
  static std::atomic<int> counter{0};
  std::string name = "nftpol-test-" + std::to_string(getpid()) + "-" + std::to_string(counter++);
  Output o = run("ip netns add " + name);
  if (o.status != 0) {
    return why_not = "cannot create a network namespace: " + o.text, nullptr;
  }
  std::unique_ptr<Netns> ns(new Netns(name));
  // nf_tables must work inside it (module loaded, namespace usable).
  if (Output probe = ns->nft("list ruleset"); probe.status != 0) {
    return why_not = "nft does not work in a network namespace: " + probe.text, nullptr;
  }
  return ns;
}

Netns::Netns(std::string name) : name_(std::move(name)) {
  dir_ = std::filesystem::temp_directory_path() / name_;
  std::filesystem::create_directories(dir_);
}

Netns::~Netns() {
  (void)run("ip netns del " + name_);
  std::filesystem::remove_all(dir_);
}

Output Netns::nft(const std::string& args) {
  return run("ip netns exec " + name_ + " nft " + args);
}

Output Netns::nft_file(const std::string& text, bool check_only) {
  std::string path = dir_ + "/input.nft";
  std::ofstream(path) << text;
  return nft(std::string(check_only ? "-c " : "") + "-f " + path);
}

Result<std::unique_ptr<KernelNetlink>> Netns::open_netlink(KernelNetlinkOptions options) {
  std::optional<Result<std::unique_ptr<KernelNetlink>>> out;
  std::string path = "/run/netns/" + name_;
  std::thread thread([&] {
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0 || setns(fd, CLONE_NEWNET) != 0) {
      // Never fall back to the root namespace.
      out.emplace(make_error(Errc::io, "cannot enter " + path));
      if (fd >= 0) {
        close(fd);
      }
      return;
    }
    close(fd);
    out.emplace(KernelNetlink::open(options));
  });
  thread.join();
  return std::move(*out);
}

namespace {

std::string trim(std::string s) {
  auto issp = [](unsigned char c) { return std::isspace(c) != 0; };
  s.erase(s.begin(), std::find_if_not(s.begin(), s.end(), issp));
  s.erase(std::find_if_not(s.rbegin(), s.rend(), issp).base(), s.end());
  return s;
}

// `elements = { a, b,\n c }` spread over lines -> one line with sorted items.
std::string sorted_elements(const std::string& joined) {
  auto open = joined.find('{');
  auto close = joined.rfind('}');
  std::vector<std::string> items;
  std::stringstream in(joined.substr(open + 1, close - open - 1));
  for (std::string item; std::getline(in, item, ',');) {
    items.push_back(trim(item));
  }
  std::sort(items.begin(), items.end());
  std::string out = "elements = {";
  for (const std::string& item : items) {
    out += " " + item + ",";
  }
  return out + " }";
}

}  // namespace

std::string normalize_listing(const std::string& listing) {
  std::vector<std::string> blocks;
  std::string block, elements;
  std::stringstream in(listing);
  for (std::string line; std::getline(in, line);) {
    if (!elements.empty() || line.find("elements = {") != std::string::npos) {
      elements += " " + trim(line);
      if (line.find('}') == std::string::npos) {
        continue;
      }
      block += sorted_elements(elements) + "\n";
      elements.clear();
    } else if (line == "\t}") {
      blocks.push_back(block);
      block.clear();
    } else if (line.rfind('\t', 0) == 0) {
      block += trim(line) + "\n";
    }
  }
  std::sort(blocks.begin(), blocks.end());
  std::string out;
  for (const std::string& b : blocks) {
    out += b + "--\n";
  }
  return out;
}

std::string listing(Netns& ns, const std::string& table) {
  Output o = ns.nft("list table inet " + table);
  EXPECT_EQ(o.status, 0) << o.text;
  return normalize_listing(o.text);
}

}  // namespace nft::testing
