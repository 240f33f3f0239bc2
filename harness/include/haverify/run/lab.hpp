#pragma once
// Where the embedded lab lives (docs/lab.md), and running its script from
// C++ with a deadline, its output teed to a log file.
#include <chrono>
#include <string>
#include <vector>

#include "haverify/config/inventory.hpp"
#include "haverify/io/transport.hpp"

namespace haverify {

// Where haverify's data (lab/, scenarios/) lives: $HAVERIFY_DATA_DIR; else,
// installed (the .deb: /usr/bin/haverify), <exe>/../share/haverify when it
// holds lab/haverify-lab; else the source tree haverify was built from.
std::string data_dir();
// A helper binary installed next to haverify (<exe>/../lib/haverify/NAME),
// or "" when haverify runs from its build tree.
std::string installed_helper(const std::string& name);
// $HAVERIFY_LAB_DIR, or data_dir()/lab.
std::string lab_dir();
// lab_dir()/haverify-lab.
std::string lab_script_path();
// The pg_ctl drivers' (pgpool, generic) rejoin script: the inventory's
// driver.rejoin_script, else haverify's lab/scripts/pg-rejoin.sh (where
// haverify is installed, else in the source tree); RunOptions::rejoin_script
// overrides both.
std::string rejoin_script_for(const Inventory& inv);
// $HAVERIFY_LAB_STATE, or /var/lib/haverify-lab.
std::string lab_state_dir();
// lab_state_dir()/inventory.yaml: the inventory `haverify-lab up` writes.
std::string lab_inventory_path();
// True if a lab is up (or half up) in `state_dir`: its lab.env exists.
bool lab_is_up(const std::string& state_dir);

struct LabScriptOptions {
  std::string script;     // the haverify-lab script
  std::string state_dir;  // exported as HAVERIFY_LAB_STATE when not empty
  std::string log_path;   // output appended here (and echoed to stdout)
  std::chrono::milliseconds deadline{600000};
  bool interruptible = false;  // a cancel request (Ctrl-C) kills it
};

// Runs `script args...` with stdin /dev/null, its stdout and stderr appended
// to opts.log_path and echoed to stdout as they come. A non-zero exit, a
// deadline or an interruption is in the ExecResult (its out and err are
// left empty: the output is in the log), never thrown; throws
// std::runtime_error only if the log cannot be opened.
ExecResult run_lab_script(const std::vector<std::string>& args, const LabScriptOptions& opts);

}  // namespace haverify
