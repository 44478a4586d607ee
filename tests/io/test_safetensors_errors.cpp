// Crafted broken .safetensors files: each must throw format_error (io_error for unreadable
// files) whose message names the file, the tensor and the specific problem.
#include <catch2/catch.hpp>

#include <vlm/io/safetensors.hpp>

#include "io_test_util.hpp"

namespace fs = std::filesystem;
using Catch::Contains;
using vlm::io::safetensors_file;

namespace {

struct broken_case {
  std::string file;    // also the test's label
  std::string header;  // raw header text (no padding added)
  std::size_t data_bytes;
  std::vector<std::string> expect;  // substrings of the message besides the file name
  std::uint64_t len_override = 0;   // header length field, when it should lie
};

// A well-formed entry: F32 [2] at [begin, begin + 8).
std::string f32x2(const std::string& name, int begin) {
  return "\"" + name + "\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[" + std::to_string(begin) + "," +
         std::to_string(begin + 8) + "]}";
}

const std::vector<broken_case>& broken_cases() {
  static const std::vector<broken_case> cases = {
      {"header_len_past_end.safetensors", "{}", 0, {"header length 4096 runs past the end of the file", "at most 2"}, 4096},
      {"header_len_zero.safetensors", "", 4, {"header length is 0"}},
      {"not_json.safetensors", "{\"w\":{\"dtype\":\"F32\",", 0, {"header is not valid JSON"}},
      {"header_array.safetensors", "[1,2]", 0, {"header is array, expected a JSON object"}},
      {"entry_not_object.safetensors", "{\"w\":[1,2]}", 0, {"tensor 'w': entry is array", "expected an object"}},
      {"missing_dtype.safetensors", "{\"w\":{\"shape\":[2],\"data_offsets\":[0,8]}}", 8,
       {"tensor 'w': missing 'dtype'"}},
      {"missing_shape.safetensors", "{\"w\":{\"dtype\":\"F32\",\"data_offsets\":[0,8]}}", 8,
       {"tensor 'w': missing 'shape'"}},
      {"missing_offsets.safetensors", "{\"w\":{\"dtype\":\"F32\",\"shape\":[2]}}", 8,
       {"tensor 'w': missing 'data_offsets'"}},
      {"dtype_number.safetensors", "{\"w\":{\"dtype\":7,\"shape\":[2],\"data_offsets\":[0,8]}}", 8,
       {"tensor 'w': 'dtype' is the number 7, expected a string"}},
      {"unknown_dtype.safetensors", "{\"w\":{\"dtype\":\"F64\",\"shape\":[1],\"data_offsets\":[0,8]}}", 8,
       {"tensor 'w': unsupported dtype 'F64'", "expected one of F32, BF16, F16, I32, I64, U8, BOOL"}},
      {"negative_shape.safetensors", "{\"w\":{\"dtype\":\"F32\",\"shape\":[2,-2],\"data_offsets\":[0,8]}}", 8,
       {"tensor 'w': 'shape'[1] is a negative number -2", "expected a non-negative integer"}},
      {"fractional_shape.safetensors", "{\"w\":{\"dtype\":\"F32\",\"shape\":[2.5],\"data_offsets\":[0,8]}}", 8,
       {"tensor 'w': 'shape'[0] is a non-integer number 2.5"}},
      {"shape_string.safetensors", "{\"w\":{\"dtype\":\"F32\",\"shape\":\"2\",\"data_offsets\":[0,8]}}", 8,
       {"tensor 'w': 'shape' is a string", "expected an array of integers"}},
      {"rank9.safetensors", "{\"w\":{\"dtype\":\"U8\",\"shape\":[1,1,1,1,1,1,1,1,1],\"data_offsets\":[0,1]}}", 1,
       {"tensor 'w': shape has rank 9, expected at most 8"}},
      {"offsets_three.safetensors", "{\"w\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,4,8]}}", 8,
       {"tensor 'w': 'data_offsets' has 3 numbers, expected 2"}},
      {"offsets_strings.safetensors", "{\"w\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[\"0\",8]}}", 8,
       {"tensor 'w': 'data_offsets'[0] is a string"}},
      {"offsets_decreasing.safetensors", "{\"w\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[8,0]}}", 8,
       {"tensor 'w': data_offsets [8, 0) end before begin"}},
      {"size_mismatch.safetensors", "{\"w\":{\"dtype\":\"BF16\",\"shape\":[2,3],\"data_offsets\":[0,8]}}", 8,
       {"tensor 'w': data_offsets [0, 8) span 8 bytes, expected 12 (shape [2, 3] x BF16)"}},
      {"end_past_data.safetensors", "{\"w\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]}}", 12,
       {"tensor 'w': data_offsets [0, 16) end beyond the data section, expected end <= 12", "incomplete download?"}},
      {"overflow.safetensors",
       "{\"w\":{\"dtype\":\"F32\",\"shape\":[4294967296,4294967296],\"data_offsets\":[0,8]}}", 8,
       {"tensor 'w': shape [4294967296, 4294967296] x F32 overflows 64 bits"}},
      {"overlap.safetensors", "{" + f32x2("a", 0) + "," + f32x2("b", 4) + "}", 12,
       {"tensor 'b': data_offsets [4, 12) overlap tensor 'a' [0, 8)", "expected begin >= 8"}},
      {"gap.safetensors", "{" + f32x2("a", 0) + "," + f32x2("b", 12) + "}", 20,
       {"tensor 'b': data_offsets [12, 20) leave bytes [8, 12) of the data section unused"}},
      {"trailing_bytes.safetensors", "{" + f32x2("a", 0) + "}", 12,
       {"data section is 12 bytes but tensors cover 8"}},
      {"duplicate_name.safetensors", "{" + f32x2("w", 0) + "," + f32x2("w", 8) + "}", 16,
       {"tensor 'w': name appears twice"}},
      {"duplicate_key.safetensors",
       "{\"w\":{\"dtype\":\"F32\",\"dtype\":\"F16\",\"shape\":[2],\"data_offsets\":[0,8]}}", 8,
       {"tensor 'w': key 'dtype' appears twice"}},
      {"metadata_number.safetensors", "{\"__metadata__\":{\"format\":\"pt\",\"step\":3}," + f32x2("w", 0) + "}", 8,
       {"'__metadata__' value for 'step' is the number 3, expected a string"}},
      {"metadata_array.safetensors", "{\"__metadata__\":[]," + f32x2("w", 0) + "}", 8,
       {"'__metadata__' is array", "expected an object of strings"}},
  };
  return cases;
}

}  // namespace

TEST_CASE("broken files: format_error naming file, tensor and problem", "[cpu][io]") {
  vlm_test::temp_dir tmp;
  REQUIRE(broken_cases().size() >= 20);
  for (const auto& c : broken_cases()) {
    INFO(c.file);
    auto path = tmp / c.file;
    vlm_test::write_bytes(path, vlm_test::raw_safetensors(c.header, c.data_bytes, c.len_override));
    CHECK_THROWS_AS(safetensors_file::open(path), vlm::format_error);
    // (Combined Catch matchers keep references: the parts must be named objects.)
    std::string quoted = path.string();
    quoted.insert(quoted.begin(), '\'');
    quoted.push_back('\'');
    auto file = Contains(quoted), tag = Contains("[safetensors]"), what = Contains(c.expect[0]),
         more = Contains(c.expect.size() > 1 ? c.expect[1] : c.expect[0]);
    CHECK_THROWS_WITH(safetensors_file::open(path), file && tag && what && more);
  }
}

TEST_CASE("well-formed versions of the crafted files open", "[cpu][io]") {
  // The crafted cases differ from valid files only in the broken part: this checks the helper.
  vlm_test::temp_dir tmp;
  auto path = tmp / "ok.safetensors";
  vlm_test::write_bytes(path, vlm_test::raw_safetensors("{\"__metadata__\":{\"format\":\"pt\"}," + f32x2("a", 0) + "," +
                                                            f32x2("b", 8) +
                                                            ",\"e\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[16,16]}}",
                                                        16));
  auto f = safetensors_file::open(path);
  CHECK(f.size() == 3);
  CHECK(f.info("b").begin == 8);
  CHECK(f.info("e").shape == vlm::shape{0});
  CHECK(f.get<float>("e").numel() == 0);
}

TEST_CASE("short and unreadable files", "[cpu][io]") {
  vlm_test::temp_dir tmp;
  SECTION("shorter than 8 bytes") {
    vlm_test::write_bytes(tmp / "short.safetensors", "abcde");
    CHECK_THROWS_AS(safetensors_file::open(tmp / "short.safetensors"), vlm::format_error);
    CHECK_THROWS_WITH(safetensors_file::open(tmp / "short.safetensors"),
                      Contains("short.safetensors") && Contains("file is 5 bytes, expected at least 8"));
  }
  SECTION("empty") {
    vlm_test::write_bytes(tmp / "empty.safetensors", "");
    CHECK_THROWS_WITH(safetensors_file::open(tmp / "empty.safetensors"),
                      Contains("empty.safetensors") && Contains("file is 0 bytes"));
  }
  SECTION("missing") {
    CHECK_THROWS_AS(safetensors_file::open(tmp / "missing.safetensors"), vlm::io_error);
    CHECK_THROWS_WITH(safetensors_file::open(tmp / "missing.safetensors"),
                      Contains("cannot open") && Contains("missing.safetensors") && Contains("No such file"));
  }
  SECTION("a folder") {
    CHECK_THROWS_AS(safetensors_file::open(tmp.path), vlm::io_error);
    CHECK_THROWS_WITH(safetensors_file::open(tmp.path),
                      Contains("is not a regular file") && Contains("safetensors_dir::open"));
  }
}

TEST_CASE("BOOL bytes other than 0/1 are rejected on get<bool>", "[cpu][io]") {
  vlm_test::temp_dir tmp;
  auto path = tmp / "bools.safetensors";
  // Data bytes are 0, 1, 2: the third is not a bool.
  vlm_test::write_bytes(path, vlm_test::raw_safetensors(
                                  "{\"m\":{\"dtype\":\"BOOL\",\"shape\":[3],\"data_offsets\":[0,3]}}", 3));
  auto f = safetensors_file::open(path);
  CHECK_THROWS_WITH(f.get<bool>("m"), Contains("tensor 'm': BOOL element 2 is 2, expected 0 or 1") &&
                                          Contains("bools.safetensors"));
  // get_as reads any nonzero byte as true.
  CHECK(f.get_as<float>("m").to_vector() == std::vector<float>{0, 1, 1});
}

TEST_CASE("unaligned data is copied, not viewed", "[cpu][io]") {
  // A header of odd length (not padded) puts the data section at an odd address.
  vlm_test::temp_dir tmp;
  auto path = tmp / "odd.safetensors";
  std::string header = "{\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}";
  if (header.size() % 2 == 0) header += " ";
  std::string bytes = vlm_test::raw_safetensors(header, 0);
  float one = 1.5f;
  bytes.append(reinterpret_cast<const char*>(&one), 4);
  vlm_test::write_bytes(path, bytes);
  auto f = safetensors_file::open(path);
  auto w = f.get<float>("w");
  CHECK(w.item() == 1.5f);
  CHECK(reinterpret_cast<std::uintptr_t>(w.data()) % alignof(float) == 0);
  CHECK(w.storage_ptr()->owning());
}
