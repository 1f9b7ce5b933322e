#include "runtime/log.h"

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>

namespace tilefuse::internal {
namespace {

LogLevel LevelFromEnv() {
  const char* v = std::getenv("TILEFUSE_LOG_LEVEL");
  if (v == nullptr) return LogLevel::kWarning;
  for (LogLevel l : {LogLevel::kError, LogLevel::kWarning, LogLevel::kInfo, LogLevel::kDebug}) {
    if (std::string_view(v) == LogLevelName(l)) return l;
  }
  return LogLevel::kWarning;
}

struct State {
  std::mutex mu;
  Logger logger;  // null: standard error
  LogLevel level = LevelFromEnv();
};

State& GetState() {
  static State* s = new State();  // never destroyed: logging works during static teardown
  return *s;
}

}  // namespace

std::string_view LogLevelName(LogLevel level) {
  switch (level) {
    case LogLevel::kError: return "error";
    case LogLevel::kWarning: return "warning";
    case LogLevel::kInfo: return "info";
    case LogLevel::kDebug: return "debug";
  }
  return "?";
}

void SetLogger(Logger logger, LogLevel level) {
  State& s = GetState();
  std::lock_guard<std::mutex> lock(s.mu);
  s.logger = std::move(logger);
  s.level = s.logger ? level : LevelFromEnv();
}

LogLevel CurrentLogLevel() {
  State& s = GetState();
  std::lock_guard<std::mutex> lock(s.mu);
  return s.level;
}

void Log(LogLevel level, std::string_view message) {
  State& s = GetState();
  std::lock_guard<std::mutex> lock(s.mu);  // one message at a time, whole
  if (static_cast<int>(level) > static_cast<int>(s.level)) return;
  if (s.logger) {
    s.logger(level, message);
    return;
  }
  std::fprintf(stderr, "tilefuse %s: %.*s\n", std::string(LogLevelName(level)).c_str(),
               static_cast<int>(message.size()), message.data());
}

}  // namespace tilefuse::internal
