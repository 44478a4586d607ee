// Learning-rate schedules (vlm/train/lr_schedule.hpp) against transformers' get_scheduler:
// tests/data/train/lr_schedule.json holds the learning rate before every optimizer step
// (tools/gen_golden_lr.py). Tolerance: 1e-12 relative (both compute in double).
#include <catch2/catch.hpp>

#include <fstream>
#include <nlohmann/json.hpp>
#include <vlm/train/lr_schedule.hpp>

TEST_CASE("lr_schedule equals transformers' schedulers step by step", "[cpu][train]") {
  std::ifstream in(std::string(VLM_TEST_DATA_DIR) + "/train/lr_schedule.json");
  REQUIRE(in);
  const auto golden = nlohmann::json::parse(in);
  REQUIRE(golden["cases"].size() >= 7);
  for (const auto& c : golden["cases"]) {
    vlm::train::lr_schedule s{c["type"], c["lr"], c["total_steps"], c["warmup_steps"]};
    if (c["kwargs"].contains("min_lr_rate")) s.min_lr_rate = c["kwargs"]["min_lr_rate"];
    if (c["kwargs"].contains("min_lr")) s.min_lr_rate = c["kwargs"]["min_lr"].get<double>() / s.lr;
    const auto& lrs = c["lrs"];
    for (std::size_t step = 0; step < lrs.size(); ++step) {
      INFO(c["type"] << " step " << step);
      const double want = lrs[step];
      CHECK(s.at(static_cast<std::int64_t>(step)) == Approx(want).epsilon(1e-12).margin(1e-18));
    }
  }
}

TEST_CASE("lr_schedule rejects an unknown type", "[cpu][train]") {
  vlm::train::lr_schedule s{"polynomial", 1e-3, 10, 0};
  CHECK_THROWS_AS(s.at(3), vlm::config_error);
}
