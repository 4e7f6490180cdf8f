// libFuzzer target: the manifest loader must never crash, hang or leak on any input, YAML or
// JSON, and every error it reports must say something.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "policy/evaluator.h"
#include "policy/lint.h"
#include "policy/loader.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  // The first byte picks the decoder, so both get exercised.
  const bool json = size > 0 && (data[0] & 1);
  policy::Loader loader;
  loader.add_text(text, json ? "fuzz.json" : "fuzz.yaml");
  auto r = std::move(loader).finish();
  for (const auto& e : r.errors) {
    if (e.error.message.empty()) std::abort();
  }
  // Whatever loaded must also evaluate and lint without trouble.
  const policy::Evaluator ev(r.cluster);
  (void)policy::lint(ev);
  for (const auto& a : r.cluster.pods) {
    for (const auto& b : r.cluster.pods) {
      (void)ev.allowed(policy::Evaluator::pod_flow(a, b, 80, policy::Protocol::kTCP));
    }
  }
  return 0;
}
