// Test helpers for the CLI tests: run the `refit` binary as a user would and capture what it says.
#pragma once

#include <sys/wait.h>

#include <cstdio>
#include <string>

namespace refit::cli_testing {

struct Result {
  int code;
  std::string out;  // stdout and stderr together
};

inline Result Refit(const std::string& args) {
  const std::string cmd = std::string(REFIT_BINARY) + " " + args + " 2>&1";
  FILE* p = popen(cmd.c_str(), "r");
  Result r{-1, ""};
  if (!p) return r;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, p)) > 0) r.out.append(buf, n);
  const int status = pclose(p);
  r.code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  return r;
}

}  // namespace refit::cli_testing
