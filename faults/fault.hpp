#pragma once
// Fault kinds. A fault is planned into one concrete action per target node:
// an inject command, a verify command (exit 0 proves the fault took effect)
// and a heal command (idempotent; empty when there is nothing to undo). The
// commands run on the node over SSH, or on the harness host (power).
#include <chrono>
#include <stdexcept>
#include <string>

#include "haverify/config/inventory.hpp"
#include "haverify/config/scenario.hpp"
#include "haverify/core/errors.hpp"

namespace haverify::faults {

// A fault that cannot be applied or did not take effect: haverify failed
// (exit 3, core/errors.hpp).
class FaultError : public HarnessFailure {
 public:
  using HarnessFailure::HarnessFailure;
};

struct FaultAction {
  std::string kind;
  std::string node;
  std::string description;
  std::string where = "ssh";  // ssh (on the node) | local (harness host)
  std::string inject_command;
  std::string verify_command;  // empty: nothing to verify
  std::string heal_command;    // empty: nothing to heal
  // A harness-host command that exits 0 when the node is powered off (its
  // power controller's status). Set for faults that live inside the node
  // (LAN cuts, paused processes): a power-off wipes them, as a reboot does,
  // so when their heal cannot reach a node that is off there is nothing left
  // to heal. Empty when the node's power status cannot be read locally.
  std::string void_if_off;
  // A cut that heals itself on the node (lan_cut self_heal): inject_command
  // only arms a detached script there, which makes the cut `arm` after the
  // command was sent and heals it `lasts` later, whether haverify can reach
  // the node or not. heal_command then checks the script's log on the node
  // (exit 4: not healed yet); ledger_heal is the plain heal, for `haverify
  // heal` after a crash. `arm` 0: an ordinary fault.
  std::chrono::milliseconds arm{0};
  std::chrono::milliseconds lasts{0};
  std::string ledger_heal;
};

// heal_command's exit status for a self-healing fault that has not healed
// itself yet (the node answered before its timer ran out).
inline constexpr int kNotHealedYet = 4;

// Throws FaultError if the fault cannot be applied to this node (e.g. the
// node has no interface on the LAN).
// `tag` distinguishes actions (e.g. "f1-2"); it names per-action files on the node.
FaultAction plan_fault(const FaultSpec& spec, const Inventory& inv, const NodeSpec& node, const std::string& tag = "0");

// For the named managed processes (corosync, pacemakerd, pacemaker-controld,
// pacemaker-execd, pacemaker-based, patroni, etcd; the three Pacemaker 2.x
// daemons also match their 1.1 names crmd, lrmd and cib): the `pgrep -f` extended
// regex that selects them on a node; empty for any other selector.
std::string managed_process_regex(const std::string& selector);

// Power control through the node's controller (power_off, recover).
// status_is_off reads the node's power strictly: exit 0 off, 1 on, 2 (with
// the controller's answer on stderr) when the answer is neither; empty when
// the controller has no status (command, verify: none). on powers on only
// what is off, and fails on an unreadable status. verify_off: exit 0 once
// the node reads off (a BMC may take a moment), else non-zero.
struct PowerCommands {
  std::string where;  // local | ssh
  std::string off, on, status_is_off, verify_off;
};
PowerCommands power_commands(const Inventory& inv, const NodeSpec& node);

}  // namespace haverify::faults
