// Status and StatusOr: the error model of every refit API.
//
// No exception crosses a public refit API. A failed operation returns a non-OK Status whose message
// names what failed (file, tensor, node) and what was expected versus found. Status is cheap to
// copy when OK (no allocation). Both types are [[nodiscard]]: ignoring an error is a compile
// warning.
#pragma once

#include <cassert>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>

namespace refit {

enum class StatusCode {
  kOk = 0,
  kInvalidArgument,     // the caller passed something malformed (bad shape, bad name, bad file)
  kNotFound,            // a named file, tensor or node does not exist
  kUnimplemented,       // valid input that refit does not support (an operator, a dtype)
  kDataLoss,            // a file is truncated or corrupted (checksum, lying header)
  kFailedPrecondition,  // the object is not in a state to do this (e.g. a stripped engine unfilled)
  kOutOfRange,          // an index or value outside its allowed range
  kInternal,            // a bug in refit
  kIoError,             // the operating system refused (open, read, write, mmap)
};

std::string_view StatusCodeName(StatusCode code);

class [[nodiscard]] Status {
 public:
  Status() = default;
  Status(StatusCode code, std::string message);

  static Status Ok() { return Status(); }

  bool ok() const { return rep_ == nullptr; }
  StatusCode code() const { return rep_ ? rep_->code : StatusCode::kOk; }
  const std::string& message() const;
  // "INVALID_ARGUMENT: message", or "OK".
  std::string ToString() const;

  // Returns a copy whose message is "context: original message".
  Status WithContext(std::string_view context) const;

 private:
  struct Rep {
    StatusCode code;
    std::string message;
  };
  std::shared_ptr<const Rep> rep_;
};

Status InvalidArgument(std::string message);
Status NotFound(std::string message);
Status Unimplemented(std::string message);
Status DataLoss(std::string message);
Status FailedPrecondition(std::string message);
Status OutOfRange(std::string message);
Status Internal(std::string message);
Status IoError(std::string message);

template <typename T>
class [[nodiscard]] StatusOr {
 public:
  StatusOr(Status status) : v_(std::move(status)) {  // NOLINT(google-explicit-constructor)
    assert(!std::get<Status>(v_).ok() && "StatusOr built from an OK status");
  }
  StatusOr(T value) : v_(std::move(value)) {}  // NOLINT(google-explicit-constructor)

  bool ok() const { return std::holds_alternative<T>(v_); }
  Status status() const { return ok() ? Status() : std::get<Status>(v_); }

  T& value() & { return std::get<T>(v_); }
  const T& value() const& { return std::get<T>(v_); }
  T&& value() && { return std::get<T>(std::move(v_)); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T&& operator*() && { return std::move(*this).value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }

 private:
  std::variant<Status, T> v_;
};

}  // namespace refit

#define REFIT_CONCAT_INNER_(a, b) a##b
#define REFIT_CONCAT_(a, b) REFIT_CONCAT_INNER_(a, b)

// Returns from the enclosing function when `expr` yields a non-OK Status.
#define REFIT_RETURN_IF_ERROR(expr)                \
  do {                                             \
    ::refit::Status refit_status_ = (expr);        \
    if (!refit_status_.ok()) return refit_status_; \
  } while (0)

#define REFIT_ASSIGN_OR_RETURN_IMPL_(tmp, lhs, expr) \
  auto tmp = (expr);                                 \
  if (!tmp.ok()) return tmp.status();                \
  lhs = std::move(tmp).value()

// `REFIT_ASSIGN_OR_RETURN(auto x, F())` declares x from F()'s value or returns F()'s error.
#define REFIT_ASSIGN_OR_RETURN(lhs, expr) \
  REFIT_ASSIGN_OR_RETURN_IMPL_(REFIT_CONCAT_(refit_statusor_, __LINE__), lhs, expr)
