// The seam between the informers and HTTP: GET a whole body, or GET a body that streams
// (a watch) and hand it over piece by piece as it arrives. HttpTransport speaks to the API
// server over cpprestsdk; tests use scripted fakes.
#pragma once

#include <functional>
#include <string>
#include <string_view>

#include "watch/result.h"

namespace watch {

struct HttpResponse {
  int status = 0;
  std::string body;  // for stream(): only when status is not 200
};

class Transport {
 public:
  virtual ~Transport() = default;

  // GET `target` (path and query, e.g. "/api/v1/pods?limit=500").
  virtual Result<HttpResponse> get(const std::string& target) = 0;

  // GET `target` and call `on_data` with each piece of the body as it arrives (pieces split
  // anywhere); when it returns false the request is abandoned (connection closed). Returns
  // status 200 when the server ended the body or on_data stopped it, the status and whole
  // body for any other status, or an error (connection lost, idle timeout, cancel()).
  virtual Result<HttpResponse> stream(const std::string& target,
                                      const std::function<bool(std::string_view)>& on_data) = 0;

  // Makes every running and later get()/stream() return Errc::cancelled (shutdown).
  virtual void cancel() = 0;
};

}  // namespace watch
