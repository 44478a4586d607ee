// A reward plugin as a user would write one: built as a shared library (tests/CMakeLists.txt)
// and loaded by test_rl with vlm::rl::load_reward_plugin. Not part of test_rl itself.
#include <vlm/rl/rewards.hpp>

extern "C" void vlm_register_rewards(vlm::rl::reward_registry& reg) {
  // completion length in code points times an option
  reg.add("plugin_length", [](const vlm::rl::reward_options& o) {
    const double scale = o.value("scale", 1.0);
    return vlm::rl::per_sample([scale](const vlm::rl::reward_input& x) {
      return scale * static_cast<double>(vlm::metrics::utf8_to_code_points(x.completion).size());
    });
  });
  // reads another column of the dataset row: 1 if the completion mentions row["keyword"]
  reg.add("plugin_keyword", [](const vlm::rl::reward_options&) {
    return vlm::rl::per_sample([](const vlm::rl::reward_input& x) {
      if (!x.row || !x.row->contains("keyword")) return std::numeric_limits<double>::quiet_NaN();
      return x.completion.find((*x.row)["keyword"].get<std::string>()) != std::string::npos ? 1.0 : 0.0;
    });
  });
}
