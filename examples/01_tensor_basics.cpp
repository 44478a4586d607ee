// 01_tensor_basics: tensors, views, a CPU op and one autograd step.
// Needs nothing but the headers. Expected output: the transposed matrix, a linear layer's
// output, and the weight gradient of a small cross-entropy loss.
#include <cstdio>

#include <vlm/autograd.hpp>

int main() {
  using namespace vlm;
  // 1. A 2x3 tensor and a zero-copy transposed view; contiguous() makes the copy.
  auto x = tensor<float>::from_host({2, 3}, {1, 2, 3, 4, 5, 6});
  auto xt = x.transpose(0, 1).contiguous();
  std::printf("x^T = ");
  for (float v : xt.to_vector()) std::printf("%g ", v);
  std::printf("\n");

  // 2. A parameter and a linear layer: y = x w^T.
  parameter<float> w(tensor<float>::from_host({2, 3}, {0.1f, 0.2f, 0.3f, -0.3f, 0.2f, 0.1f}));
  no_grad inference;
  auto y = ag::linear(inference, x, ag::use(inference, w));
  std::printf("y = [%g %g; %g %g]\n", y.at({0, 0}), y.at({0, 1}), y.at({1, 0}), y.at({1, 1}));

  // 3. The same on a tape, with a loss and its gradient.
  tape<float> t;
  auto logits = ag::linear(t, x, ag::use(t, w));
  auto labels = tensor<std::int64_t>::from_host({2}, {0, 1});
  auto loss = ag::cross_entropy(t, logits, labels);
  t.backward(loss);
  std::printf("loss = %.6f, dL/dw[0][0] = %.6f\n", loss.item(), w.grad.at({0, 0}));
  return 0;
}
