// A downstream program: uses the tensor core, a CPU op and the tape through the package.
#include <vlm/autograd.hpp>
#include <cstdio>
int main() {
  vlm::tape<float> t;
  vlm::parameter<float> w(vlm::tensor<float>::from_host({1, 2}, {0.5f, -1.f}));
  auto x = vlm::tensor<float>::from_host({1, 2}, {2.f, 1.f});
  auto y = vlm::ag::linear(t, x, vlm::ag::use(t, w));
  std::printf("%g\n", y.item());
  return y.item() == 0.f ? 0 : 1;
}
