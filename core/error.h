// normlab error types and checks.
//
// Every user-facing failure is a normlab::Error (or a subclass) whose what() is one line that names
// the problem and, where there is one, the fix. apps/ catch it, print it on stderr and exit 2.
#pragma once
#include <sstream>
#include <stdexcept>
#include <string>

namespace normlab {

struct Error : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// Bad user input (CLI values, data files): the app exits with code 2.
struct InputError : Error {
  using Error::Error;
};

// A file could not be written (disk full, folder not writable): the app exits with code 4.
struct IoError : Error {
  using Error::Error;
};

namespace detail {
template <typename... Args>
std::string concat(Args&&... args) {
  std::ostringstream os;
  (os << ... << args);
  return os.str();
}
}  // namespace detail

}  // namespace normlab

// NL_CHECK(cond, parts...): throws normlab::Error("<parts...>") when cond is false.
#define NL_CHECK(cond, ...)                                                   \
  do {                                                                        \
    if (!(cond)) throw ::normlab::Error(::normlab::detail::concat(__VA_ARGS__)); \
  } while (0)
