// The read_your_writes checker over synthetic reads-workload histories.
#include <catch2/catch.hpp>

#include <string>

#include <fmt/format.h>

#include "checker_fixtures.hpp"
#include "haverify/check/read_your_writes.hpp"

using namespace haverify;
using namespace haverify::testing;

namespace {

// One completed read by reader-`client` of row `id`, served by addr:port.
void read(Hist& h, int client, std::int64_t id, bool own, bool seen, const std::string& addr, Nanos t,
          const std::string& visible = "") {
  const std::string p = fmt::format("reader-{}", client);
  h.add(p, OpType::invoke, "read", std::to_string(id), t);
  std::string v = fmt::format(R"({{"id":{},"own":{},"seen":{},"since_ack_ms":0.42,"addr":"{}","port":5432,)"
                              R"("instance":1796550000123456)",
                              id, own, seen, addr);
  if (!seen) v += fmt::format(R"(,"visible_after_ms":{},"rereads":3)", visible.empty() ? "null" : visible);
  h.add(p, OpType::ok, "read", v + "}", t + 1);
}

ReadYourWritesOptions opts(std::int64_t max_stale = 0, std::int64_t max_foreign = -1) {
  ReadYourWritesOptions o;
  o.node_of_address = {{"198.18.1.11", "node1"}, {"198.18.1.12", "node2"}};
  o.max_stale = max_stale;
  o.max_stale_foreign = max_foreign;
  return o;
}

}  // namespace

TEST_CASE("read_your_writes: every read saw its row: pass with the counts", "[unit]") {
  Hist h;
  for (int i = 0; i < 4; ++i) read(h, i % 2, 100 + i, i != 3, true, i % 2 ? "198.18.1.12" : "198.18.1.11", i * 10);
  h.add("reader-0", OpType::info, "read", "104", 50, "", "connection lost");  // not a completed read
  const auto v = ReadYourWritesChecker(opts()).check(h.ops, {});
  INFO(dump(v));
  CHECK(v.status == CheckStatus::pass);
  CHECK(fig(v, "reads_ok") == 4);
  CHECK(fig(v, "reads_stale") == 0);
  CHECK(fig(v, "read_staleness_ms") == 0);
  // Which node served the reads: a figure per node, and one line.
  CHECK(fig(v, "reads_on_node1") == 2);
  CHECK(fig(v, "reads_on_node2") == 2);
  CHECK(fig(v, "reads_stale_on_node2") == 0);
  CHECK(has_reason(v, "reads served by: node1 2, node2 2"));
}

TEST_CASE("read_your_writes: a stale read of the client's own row fails, named per node", "[unit]") {
  Hist h;
  read(h, 0, 100, true, true, "198.18.1.11", 0);
  read(h, 0, 101, true, false, "198.18.1.12", 10, "3.5");
  read(h, 1, 102, false, false, "198.18.1.12", 20);  // another client's row, never seen again
  read(h, 1, 103, true, false, "10.9.9.9", 30, "1.25");
  const auto v = ReadYourWritesChecker(opts()).check(h.ops, {});
  INFO(dump(v));
  CHECK(v.status == CheckStatus::fail);
  CHECK(fig(v, "reads_ok") == 4);
  CHECK(fig(v, "reads_stale") == 2);
  CHECK(fig(v, "reads_stale_foreign") == 1);
  CHECK(fig(v, "reads_stale_unresolved") == 1);
  CHECK(fig(v, "read_staleness_ms") == Approx(3.5));
  CHECK(has_reason(v, "node2: 2 of 2 reads stale (1 of the client's own rows, 1 of others')"));
  CHECK(has_reason(v, "10.9.9.9:5432: 1 of 1 reads stale"));
  CHECK(has_reason(v, "not seen by any re-read"));
  CHECK(fig(v, "reads_stale_on_node2") == 2);
  CHECK(fig(v, "reads_on_10.9.9.9:5432") == 1);
  // Within the bounds the scenario allows: pass, the counts kept.
  const auto allowed = ReadYourWritesChecker(opts(2)).check(h.ops, {});
  CHECK(allowed.status == CheckStatus::pass);
  CHECK(fig(allowed, "reads_stale") == 2);
  CHECK(ReadYourWritesChecker(opts(2, 0)).check(h.ops, {}).status == CheckStatus::fail);
}

TEST_CASE("read_your_writes: no completed read, or a read op it cannot read, is unknown", "[unit]") {
  Hist none;
  none.add("reader-0", OpType::invoke, "read", "100", 0);
  none.add("reader-0", OpType::fail, "read", "100", 1, "", "read-only");
  const auto v = ReadYourWritesChecker(opts()).check(none.ops, {});
  CHECK(v.status == CheckStatus::unknown);
  CHECK(has_reason(v, "no read completed"));

  Hist bad;
  read(bad, 0, 100, true, true, "198.18.1.11", 0);
  bad.add("reader-0", OpType::ok, "read", R"({"id":"x"})", 5);
  const auto b = ReadYourWritesChecker(opts()).check(bad.ops, {});
  CHECK(b.status == CheckStatus::unknown);
  CHECK(fig(b, "reads_bad") == 1);
}
