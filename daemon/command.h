// The subcommands of the `nightshift` binary. Each takes the arguments after its
// name and returns the process exit code: 0 ok, 1 a failure the user must act
// on, 2 usage.
#pragma once

namespace nightshift::cli {

constexpr int kExitOk = 0;
constexpr int kExitFailure = 1;
constexpr int kExitUsage = 2;

int check_command(int argc, char** argv);
int calendar_command(int argc, char** argv);
int run_command(int argc, char** argv);
int serve_command(int argc, char** argv);
int status_command(int argc, char** argv);
int rerun_command(int argc, char** argv);
int logs_command(int argc, char** argv);
int cancel_command(int argc, char** argv);
int health_command(int argc, char** argv);
int plan_command(int argc, char** argv);
int why_command(int argc, char** argv);
int pause_command(int argc, char** argv);
int unpause_command(int argc, char** argv);
int backfill_command(int argc, char** argv);

}  // namespace nightshift::cli
