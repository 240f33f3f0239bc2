#pragma once
// Which node took each acknowledged write, and whether two nodes took
// acknowledged writes in overlapping time: the split brain shown by the
// writes themselves, through pgpool, a VIP or a host list, with no probe
// needed on the old primary (docs/checkers.md, single_writer). Internal to
// the single_writer pass.
#include <cstdint>
#include <map>
#include <string>
#include <tuple>
#include <vector>

#include "haverify/check/checker.hpp"
#include "pass_text.hpp"

namespace haverify::detail {

// Acknowledged writes counted per 100 ms (4 bytes a bucket, 144 KB an hour,
// whatever the write rate): enough to say how many fell in a window.
class AckBuckets {
 public:
  static constexpr Nanos kBucket = 100'000'000;
  void add(Nanos t);
  // The acks in the buckets that overlap [from, to].
  std::uint64_t in(Nanos from, Nanos to) const;

 private:
  Nanos t0_ = 0;
  std::vector<std::uint32_t> counts_;
};

// A run of one server's acknowledged writes with no gap longer than the
// attribution gap between two acks. The server surely committed a write at
// or before first_ok and another at or after last_invoke: in between it took
// writes all along (to within the gap).
struct WriteWindow {
  Nanos first_ok = 0;
  Nanos last_ok = 0;
  Nanos last_invoke = 0;
  std::uint64_t acks = 0;
};

// The server a client's connection reached, from its `server` op: the
// instance (postmaster start, µs) and the address and port it saw.
struct ServerKey {
  std::int64_t instance = 0;
  std::string addr;
  int port = 0;
  std::string why;  // why the connection's server is not known (a failed `server` op)
  auto operator<=>(const ServerKey&) const = default;
};

class WriteAttribution {
 public:
  // node_of_address: every inventory address (without prefix) -> node.
  // gap: acks of one server further apart than this start a new window.
  WriteAttribution(std::map<std::string, std::string> node_of_address, Nanos gap)
      : node_of_address_(std::move(node_of_address)), gap_(gap) {}

  // The clients' server, invoke and ok ops.
  void observe(const Op& op);
  // A probe sample of `node` named this server instance (single_writer parses the samples).
  void note_instance(std::int64_t instance, const std::string& node) { node_of_instance_[instance] = node; }
  // Adds the figures attributed_writes, unattributed_writes, write_nodes,
  // write_overlap_windows, write_overlap_s and the reasons; true when two
  // nodes took acknowledged writes in overlapping time.
  bool finish(CheckerVerdict& v, const TimeRef& tr) const;

 private:
  struct Track {
    std::vector<WriteWindow> windows;
    AckBuckets buckets;
  };
  struct NodeWrites {
    std::vector<WriteWindow> windows;
    std::vector<const AckBuckets*> buckets;
    std::uint64_t acks = 0;
    std::vector<std::string> servers;  // "198.18.1.11:5432"
  };
  std::string node_of(const ServerKey& k) const;
  std::map<std::string, NodeWrites> by_node(std::map<std::string, std::uint64_t>& unattributed) const;

  std::map<std::string, std::string> node_of_address_;
  Nanos gap_;
  std::map<std::int64_t, std::string> node_of_instance_;  // from the probes' state samples
  std::map<std::string, ServerKey> current_;              // client process -> its connection's server
  std::map<std::string, Nanos> invoked_;                  // client process -> its write's invoke
  std::map<ServerKey, Track> tracks_;
};

}  // namespace haverify::detail
