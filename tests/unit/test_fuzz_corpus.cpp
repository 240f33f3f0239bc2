// The fuzz regression corpus (tests/fuzz/corpus-regress/<reader>/): every
// file is fed to its reader through the fuzzers' own entry; it must parse or
// be refused with a usage error (exit 2), never crash nor throw anything else
// (the ASan/UBSan unit build of tests/run.sh catches memory errors and UB).
#include <catch2/catch.hpp>

#include <filesystem>
#include <string>

#include "../fuzz/readers.hpp"
#include "test_files.hpp"

using namespace haverify;
namespace fs = std::filesystem;

namespace {

// uaf-, exc-, ub- (the reproducers of issue 14) and refuse-: must be refused.
bool must_be_refused(const std::string& name) {
  for (const char* prefix : {"uaf-", "exc-", "ub-", "refuse-"})
    if (name.rfind(prefix, 0) == 0) return true;
  return false;
}

}  // namespace

TEST_CASE("the fuzz regression corpus: every file is parsed or refused as a usage error", "[unit]") {
  const fs::path root = fs::path(HAVERIFY_SOURCE_DIR) / "tests/fuzz/corpus-regress";
  for (const auto& reader : fuzz::readers()) {
    const fs::path dir = root / reader.name;
    INFO("corpus folder " << dir.string());
    REQUIRE(fs::is_directory(dir));
    std::size_t files = 0;
    for (const auto& f : fs::directory_iterator(dir)) {
      ++files;
      const std::string name = f.path().filename().string();
      INFO("corpus file " << f.path().string());
      fuzz::Outcome outcome = fuzz::Outcome::parsed;
      CHECK_NOTHROW(outcome = reader.read(testing::slurp(f.path().string())));
      if (must_be_refused(name)) CHECK(outcome == fuzz::Outcome::refused);
    }
    CHECK(files > 0);
  }
}

TEST_CASE("the fuzzers' reader entries tell a refusal from a parse", "[unit]") {
  const auto* scenario = fuzz::find_reader("scenario");
  REQUIRE(scenario);
  CHECK(fuzz::find_reader("no-such-reader") == nullptr);
  const std::string shipped =
      testing::slurp(std::string(HAVERIFY_SOURCE_DIR) + "/scenarios/single-fault/kill-postmaster-primary.yaml");
  REQUIRE_FALSE(shipped.empty());
  CHECK(scenario->read(shipped) == fuzz::Outcome::parsed);
  CHECK(scenario->read("steps: [{wait: 1s}]\nno_such_key: 1\n") == fuzz::Outcome::refused);
  const auto* ledger = fuzz::find_reader("ledger");
  REQUIRE(ledger);
  CHECK(ledger->read(R"({"faults":[]})") == fuzz::Outcome::parsed);
  CHECK(ledger->read(R"({"faults":[{"id":"x"}]})") == fuzz::Outcome::refused);
}
