// safetensors reader/writer: the tiny Qwen2.5-VL checkpoint, round trips for every dtype,
// byte-identical re-save, multi-shard folders, zero-copy views and lookup errors.
#include <catch2/catch.hpp>

#include <cmath>
#include <cstring>
#include <vlm/io/safetensors.hpp>

#include "io_test_util.hpp"

namespace fs = std::filesystem;
using Catch::Contains;
using vlm::io::safetensors_dir;
using vlm::io::safetensors_file;
using vlm::io::tensor_ref;

static const fs::path tiny_dir = fs::path(VLM_TEST_DATA_DIR) / "qwen2_5_vl" / "tiny";

TEST_CASE("tiny checkpoint: 81 F32 tensors with known values", "[cpu][io][golden]") {
  auto f = safetensors_file::open(tiny_dir / "model.safetensors");
  REQUIRE(f.size() == 81);
  for (const auto& t : f.tensors()) CHECK(t.type == vlm::dtype::f32);
  CHECK(f.metadata().at("format") == "pt");

  // Reference values read with a Python one-off (safetensors 0.8.0):
  //   from safetensors.numpy import load_file; d = load_file("model.safetensors")
  //   d[k].flatten()[:3], d[k].flatten()[-1], d[k].astype(np.float64).sum()
  auto lm = f.get<float>("lm_head.weight");
  REQUIRE(lm.shape() == vlm::shape{1024, 64});
  CHECK(lm.at({0, 0}) == 0.01992102712392807f);
  CHECK(lm.at({0, 1}) == -0.029329819604754448f);
  CHECK(lm.at({0, 2}) == -0.035520490258932114f);
  CHECK(lm.at({5, 7}) == 0.04465555399656296f);
  CHECK(lm.at({1023, 63}) == -0.03721765801310539f);

  auto ln = f.get<float>("model.layers.0.input_layernorm.weight");
  REQUIRE(ln.shape() == vlm::shape{64});
  CHECK(ln.at({0}) == 1.0172275304794312f);
  CHECK(ln.at({63}) == 1.0806745290756226f);
  double sum = 0;
  for (float v : ln.to_vector()) sum += v;
  CHECK(sum == Approx(64.83510661125183).epsilon(1e-12));

  auto pe = f.get<float>("visual.patch_embed.proj.weight");
  REQUIRE(pe.shape() == vlm::shape{64, 3, 2, 14, 14});
  CHECK(pe.at({1, 2, 1, 5, 7}) == -0.031083568930625916f);
  sum = 0;
  for (float v : pe.to_vector()) sum += v;
  CHECK(sum == Approx(-2.259783583787595).epsilon(1e-9));

  const auto& info = f.info("visual.merger.mlp.2.bias");
  CHECK(info.shape == vlm::shape{64});
  CHECK(info.begin == 1751552);  // data_offsets from the header
  CHECK(info.end == 1751808);
}

TEST_CASE("tiny checkpoint: views are zero-copy and outlive the file object", "[cpu][io]") {
  vlm::tensor<float, vlm::cpu> w;
  const float* mapped = nullptr;
  {
    auto f = safetensors_file::open(tiny_dir / "model.safetensors");
    w = f.get<float>("model.norm.weight");
    auto bytes = f.bytes("model.norm.weight");
    mapped = reinterpret_cast<const float*>(bytes.data());
    CHECK(static_cast<const void*>(w.data()) == static_cast<const void*>(bytes.data()));
    CHECK_FALSE(w.storage_ptr()->owning());
  }
  // The file object is gone; the mapping lives on in w.
  CHECK(w.at({0}) == 0.9834118485450745f);
  CHECK(w.at({63}) == 0.9251921772956848f);
  // Writes go to a private copy-on-write page, never the file.
  w.data()[0] = 42.f;
  CHECK(w.data() == mapped);
  auto again = safetensors_file::open(tiny_dir / "model.safetensors");
  CHECK(again.get<float>("model.norm.weight").at({0}) == 0.9834118485450745f);
}

TEST_CASE("tiny golden cases: mixed dtypes open through the folder reader", "[cpu][io][golden]") {
  auto f = safetensors_file::open(tiny_dir / "cases" / "text_only.safetensors");
  CHECK(f.size() == 8);
  auto ids = f.get<std::int64_t>("generated_ids");
  CHECK(ids.shape() == vlm::shape{1, 16});
  CHECK(ids.at({0, 0}) == 1019);  // Python: load_file(...)["generated_ids"][0, :4] = [1019, 345, 201, 541]
  CHECK(ids.at({0, 3}) == 541);
  auto pos = f.get_as<float>("position_ids");  // I64 -> float copy
  CHECK(pos.shape() == vlm::shape{3, 1, 37});
  CHECK(pos.at({0, 0, 3}) == 3.f);
  auto two = safetensors_file::open(tiny_dir / "cases" / "two_images.safetensors");
  CHECK(two.info("vision_cu_seqlens").type == vlm::dtype::i32);
  CHECK(two.info("vision_window_index").type == vlm::dtype::i64);
}

TEST_CASE("writer reproduces the Python library's file byte for byte", "[cpu][io][golden]") {
  vlm_test::temp_dir tmp;
  auto f = safetensors_file::open(tiny_dir / "model.safetensors");
  std::vector<tensor_ref> refs;
  for (const auto& t : f.tensors()) refs.push_back(f.ref(t.name));
  vlm::io::save_safetensors(tmp / "copy.safetensors", refs, f.metadata());
  CHECK(vlm_test::read_bytes(tmp / "copy.safetensors") == vlm_test::read_bytes(tiny_dir / "model.safetensors"));
}

TEST_CASE("writer orders data by alignment then name, as safetensors 0.8 does", "[cpu][io]") {
  // The golden case files were written name-ordered; Python safetensors 0.8.0 re-saves
  // text_only.safetensors as generated_ids, position_ids, rope_deltas (I64) then the F32s.
  vlm_test::temp_dir tmp;
  auto f = safetensors_file::open(tiny_dir / "cases" / "text_only.safetensors");
  std::vector<tensor_ref> refs;
  for (const auto& t : f.tensors()) refs.push_back(f.ref(t.name));
  vlm::io::save_safetensors(tmp / "t.safetensors", refs);
  std::string bytes = vlm_test::read_bytes(tmp / "t.safetensors");
  std::uint64_t n = 0;
  std::memcpy(&n, bytes.data(), 8);
  CHECK(n % 8 == 0);
  CHECK(n == 624);  // the header length Python 0.8.0 writes for this file (no metadata)
  std::string header = bytes.substr(8, n);
  CHECK(header.rfind("{\"generated_ids\":{\"dtype\":\"I64\",\"shape\":[1,16],\"data_offsets\":[0,128]},"
                     "\"position_ids\":",
                     0) == 0);
  CHECK(header.find("\"rope_deltas\"") < header.find("\"generated_step_logits\""));
  auto g = safetensors_file::open(tmp / "t.safetensors");
  CHECK(g.metadata().empty());
  for (const auto& t : f.tensors()) {
    auto a = f.bytes(t.name), b = g.bytes(t.name);
    REQUIRE(a.size() == b.size());
    CHECK(std::memcmp(a.data(), b.data(), a.size()) == 0);
  }
}

namespace {
template <class T>
std::vector<T> sample_values(std::size_t n) {
  std::vector<T> v(n);
  for (std::size_t i = 0; i < n; ++i) {
    if constexpr (std::is_same_v<T, bool>) v[i] = (i * 7) % 3 == 0;
    else if constexpr (vlm::is_half_v<T>) v[i] = T::from_bits(static_cast<std::uint16_t>(i * 2654435761u));
    else if constexpr (std::is_floating_point_v<T>) v[i] = static_cast<T>(std::ldexp(double(i) - 7.25, int(i % 9) - 4));
    else v[i] = static_cast<T>(i * 37 - 100);
  }
  return v;
}
template <class T>
bool same_bits(const T& a, const T& b) { return std::memcmp(&a, &b, sizeof(T)) == 0; }
}  // namespace

TEMPLATE_TEST_CASE("round trip write -> read keeps every bit", "[cpu][io]", float, vlm::bf16, vlm::f16,
                   std::int32_t, std::int64_t, std::uint8_t, bool) {
  using T = TestType;
  vlm_test::temp_dir tmp;
  // Awkward sizes, a scalar and an empty tensor.
  std::vector<std::pair<std::string, vlm::shape>> shapes = {
      {"a", {17}}, {"b.weight", {3, 1, 5}}, {"scalar", {}}, {"empty", {0, 4}}, {"z", {97}}};
  std::vector<std::pair<std::string, vlm::tensor<T, vlm::cpu>>> ts;
  std::map<std::string, std::vector<T>> expect;
  for (auto& [name, s] : shapes) {
    auto v = sample_values<T>(static_cast<std::size_t>(s.numel()));
    expect[name] = v;
    std::unique_ptr<T[]> buf(new T[v.size() + 1]);
    for (std::size_t i = 0; i < v.size(); ++i) buf[i] = v[i];
    ts.emplace_back(name, vlm::tensor<T, vlm::cpu>::from_host(s, std::span<const T>(buf.get(), v.size())));
  }
  auto path = tmp / "rt.safetensors";
  vlm::io::save_safetensors(path, ts, {{"format", "pt"}, {"note", "round trip"}});

  auto f = safetensors_file::open(path);
  CHECK(f.size() == shapes.size());
  CHECK(f.metadata().at("note") == "round trip");
  for (auto& [name, s] : shapes) {
    INFO(name);
    CHECK(f.info(name).type == vlm::dtype_of_v<T>);
    auto t = f.get<T>(name);
    REQUIRE(t.shape() == s);
    const auto& e = expect[name];
    for (std::size_t i = 0; i < e.size(); ++i) CHECK(same_bits<T>(t.data()[i], static_cast<T>(e[i])));
  }
  // Half bit patterns include NaNs, Infs and subnormals; all survive unchanged.
  std::string bytes = vlm_test::read_bytes(path);
  std::uint64_t n = 0;
  std::memcpy(&n, bytes.data(), 8);
  CHECK(n % 8 == 0);
  CHECK(bytes.size() == 8 + n + (17 + 15 + 1 + 0 + 97) * sizeof(T));
}

TEST_CASE("round trip of a mixed-dtype file through tensor_ref", "[cpu][io]") {
  vlm_test::temp_dir tmp;
  auto f32 = vlm::tensor<float, vlm::cpu>::from_host({2, 3}, {1, 2, 3, 4, 5, 6});
  auto b = vlm::tensor<vlm::bf16, vlm::cpu>::from_host({2}, {vlm::bf16(1.5f), vlm::bf16::from_bits(0x7fc1)});
  auto h = vlm::tensor<vlm::f16, vlm::cpu>::from_host({3}, {vlm::f16(-2.f), vlm::f16::from_bits(0x0001),
                                                             vlm::f16::from_bits(0xfc00)});
  auto u = vlm::tensor<std::uint8_t, vlm::cpu>::from_host({3}, {0, 7, 255});
  auto i64 = vlm::tensor<std::int64_t, vlm::cpu>::from_host({1}, {-(std::int64_t(1) << 40)});
  // A transposed (non-contiguous) tensor is written in its logical row-major order.
  auto ft = f32.transpose(0, 1);
  vlm::io::save_safetensors(tmp / "m.safetensors",
                            {tensor_ref::of("f", f32), tensor_ref::of("ft", ft), tensor_ref::of("u", u),
                             tensor_ref::of("b", b), tensor_ref::of("h", h), tensor_ref::of("i", i64)});
  auto f = safetensors_file::open(tmp / "m.safetensors");
  CHECK(f.get<float>("ft").to_vector() == std::vector<float>{1, 4, 2, 5, 3, 6});
  CHECK(f.get<float>("ft").shape() == vlm::shape{3, 2});
  CHECK(f.get<vlm::bf16>("b").at({1}).bits == 0x7fc1);
  CHECK(f.get<vlm::f16>("h").at({1}).bits == 0x0001);
  CHECK(f.get<std::uint8_t>("u").to_vector() == std::vector<std::uint8_t>{0, 7, 255});
  CHECK(f.get<std::int64_t>("i").item() == -(std::int64_t(1) << 40));
  // Every tensor starts aligned for its type (I64, F32, BF16, F16, U8 order).
  for (const auto& t : f.tensors()) CHECK(t.begin % vlm::dtype_size(t.type) == 0);

  // get_as converts; same-dtype get_as is a view.
  auto hb = f.get_as<float>("h");
  CHECK(hb.at({0}) == -2.f);
  CHECK(hb.at({1}) == std::ldexp(1.f, -24));
  CHECK(std::isinf(hb.at({2})));
  CHECK(f.get_as<float>("b").at({0}) == 1.5f);
  CHECK(std::isnan(f.get_as<float>("b").at({1})));
  CHECK(f.get_as<vlm::bf16>("f").at({1, 2}).bits == vlm::bf16(6.f).bits);
  CHECK(f.get_as<float>("u").to_vector() == std::vector<float>{0, 7, 255});
  CHECK(f.get_as<float>("f").data() == f.get<float>("f").data());
}

TEST_CASE("get<T> with the wrong element type names both dtypes", "[cpu][io]") {
  auto f = safetensors_file::open(tiny_dir / "model.safetensors");
  CHECK_THROWS_AS(f.get<vlm::bf16>("lm_head.weight"), vlm::format_error);
  CHECK_THROWS_WITH(f.get<vlm::bf16>("lm_head.weight"),
                    Contains("'lm_head.weight'") && Contains("stored as F32, expected BF16") &&
                        Contains("model.safetensors") && Contains("get_as"));
  CHECK(f.get_as<vlm::bf16>("lm_head.weight").at({0, 0}).bits == vlm::bf16(0.01992102712392807f).bits);
}

TEST_CASE("missing tensor: error names the file and suggests close names", "[cpu][io]") {
  auto f = safetensors_file::open(tiny_dir / "model.safetensors");
  CHECK_THROWS_AS(f.get<float>("model.layers.0.mlp.up_proj.weights"), vlm::format_error);
  CHECK_THROWS_WITH(f.get<float>("model.layers.0.mlp.up_proj.weights"),
                    Contains("tensor 'model.layers.0.mlp.up_proj.weights': not found") &&
                        Contains("model.safetensors") && Contains("81 tensors") &&
                        Contains("Hint: close names: 'model.layers.0.mlp.up_proj.weight'"));
  auto d = safetensors_dir::open(tiny_dir);
  CHECK(d.size() == 81);
  CHECK_THROWS_WITH(d.get<float>("visual.merger.mlp.1.bias"),
                    Contains("tensor 'visual.merger.mlp.1.bias': not found in folder") && Contains("tiny") &&
                        Contains("'visual.merger.mlp.0.bias'") && Contains("'visual.merger.mlp.2.bias'"));
}

namespace {
// Writes the tiny checkpoint as `shards` files plus an index, named as transformers does.
void write_sharded(const fs::path& dir, int shards, bool with_index) {
  auto f = safetensors_file::open(tiny_dir / "model.safetensors");
  auto names = f.names();
  std::vector<std::vector<tensor_ref>> parts(static_cast<std::size_t>(shards));
  nlohmann::json index;
  index["metadata"]["total_size"] = 2118400;
  for (std::size_t i = 0; i < names.size(); ++i) {
    std::size_t s = i * static_cast<std::size_t>(shards) / names.size();
    parts[s].push_back(f.ref(names[i]));
    char file[64];
    std::snprintf(file, sizeof file, "model-%05zu-of-%05d.safetensors", s + 1, shards);
    index["weight_map"][names[i]] = file;
  }
  for (int s = 0; s < shards; ++s) {
    char file[64];
    std::snprintf(file, sizeof file, "model-%05d-of-%05d.safetensors", s + 1, shards);
    vlm::io::save_safetensors(dir / file, parts[static_cast<std::size_t>(s)], {{"format", "pt"}});
  }
  if (with_index) vlm_test::write_bytes(dir / "model.safetensors.index.json", index.dump(2));
}
}  // namespace

TEST_CASE("multi-shard folder with model.safetensors.index.json", "[cpu][io]") {
  vlm_test::temp_dir tmp;
  write_sharded(tmp.path, 3, true);
  auto d = safetensors_dir::open(tmp.path);
  CHECK(d.files().size() == 3);
  CHECK(d.size() == 81);
  CHECK(d.index_metadata().at("total_size") == "2118400");
  auto ref = safetensors_file::open(tiny_dir / "model.safetensors");
  for (const auto& name : ref.names()) {
    auto a = ref.bytes(name);
    auto b = d.file_of(name).bytes(name);
    REQUIRE(a.size() == b.size());
    CHECK(std::memcmp(a.data(), b.data(), a.size()) == 0);
  }
  CHECK(d.get<float>("lm_head.weight").at({1023, 63}) == -0.03721765801310539f);
  CHECK(d.file_of("lm_head.weight").path().filename() == "model-00001-of-00003.safetensors");
  CHECK(d.file_of("visual.patch_embed.proj.weight").path().filename() == "model-00003-of-00003.safetensors");
  CHECK(d.info("model.norm.weight").shape == vlm::shape{64});
}

TEST_CASE("folder without an index: all *.safetensors files", "[cpu][io]") {
  vlm_test::temp_dir tmp;
  write_sharded(tmp.path, 2, false);
  auto d = safetensors_dir::open(tmp.path);
  CHECK(d.files().size() == 2);
  CHECK(d.size() == 81);
  CHECK(d.get_as<float>("model.layers.0.input_layernorm.weight").at({0}) == 1.0172275304794312f);
  // Also a single file path.
  auto one = safetensors_dir::open(tiny_dir / "model.safetensors");
  CHECK(one.size() == 81);
}

TEST_CASE("folder errors name the folder, the shard and the tensor", "[cpu][io]") {
  vlm_test::temp_dir tmp;
  SECTION("empty folder") {
    CHECK_THROWS_AS(safetensors_dir::open(tmp.path), vlm::io_error);
    CHECK_THROWS_WITH(safetensors_dir::open(tmp.path),
                      Contains("no model.safetensors.index.json") && Contains(tmp.path.string()));
  }
  SECTION("missing folder") {
    CHECK_THROWS_AS(safetensors_dir::open(tmp / "nope"), vlm::io_error);
    CHECK_THROWS_WITH(safetensors_dir::open(tmp / "nope"), Contains("nope") && Contains("does not exist"));
  }
  SECTION("index names a shard that is not there") {
    write_sharded(tmp.path, 2, true);
    fs::remove(tmp / "model-00002-of-00002.safetensors");
    CHECK_THROWS_AS(safetensors_dir::open(tmp.path), vlm::io_error);
    CHECK_THROWS_WITH(safetensors_dir::open(tmp.path),
                      Contains("shard 'model-00002-of-00002.safetensors'") &&
                          Contains("model.safetensors.index.json") && Contains("does not exist"));
  }
  SECTION("index lists a tensor its shard does not have") {
    write_sharded(tmp.path, 2, true);
    auto idx = nlohmann::json::parse(vlm_test::read_bytes(tmp / "model.safetensors.index.json"));
    idx["weight_map"]["lm_head.weight"] = "model-00002-of-00002.safetensors";
    vlm_test::write_bytes(tmp / "model.safetensors.index.json", idx.dump());
    CHECK_THROWS_AS(safetensors_dir::open(tmp.path), vlm::format_error);
    CHECK_THROWS_WITH(safetensors_dir::open(tmp.path),
                      Contains("tensor 'lm_head.weight'") && Contains("model-00002-of-00002.safetensors") &&
                          Contains("has no such tensor"));
  }
  SECTION("index with a path outside the folder") {
    vlm_test::write_bytes(tmp / "model.safetensors.index.json",
                          R"({"weight_map": {"w": "../model.safetensors"}})");
    CHECK_THROWS_WITH(safetensors_dir::open(tmp.path),
                      Contains("tensor 'w'") && Contains("'../model.safetensors'") &&
                          Contains("expected a file name inside the folder"));
  }
  SECTION("index that is not JSON / has no weight_map") {
    vlm_test::write_bytes(tmp / "model.safetensors.index.json", "{\"weight_map\": ");
    CHECK_THROWS_WITH(safetensors_dir::open(tmp.path),
                      Contains("index is not valid JSON") && Contains("model.safetensors.index.json"));
    vlm_test::write_bytes(tmp / "model.safetensors.index.json", "{\"metadata\": {}}");
    CHECK_THROWS_WITH(safetensors_dir::open(tmp.path), Contains("no 'weight_map' object"));
  }
  SECTION("the same tensor in two shards") {
    write_sharded(tmp.path, 2, false);
    auto f = safetensors_file::open(tiny_dir / "model.safetensors");
    vlm::io::save_safetensors(tmp / "extra.safetensors", {f.ref("model.norm.weight")});
    CHECK_THROWS_AS(safetensors_dir::open(tmp.path), vlm::format_error);
    CHECK_THROWS_WITH(safetensors_dir::open(tmp.path),
                      Contains("tensor 'model.norm.weight': found in both") && Contains("extra.safetensors") &&
                          Contains("model-0000"));
  }
}

TEST_CASE("writer rejects bad input before touching the file", "[cpu][io]") {
  vlm_test::temp_dir tmp;
  auto a = vlm::tensor<float, vlm::cpu>::from_host({2}, {1, 2});
  auto path = tmp / "w.safetensors";
  CHECK_THROWS_WITH(vlm::io::save_safetensors(path, {tensor_ref::of("x", a), tensor_ref::of("x", a)}),
                    Contains("tensor 'x': name given twice") && Contains("w.safetensors"));
  CHECK_THROWS_WITH(vlm::io::save_safetensors(path, {tensor_ref::of("__metadata__", a)}),
                    Contains("reserved or empty name"));
  tensor_ref null_ref{"n", vlm::dtype::f32, {4}, nullptr, nullptr};
  CHECK_THROWS_WITH(vlm::io::save_safetensors(path, {null_ref}), Contains("tensor 'n': data is null"));
  CHECK_FALSE(fs::exists(path));
  CHECK(std::distance(fs::directory_iterator(tmp.path), fs::directory_iterator{}) == 0);
  // An empty file list is a valid (empty) safetensors file.
  vlm::io::save_safetensors(path, std::vector<tensor_ref>{});
  CHECK(safetensors_file::open(path).size() == 0);
  CHECK(vlm_test::read_bytes(path).size() == 16);
}
