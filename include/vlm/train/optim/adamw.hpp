// AdamW (decoupled weight decay) as torch.optim.AdamW computes it, per parameter element:
//   p <- p * (1 - lr * wd);  m <- b1 m + (1 - b1) g;  v <- b2 v + (1 - b2) g^2
//   p <- p - (lr / (1 - b1^t)) * m / (sqrt(v) / sqrt(1 - b2^t) + eps)
// Defaults are ms-swift's (beta2 0.95, weight decay 0.1; torch's are 0.999 / 0.01).
// State (m, v, t) is exposed for checkpoints so a resumed run continues bit for bit.
// clip_grad_norm: global L2 norm (double accumulation) and torch's clip coefficient
// max_norm / (norm + 1e-6), applied only when below 1.
#pragma once
#include <cmath>
#include <vector>

#include "vlm/autograd/parameter.hpp"
#include "vlm/backends/cpu.hpp"

namespace vlm::train {

struct adamw_config {
  float beta1 = 0.9f, beta2 = 0.95f, eps = 1e-8f, weight_decay = 0.1f;
};

template <class T>
class adamw {
 public:
  adamw(std::vector<parameter<T, cpu>*> params, adamw_config cfg) : params_(std::move(params)), cfg_(cfg) {
    for (auto* p : params_) {
      m_.push_back(tensor<float, cpu>::zeros(p->value.shape()));
      v_.push_back(tensor<float, cpu>::zeros(p->value.shape()));
    }
  }

  void step(float lr) {
    ++t_;
    const double bc1 = 1.0 - std::pow(static_cast<double>(cfg_.beta1), static_cast<double>(t_));
    const double bc2 = 1.0 - std::pow(static_cast<double>(cfg_.beta2), static_cast<double>(t_));
    const float step_size = static_cast<float>(lr / bc1);
    const float bc2_sqrt = static_cast<float>(std::sqrt(bc2));
    const float decay = 1.f - lr * cfg_.weight_decay;
    for (std::size_t i = 0; i < params_.size(); ++i) {
      auto* p = params_[i];
      if (!p->grad.defined()) continue;
      float* w = reinterpret_cast<float*>(p->value.data());
      static_assert(std::is_same_v<T, float>, "adamw keeps f32 parameters (master weights)");
      const float* g = p->grad.data();
      float* m = m_[i].data();
      float* v = v_[i].data();
      const std::int64_t n = p->value.numel();
      cpu_detail::parallel_for(n, 1 << 14, [&](std::int64_t a, std::int64_t b) {
        for (std::int64_t k = a; k < b; ++k) {
          w[k] *= decay;
          m[k] = cfg_.beta1 * m[k] + (1.f - cfg_.beta1) * g[k];
          v[k] = cfg_.beta2 * v[k] + (1.f - cfg_.beta2) * g[k] * g[k];
          w[k] -= step_size * m[k] / (std::sqrt(v[k]) / bc2_sqrt + cfg_.eps);
        }
      });
    }
  }
  void zero_grad() {
    for (auto* p : params_) p->zero_grad();
  }

  // Global L2 norm of all gradients before clipping; scales them when above max_norm.
  double clip_grad_norm(double max_norm) {
    double ss = 0;
    for (auto* p : params_) {
      if (!p->grad.defined()) continue;
      const float* g = p->grad.data();
      for (std::int64_t k = 0; k < p->grad.numel(); ++k) ss += static_cast<double>(g[k]) * g[k];
    }
    const double norm = std::sqrt(ss);
    if (max_norm > 0 && std::isfinite(norm)) {
      const double coef = max_norm / (norm + 1e-6);
      if (coef < 1.0)
        for (auto* p : params_)
          if (p->grad.defined()) {
            float* g = p->grad.data();
            for (std::int64_t k = 0; k < p->grad.numel(); ++k) g[k] = static_cast<float>(g[k] * coef);
          }
    }
    return norm;
  }

  std::int64_t steps() const { return t_; }
  void set_steps(std::int64_t t) { t_ = t; }
  std::vector<tensor<float, cpu>>& exp_avg() { return m_; }
  std::vector<tensor<float, cpu>>& exp_avg_sq() { return v_; }
  const std::vector<parameter<T, cpu>*>& params() const { return params_; }

 private:
  std::vector<parameter<T, cpu>*> params_;
  adamw_config cfg_;
  std::vector<tensor<float, cpu>> m_, v_;
  std::int64_t t_ = 0;
};

}  // namespace vlm::train
