// tensor views (view/reshape/transpose/permute/narrow/slice/select/unsqueeze), storage
// sharing, contiguous copies and the error messages of bad views. Expected values come from
// an explicit index formula: element (i, j, k) of the base holds 100 i + 10 j + k.
#include <catch2/catch.hpp>

#include <numeric>
#include <vlm/core/tensor.hpp>

using Catch::Contains;
using vlm::cpu;
using vlm::shape;
using T3 = vlm::tensor<float, cpu>;

namespace {
// [I, J, K] with value 100 i + 10 j + k.
T3 base(std::int64_t I, std::int64_t J, std::int64_t K) {
  std::vector<float> v;
  for (std::int64_t i = 0; i < I; ++i)
    for (std::int64_t j = 0; j < J; ++j)
      for (std::int64_t k = 0; k < K; ++k) v.push_back(float(100 * i + 10 * j + k));
  return T3::from_host({I, J, K}, v);
}
float val(std::int64_t i, std::int64_t j, std::int64_t k) { return float(100 * i + 10 * j + k); }
}  // namespace

TEST_CASE("tensor: construction and geometry", "[cpu][core]") {
  auto t = base(2, 3, 4);
  CHECK(t.dim() == 3);
  CHECK(t.numel() == 24);
  CHECK(t.strides() == shape{12, 4, 1});
  CHECK(t.is_contiguous());
  CHECK(t.at({1, 2, 3}) == 123.f);
  auto z = T3::zeros({3, 0});
  CHECK(z.numel() == 0);
  CHECK(z.to_vector().empty());
  auto f = T3::full({2, 2}, 7.f);
  CHECK(f.to_vector() == std::vector<float>(4, 7.f));
  auto s = T3::from_host({}, {5.f});
  CHECK(s.dim() == 0);
  CHECK(s.item() == 5.f);
  CHECK_FALSE(T3().defined());
}

TEST_CASE("tensor: views share storage and read the right elements", "[cpu][core]") {
  auto t = base(3, 4, 5);
  SECTION("view / reshape of contiguous data") {
    auto v = t.view({12, 5});
    CHECK(v.shares_storage_with(t));
    CHECK(v.at({7, 2}) == val(1, 3, 2));
    auto r = t.reshape({-1, 20});
    CHECK(r.shape() == shape{3, 20});
    CHECK(r.shares_storage_with(t));
    CHECK(t.view({60}).to_vector() == t.to_vector());
  }
  SECTION("transpose") {
    auto tr = t.transpose(0, 2);  // [5, 4, 3]
    CHECK(tr.shape() == shape{5, 4, 3});
    CHECK(tr.shares_storage_with(t));
    CHECK_FALSE(tr.is_contiguous());
    for (int i = 0; i < 5; ++i)
      for (int j = 0; j < 4; ++j)
        for (int k = 0; k < 3; ++k) CHECK(tr.at({i, j, k}) == val(k, j, i));
    CHECK(t.transpose(-1, -2).shape() == shape{3, 5, 4});
  }
  SECTION("permute and its contiguous copy") {
    auto p = t.permute({1, 2, 0});  // [4, 5, 3]
    CHECK(p.shape() == shape{4, 5, 3});
    CHECK(p.shares_storage_with(t));
    auto c = p.contiguous();
    CHECK_FALSE(c.shares_storage_with(t));
    CHECK(c.is_contiguous());
    std::vector<float> want;
    for (int a = 0; a < 4; ++a)
      for (int b = 0; b < 5; ++b)
        for (int d = 0; d < 3; ++d) want.push_back(val(d, a, b));
    CHECK(c.to_vector() == want);
    CHECK(p.to_vector() == want);
    // reshape of non-contiguous data copies.
    auto r = p.reshape({20, 3});
    CHECK_FALSE(r.shares_storage_with(t));
    CHECK(r.to_vector() == want);
  }
  SECTION("narrow") {
    auto n = t.narrow(1, 1, 2);  // [3, 2, 5]
    CHECK(n.shares_storage_with(t));
    CHECK(n.offset() == 5);
    CHECK_FALSE(n.is_contiguous());
    CHECK(n.at({2, 1, 4}) == val(2, 2, 4));
    auto n0 = t.narrow(0, 1, 2);  // contiguous with an offset: view keeps the offset
    CHECK(n0.is_contiguous());
    CHECK(n0.view({-1}).to_vector()[0] == val(1, 0, 0));
    CHECK(t.narrow(-1, 4, 1).shape() == shape{3, 4, 1});
    CHECK(t.narrow(2, 5, 0).numel() == 0);
  }
  SECTION("slice with steps and negative bounds") {
    auto s = t.slice(2, 1, 5, 2);  // k = 1, 3
    CHECK(s.shape() == shape{3, 4, 2});
    CHECK(s.at({1, 2, 1}) == val(1, 2, 3));
    auto neg = t.slice(1, -3, -1);  // j = 1, 2
    CHECK(neg.shape() == shape{3, 2, 5});
    CHECK(neg.at({0, 1, 0}) == val(0, 2, 0));
    CHECK(t.slice(0, 2, 100).shape() == shape{1, 4, 5});  // end clamps
    CHECK(t.slice(0, 2, 1).numel() == 0);                  // empty, not an error
    auto big = vlm::tensor<float, cpu>::from_host({17}, [] {
      std::vector<float> v(17);
      std::iota(v.begin(), v.end(), 0.f);
      return v;
    }());
    CHECK(big.slice(0, 0, 17, 3).to_vector() == std::vector<float>{0, 3, 6, 9, 12, 15});
    CHECK(big.slice(0, 1, 17, 16).to_vector() == std::vector<float>{1});
  }
  SECTION("select and unsqueeze") {
    auto s = t.select(1, -1);  // j = 3
    CHECK(s.shape() == shape{3, 5});
    CHECK(s.at({2, 4}) == val(2, 3, 4));
    auto s0 = t.select(0, 0).select(0, 0).select(0, 4);
    CHECK(s0.dim() == 0);
    CHECK(s0.item() == val(0, 0, 4));
    auto u = t.unsqueeze(1);
    CHECK(u.shape() == shape{3, 1, 4, 5});
    CHECK(u.is_contiguous());
    CHECK(u.at({2, 0, 3, 1}) == val(2, 3, 1));
    CHECK(t.unsqueeze(-1).shape() == shape{3, 4, 5, 1});
    CHECK(s0.unsqueeze(0).shape() == shape{1});
    // unsqueeze of a non-contiguous view keeps its element order.
    auto tu = t.transpose(0, 2).unsqueeze(0);
    CHECK(tu.at({0, 4, 1, 2}) == val(2, 1, 4));
  }
  SECTION("writes through a view are seen by the base") {
    auto n = t.narrow(2, 1, 1);
    n.data()[0] = -1.f;
    CHECK(t.at({0, 0, 1}) == -1.f);
    auto c = n.clone();
    c.data()[0] = -2.f;
    CHECK(t.at({0, 0, 1}) == -1.f);
  }
}

TEST_CASE("tensor: a view and its contiguous copy agree (awkward sizes)", "[cpu][core][property]") {
  for (auto [I, J, K] : {std::array<std::int64_t, 3>{1, 17, 3}, {5, 1, 97}, {4, 9, 2}}) {
    auto t = base(I, J, K);
    std::vector<T3> views = {t.transpose(0, 1), t.permute({2, 0, 1}), t.slice(2, 0, K, 2), t.narrow(1, 0, J - J / 2),
                             t.select(2, K - 1).unsqueeze(0), t.transpose(1, 2).slice(1, 1, K)};
    for (auto& v : views) {
      auto c = v.contiguous();
      REQUIRE(c.shape() == v.shape());
      CHECK(c.to_vector() == v.to_vector());
      // Element-by-element through at().
      auto flat = c.view({-1}).to_vector();
      std::vector<float> via_at;
      auto s = v.shape();
      std::vector<std::int64_t> idx(static_cast<std::size_t>(s.rank()), 0);
      for (std::int64_t n = 0; n < v.numel(); ++n) {
        std::int64_t off = v.offset();
        for (int d = 0; d < s.rank(); ++d) off += idx[static_cast<std::size_t>(d)] * v.stride(d);
        via_at.push_back(t.data()[off]);
        for (int d = s.rank() - 1; d >= 0; --d) {
          if (++idx[static_cast<std::size_t>(d)] < s[d]) break;
          idx[static_cast<std::size_t>(d)] = 0;
        }
      }
      CHECK(flat == via_at);
    }
  }
}

TEST_CASE("tensor: other element types", "[cpu][core]") {
  auto b = vlm::tensor<vlm::bf16, cpu>::from_host({2, 2}, {vlm::bf16(1.f), vlm::bf16(2.f), vlm::bf16(3.f), vlm::bf16(4.f)});
  CHECK(float(b.transpose(0, 1).contiguous().at({0, 1})) == 3.f);
  auto m = vlm::tensor<bool, cpu>::from_host({3}, {true, false, true});
  CHECK(m.to_vector() == std::vector<bool>{true, false, true});
  CHECK(vlm::tensor<bool, cpu>::full({2}, true).to_vector() == std::vector<bool>{true, true});
  auto i = vlm::tensor<std::int64_t, cpu>::from_host({2, 3}, {1, 2, 3, 4, 5, 6});
  CHECK(i.slice(1, 0, 3, 2).contiguous().to_vector() == std::vector<std::int64_t>{1, 3, 4, 6});
}

TEST_CASE("tensor: bad views throw shape_error with the shapes in the message", "[cpu][core]") {
  auto t = base(2, 3, 4);
  CHECK_THROWS_AS(t.transpose(0, 1).view({24}), vlm::shape_error);
  CHECK_THROWS_WITH(t.transpose(0, 1).view({24}), Contains("non-contiguous") && Contains("[3, 2, 4]") &&
                                                      Contains("contiguous() or reshape()"));
  CHECK_THROWS_WITH(t.view({5, 5}), Contains("cannot view [2, 3, 4] (24 elements) as [5, 5]"));
  CHECK_THROWS_WITH(t.view({-1, -1}), Contains("more than one -1"));
  CHECK_THROWS_WITH(t.view({-1, 5}), Contains("cannot view [2, 3, 4] as [-1, 5]"));
  CHECK_THROWS_WITH(t.transpose(0, 3), Contains("dimension 3 out of range for rank 3"));
  CHECK_THROWS_WITH(t.permute({0, 1}), Contains("permute needs 3 dimensions, got 2"));
  CHECK_THROWS_WITH(t.permute({0, 1, 1}), Contains("permute repeats dimension 1"));
  CHECK_THROWS_WITH(t.narrow(1, 2, 2), Contains("narrow [2, 4) out of range for dimension 1 of [2, 3, 4]"));
  CHECK_THROWS_WITH(t.narrow(1, -1, 2), Contains("out of range"));
  CHECK_THROWS_WITH(t.slice(0, 0, 2, 0), Contains("slice step must be positive, got 0"));
  CHECK_THROWS_WITH(t.select(2, 4), Contains("index 4 out of range for dimension 2 of [2, 3, 4]"));
  CHECK_THROWS_WITH(t.select(2, -5), Contains("out of range for dimension 2"));
  CHECK_THROWS_WITH(t.unsqueeze(4), Contains("unsqueeze at 4 for rank 3"));
  CHECK_THROWS_WITH(t.at({0, 0}), Contains("at() needs 3 indices, got 2"));
  CHECK_THROWS_WITH(t.at({0, 3, 0}), Contains("index 3 out of range for dimension 1"));
  CHECK_THROWS_WITH(t.item(), Contains("item() of a tensor with 24 elements"));
  CHECK_THROWS_WITH(T3::from_host({2, 2}, {1.f, 2.f, 3.f}), Contains("shape [2, 2] needs 4 elements, got 3"));
  CHECK_THROWS_WITH(T3::empty({2, -3}), Contains("negative extent") && Contains("[2, -3]"));
  CHECK_THROWS_AS(base(1, 1, 1).view({1, 1, 1, 1, 1, 1, 1, 1, 1}), vlm::shape_error);
}

TEST_CASE("tensor: borrow keeps its owner alive", "[cpu][core]") {
  auto owner = std::make_shared<std::vector<float>>(std::vector<float>{1, 2, 3, 4, 5, 6});
  std::weak_ptr<std::vector<float>> watch = owner;
  T3 t = T3::borrow({2, 3}, owner->data(), owner);
  owner.reset();
  CHECK_FALSE(watch.expired());
  CHECK(t.transpose(0, 1).at({2, 1}) == 6.f);
  CHECK_FALSE(t.storage_ptr()->owning());
  t = T3();
  CHECK(watch.expired());
}
