// The error hierarchy and VLM_CHECK. Library code never exits; it throws one of these.
// Message shape: "[component] what: expected X, got Y (where). Hint: ..."
#pragma once
#include <sstream>
#include <stdexcept>
#include <string>

namespace vlm {

struct error : std::runtime_error {
  using std::runtime_error::runtime_error;
};
struct io_error : error { using error::error; };       // files: missing, unreadable, short
struct format_error : error { using error::error; };   // bytes or text that do not parse
struct shape_error : error { using error::error; };    // tensor shapes that do not fit
struct config_error : error { using error::error; };   // config.json / flags
struct cuda_error : error { using error::error; };     // CUDA runtime / cuBLAS failures
struct numeric_error : error { using error::error; };  // NaN / Inf where a number is needed

namespace detail {
template <class... Parts>
std::string concat(const Parts&... parts) {
  std::ostringstream os;
  (os << ... << parts);
  return os.str();
}
}  // namespace detail

// Throws E with all parts streamed together.
template <class E = error, class... Parts>
[[noreturn]] void fail(const Parts&... parts) {
  throw E(detail::concat(parts...));
}

}  // namespace vlm

// VLM_CHECK(cond, "what", value, ...) throws vlm::error naming the function.
// VLM_CHECK_AS(shape_error, cond, ...) picks the exception type.
#define VLM_CHECK_AS(E, cond, ...)                                              \
  do {                                                                          \
    if (!(cond)) ::vlm::fail<::vlm::E>("[", __func__, "] ", __VA_ARGS__);       \
  } while (0)
#define VLM_CHECK(cond, ...) VLM_CHECK_AS(error, cond, __VA_ARGS__)
