// FLOP counts of models/qwen2_5_vl/flops.hpp against sums written out by hand for tiny
// configurations (each term: 2 x rows x in x out of one matrix product).
#include <catch2/catch.hpp>

#include <vlm/models/qwen2_5_vl/flops.hpp>

using namespace vlm::qwen2_5_vl;

namespace {
vision_config tiny_vision() {
  vision_config v;
  v.depth = 1, v.hidden_size = 8, v.num_heads = 2, v.intermediate_size = 16;
  v.patch_size = 14, v.temporal_patch_size = 2, v.spatial_merge_size = 2, v.window_size = 112;  // 4 merge units per window side
  v.fullatt_block_indexes = {0};
  return v;
}
}  // namespace

TEST_CASE("vision_forward_flops: patch embed, block, attention, merger", "[cpu][models]") {
  vision_config v = tiny_vision();
  const grid_thw g{1, 2, 12};  // 24 patches, 6 merge units in a row
  const double patch = 2.0 * 24 * 1176 * 8;
  const double linear = 2.0 * 24 * 8 * 24 + 2.0 * 24 * 8 * 8 + 3 * (2.0 * 24 * 8 * 16);
  const double merger = 2.0 * 6 * 32 * 32 + 2.0 * 6 * 32 * 10;
  // Full attention: every patch with all 24; windows: 4 units (16 patches) + 2 units (8).
  CHECK(vision_forward_flops(v, 10, g) == patch + linear + 4.0 * 8 * (24 * 24) + merger);
  v.fullatt_block_indexes = {};
  CHECK(vision_forward_flops(v, 10, g) == patch + linear + 4.0 * 8 * (16 * 16 + 8 * 8) + merger);
}

TEST_CASE("text_forward_flops and train_flops", "[cpu][models]") {
  config c;
  c.text.hidden_size = 8, c.text.num_attention_heads = 2, c.text.num_key_value_heads = 1, c.text.intermediate_size = 16;
  c.text.num_hidden_layers = 1, c.text.vocab_size = 20;
  c.vision = tiny_vision();
  // q (8x8), k and v (8x4 each), o (8x8), MLP 3 x (8x16), causal attention 1+2+3 pairs x 2 x 2 x 8.
  const double layer = 2.0 * 3 * 8 * 16 + 2.0 * 3 * 8 * 8 + 3 * (2.0 * 3 * 8 * 16) + 2.0 * 8 * 3 * 4;
  CHECK(text_forward_flops(c.text, 3, 3) == layer + 2.0 * 3 * 8 * 20);
  CHECK(text_forward_flops(c.text, 3, 0) == layer);
  const grid_thw g{1, 2, 4};
  const double vision = vision_forward_flops(c.vision, 8, g);
  // Two sequences of 3, lm_head on 2 labelled rows: backward = 2 x forward where trained.
  CHECK(train_flops(c, 2, 3, 2, {g}, true) == 3 * (2 * layer + 2.0 * 2 * 8 * 20) + 3 * vision);
  CHECK(train_flops(c, 2, 3, 2, {g}, false) == 3 * (2 * layer + 2.0 * 2 * 8 * 20) + vision);
}
