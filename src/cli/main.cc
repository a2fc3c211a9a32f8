#include <cstdio>
#include <map>
#include <string>

#include "cli/commands.h"

int main(int argc, char** argv) {
  CLI::App app{
      "refit: build, run and refit inference engines whose weights can change after "
      "they are built"};
  app.require_subcommand(1);
  app.set_version_flag("--version", "refit 0.1.0");
  std::map<CLI::App*, refit::cli::Command> commands;
  auto add = [&](auto adder) {
    const size_t before = app.get_subcommands({}).size();
    refit::cli::Command cmd = adder(app);
    commands[app.get_subcommands({})[before]] = std::move(cmd);
  };
  add(refit::cli::AddBuildCommand);
  add(refit::cli::AddRunCommand);
  add(refit::cli::AddUpdateCommand);
  add(refit::cli::AddInspectCommand);
  add(refit::cli::AddBenchCommand);
  add(refit::cli::AddCacheCommand);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  for (auto& [sub, cmd] : commands) {
    if (!sub->parsed()) continue;
    refit::Status s = cmd();
    if (!s.ok()) {
      std::fprintf(stderr, "refit %s: error: %s\n", sub->get_name().c_str(), s.message().c_str());
      return 1;
    }
    return 0;
  }
  return 2;
}
