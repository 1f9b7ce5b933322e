// Status and Result<T>: what every fallible call of the API returns. A failed status
// carries a code and a message that names the node, the values and what was expected.
// Header-only, so that nothing of it crosses the library's ABI but two strings' worth.
#ifndef TILEFUSE_STATUS_H_
#define TILEFUSE_STATUS_H_

#include <cstdlib>
#include <string>
#include <utility>
#include <variant>

namespace tilefuse {

// The codes tilefuse uses (the numbers of the canonical gRPC / Abseil codes).
enum class StatusCode : int {
  kOk = 0,
  kCancelled = 1,
  kUnknown = 2,
  kInvalidArgument = 3,
  kNotFound = 5,
  kAlreadyExists = 6,
  kResourceExhausted = 8,
  kFailedPrecondition = 9,
  kOutOfRange = 11,
  kUnimplemented = 12,
  kInternal = 13,
  kUnavailable = 14,
};

class Status {
 public:
  Status() = default;  // ok
  Status(StatusCode code, std::string message) : code_(code), message_(std::move(message)) {}

  bool ok() const { return code_ == StatusCode::kOk; }
  StatusCode code() const { return code_; }
  const std::string& message() const { return message_; }
  // "OK", or the code's name and the message.
  std::string ToString() const {
    if (ok()) return "OK";
    return std::string(CodeName(code_)) + ": " + message_;
  }
  static const char* CodeName(StatusCode code) {
    switch (code) {
      case StatusCode::kOk: return "OK";
      case StatusCode::kCancelled: return "CANCELLED";
      case StatusCode::kInvalidArgument: return "INVALID_ARGUMENT";
      case StatusCode::kNotFound: return "NOT_FOUND";
      case StatusCode::kAlreadyExists: return "ALREADY_EXISTS";
      case StatusCode::kResourceExhausted: return "RESOURCE_EXHAUSTED";
      case StatusCode::kFailedPrecondition: return "FAILED_PRECONDITION";
      case StatusCode::kOutOfRange: return "OUT_OF_RANGE";
      case StatusCode::kUnimplemented: return "UNIMPLEMENTED";
      case StatusCode::kInternal: return "INTERNAL";
      case StatusCode::kUnavailable: return "UNAVAILABLE";
      default: return "UNKNOWN";
    }
  }

 private:
  StatusCode code_ = StatusCode::kOk;
  std::string message_;
};

// A value or the status that says why there is none.
template <class T>
class Result {
 public:
  Result(T value) : v_(std::move(value)) {}  // NOLINT: implicit, as a return value
  Result(Status status) : v_(std::move(status)) {  // NOLINT
    if (std::get<Status>(v_).ok()) v_ = Status(StatusCode::kInternal, "Result built from an ok status");
  }

  bool ok() const { return v_.index() == 0; }
  // Ok when there is a value.
  Status status() const { return ok() ? Status() : std::get<Status>(v_); }
  // The value; calling these without one aborts (check ok() first).
  T& value() & { return Get(); }
  const T& value() const& { return const_cast<Result*>(this)->Get(); }
  T&& value() && { return std::move(Get()); }
  T& operator*() & { return Get(); }
  const T& operator*() const& { return const_cast<Result*>(this)->Get(); }
  T* operator->() { return &Get(); }
  const T* operator->() const { return &const_cast<Result*>(this)->Get(); }

 private:
  T& Get() {
    if (!ok()) std::abort();
    return std::get<0>(v_);
  }
  std::variant<T, Status> v_;
};

}  // namespace tilefuse

// Returns a failed status from the enclosing function (which returns Status or Result).
#define TILEFUSE_RETURN_IF_ERROR(expr)                          \
  do {                                                          \
    ::tilefuse::Status tilefuse_status_ = (expr);               \
    if (!tilefuse_status_.ok()) return tilefuse_status_;        \
  } while (0)

#endif  // TILEFUSE_STATUS_H_
