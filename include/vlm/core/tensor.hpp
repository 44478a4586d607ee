// tensor<T, Backend>: a strided view of shared storage, owned through the backend's allocator.
//   T       -- element type (float, bf16, f16, int32_t, int64_t, uint8_t, bool)
//   Backend -- vlm::cpu or vlm::cuda; decides where the bytes live and which op overloads run.
// Copying a tensor copies the handle, not the data (like torch.Tensor). Views (view, reshape
// of contiguous data, transpose, permute, narrow, slice, select, unsqueeze) share storage and
// cost nothing; contiguous()/clone() copy. Element access (at/item) is for tests and small
// host-side logic; for a device tensor it copies one element.
#pragma once
#include <algorithm>
#include <cstdint>
#include <memory>
#include <span>
#include <type_traits>
#include <vector>

#include "vlm/backends/backend.hpp"
#include "vlm/backends/cpu/memory.hpp"
#include "vlm/core/dtype.hpp"
#include "vlm/core/error.hpp"
#include "vlm/core/shape.hpp"
#if defined(VLM_WITH_CUDA)
#include "vlm/backends/cuda/memory.hpp"
#endif

namespace vlm {

// Bytes owned by a backend allocation, or borrowed (mmap'd file, caller's buffer) while a
// keep-alive handle holds the owner.
template <class Backend>
class storage {
 public:
  explicit storage(std::size_t bytes)
      : ptr_(backend_memory<Backend>::allocate(bytes)), bytes_(bytes), owning_(true) {}
  storage(void* borrowed, std::size_t bytes, std::shared_ptr<const void> keep_alive)
      : ptr_(borrowed), bytes_(bytes), owning_(false), keep_alive_(std::move(keep_alive)) {}
  ~storage() {
    if (owning_) backend_memory<Backend>::deallocate(ptr_, bytes_);
  }
  storage(const storage&) = delete;
  storage& operator=(const storage&) = delete;

  void* data() const { return ptr_; }
  std::size_t bytes() const { return bytes_; }
  bool owning() const { return owning_; }

 private:
  void* ptr_;
  std::size_t bytes_;
  bool owning_;
  std::shared_ptr<const void> keep_alive_;
};

template <class T, class Backend = cpu>
class tensor {
 public:
  using value_type = T;
  using backend_type = Backend;

  tensor() = default;

  // Uninitialised contiguous tensor.
  static tensor empty(const vlm::shape& s) {
    for (std::int64_t x : s)
      VLM_CHECK_AS(shape_error, x >= 0, "shape ", s.str(), " has a negative extent, expected extents >= 0");
    tensor t;
    t.shape_ = s;
    t.strides_ = contiguous_strides(s);
    t.storage_ = std::make_shared<storage<Backend>>(static_cast<std::size_t>(s.numel()) * sizeof(T));
    return t;
  }
  static tensor zeros(const vlm::shape& s) {
    tensor t = empty(s);
    backend_memory<Backend>::fill_zero(t.storage_->data(), t.storage_->bytes());
    return t;
  }
  static tensor full(const vlm::shape& s, T value) {
    tensor t = empty(s);
    T* p = t.data();  // host memory only; a device backend needs its own fill
    if constexpr (std::is_same_v<Backend, cpu>) {
      std::fill(p, p + t.numel(), value);
    } else {
      // Not std::vector<T>: std::vector<bool> has no data().
      std::unique_ptr<T[]> host(new T[static_cast<std::size_t>(t.numel())]);
      std::fill(host.get(), host.get() + t.numel(), value);
      backend_memory<Backend>::copy_from_host(p, host.get(), static_cast<std::size_t>(t.numel()) * sizeof(T));
    }
    return t;
  }
  // Copies host data (row-major, numel elements) into a new tensor.
  static tensor from_host(const vlm::shape& s, std::span<const T> data) {
    VLM_CHECK_AS(shape_error, static_cast<std::int64_t>(data.size()) == s.numel(), "shape ", s.str(),
                 " needs ", s.numel(), " elements, got ", data.size());
    tensor t = empty(s);
    backend_memory<Backend>::copy_from_host(t.storage_->data(), data.data(), data.size() * sizeof(T));
    return t;
  }
  static tensor from_host(const vlm::shape& s, std::initializer_list<T> data) {
    return from_host(s, std::span<const T>(data.begin(), data.size()));
  }
  // Zero-copy: wraps memory owned elsewhere (kept alive by keep_alive). Contiguous.
  static tensor borrow(const vlm::shape& s, T* data, std::shared_ptr<const void> keep_alive) {
    tensor t;
    t.shape_ = s;
    t.strides_ = contiguous_strides(s);
    t.storage_ = std::make_shared<storage<Backend>>(data, static_cast<std::size_t>(s.numel()) * sizeof(T),
                                                    std::move(keep_alive));
    return t;
  }

  // ---- geometry ----
  const vlm::shape& shape() const { return shape_; }
  const vlm::shape& strides() const { return strides_; }
  int dim() const { return shape_.rank(); }
  std::int64_t size(int d) const { return shape_[d]; }
  std::int64_t stride(int d) const { return strides_[d]; }
  std::int64_t numel() const { return shape_.numel(); }
  std::int64_t offset() const { return offset_; }
  bool defined() const { return storage_ != nullptr; }
  bool is_contiguous() const {
    std::int64_t expect = 1;
    for (int i = dim() - 1; i >= 0; --i) {
      if (shape_[i] != 1 && strides_[i] != expect) return false;
      expect *= shape_[i];
    }
    return true;
  }
  // Pointer to the first element. A tensor is a handle: constness is the handle's, not the data's.
  T* data() const {
    return storage_ ? static_cast<T*>(storage_->data()) + offset_ : nullptr;
  }
  const std::shared_ptr<storage<Backend>>& storage_ptr() const { return storage_; }
  bool shares_storage_with(const tensor& o) const { return storage_ == o.storage_; }

  // ---- views ----
  // Same data, new shape; one extent may be -1. Requires contiguous data.
  tensor view(vlm::shape s) const {
    VLM_CHECK_AS(shape_error, is_contiguous(), "view of a non-contiguous tensor ", shape_.str(),
                 "; call contiguous() or reshape()");
    resolve_infer(s);
    tensor t = *this;
    t.shape_ = s;
    t.strides_ = contiguous_strides(s);
    return t;
  }
  tensor reshape(vlm::shape s) const { return is_contiguous() ? view(s) : contiguous().view(s); }
  tensor transpose(int a, int b) const {
    tensor t = *this;
    t.grad_slot = -1;  // element order changes: not the same gradient buffer
    a = shape_.wrap(a);
    b = shape_.wrap(b);
    std::swap(t.shape_[a], t.shape_[b]);
    std::swap(t.strides_[a], t.strides_[b]);
    return t;
  }
  tensor permute(std::initializer_list<int> order) const {
    VLM_CHECK_AS(shape_error, static_cast<int>(order.size()) == dim(), "permute needs ", dim(),
                 " dimensions, got ", order.size());
    tensor t = *this;
    t.grad_slot = -1;  // element order changes: not the same gradient buffer
    int i = 0;
    std::vector<bool> seen(static_cast<std::size_t>(dim()), false);
    for (int o : order) {
      int j = shape_.wrap(o);
      VLM_CHECK_AS(shape_error, !seen[static_cast<std::size_t>(j)], "permute repeats dimension ", o);
      seen[static_cast<std::size_t>(j)] = true;
      t.shape_[i] = shape_[j];
      t.strides_[i] = strides_[j];
      ++i;
    }
    return t;
  }
  // Elements [start, start + length) along d.
  tensor narrow(int d, std::int64_t start, std::int64_t length) const {
    d = shape_.wrap(d);
    VLM_CHECK_AS(shape_error, start >= 0 && length >= 0 && start + length <= shape_[d], "narrow [", start,
                 ", ", start + length, ") out of range for dimension ", d, " of ", shape_.str());
    tensor t = *this;
    t.grad_slot = -1;  // a part is not the whole gradient buffer
    t.offset_ += start * strides_[d];
    t.shape_[d] = length;
    return t;
  }
  // Python-style slice start:end:step along d (non-negative step; negative start/end wrap).
  tensor slice(int d, std::int64_t start, std::int64_t end, std::int64_t step = 1) const {
    d = shape_.wrap(d);
    std::int64_t n = shape_[d];
    if (start < 0) start += n;
    if (end < 0) end += n;
    start = std::clamp<std::int64_t>(start, 0, n);
    end = std::clamp<std::int64_t>(end, start, n);
    VLM_CHECK_AS(shape_error, step > 0, "slice step must be positive, got ", step);
    tensor t = *this;
    t.grad_slot = -1;  // a part is not the whole gradient buffer
    t.offset_ += start * strides_[d];
    t.shape_[d] = (end - start + step - 1) / step;
    t.strides_[d] = strides_[d] * step;
    return t;
  }
  // Index i along d; the dimension is removed.
  tensor select(int d, std::int64_t i) const {
    d = shape_.wrap(d);
    if (i < 0) i += shape_[d];
    VLM_CHECK_AS(shape_error, i >= 0 && i < shape_[d], "index ", i, " out of range for dimension ", d,
                 " of ", shape_.str());
    tensor t;
    t.storage_ = storage_;
    t.offset_ = offset_ + i * strides_[d];
    for (int k = 0; k < dim(); ++k)
      if (k != d) {
        t.shape_.push_back(shape_[k]);
        t.strides_.push_back(strides_[k]);
      }
    return t;
  }
  tensor unsqueeze(int d) const {
    if (d < 0) d += dim() + 1;
    VLM_CHECK_AS(shape_error, d >= 0 && d <= dim(), "unsqueeze at ", d, " for rank ", dim());
    tensor t;
    t.storage_ = storage_;
    t.offset_ = offset_;
    t.grad_slot = grad_slot;  // same elements in the same order
    for (int k = 0; k <= dim(); ++k) {
      if (k == d) {
        t.shape_.push_back(1);
        t.strides_.push_back(k < dim() ? strides_[k] * shape_[k] : 1);
      }
      if (k < dim()) {
        t.shape_.push_back(shape_[k]);
        t.strides_.push_back(strides_[k]);
      }
    }
    return t;
  }

  // ---- copies ----
  tensor contiguous() const { return is_contiguous() ? *this : clone(); }
  tensor clone() const {
    tensor t = empty(shape_);
    copy_into(t, *this);
    return t;  // untracked copy
  }
  // Host copy of all elements in row-major order.
  std::vector<T> to_vector() const {
    tensor c = contiguous();
    const std::size_t n = static_cast<std::size_t>(numel());
    if constexpr (std::is_same_v<T, bool>) {  // std::vector<bool> is packed: no data() to copy into
      std::unique_ptr<bool[]> host(new bool[n + 1]);
      backend_memory<Backend>::copy_to_host(host.get(), c.data(), n * sizeof(bool));
      return std::vector<bool>(host.get(), host.get() + n);
    } else {
      std::vector<T> out(n);
      backend_memory<Backend>::copy_to_host(out.data(), c.data(), n * sizeof(T));
      return out;
    }
  }
  // Element at a multi-index (tests and small host-side logic).
  T at(std::initializer_list<std::int64_t> idx) const {
    VLM_CHECK_AS(shape_error, static_cast<int>(idx.size()) == dim(), "at() needs ", dim(), " indices, got ",
                 idx.size());
    std::int64_t off = offset_;
    int d = 0;
    for (std::int64_t i : idx) {
      VLM_CHECK_AS(shape_error, i >= 0 && i < shape_[d], "index ", i, " out of range for dimension ", d,
                   " of ", shape_.str());
      off += i * strides_[d++];
    }
    T v;
    backend_memory<Backend>::copy_to_host(&v, static_cast<T*>(storage_->data()) + off, sizeof(T));
    return v;
  }
  T item() const {
    VLM_CHECK_AS(shape_error, numel() == 1, "item() of a tensor with ", numel(), " elements");
    T v;
    backend_memory<Backend>::copy_to_host(&v, data(), sizeof(T));
    return v;
  }
  // Autograd slot on the tape that produced this value (-1: not tracked). See autograd/tape.hpp.
  // Views that keep the element order (view, reshape of contiguous data, unsqueeze) keep the
  // slot; views that reorder or cut (transpose, permute, narrow, slice, select) drop it: use the
  // recorded ops in autograd/ for those on tracked values.
  int grad_slot = -1;

 private:
  void resolve_infer(vlm::shape& s) const {
    int infer = -1;
    std::int64_t known = 1;
    for (int i = 0; i < s.rank(); ++i) {
      if (s[i] == -1) {
        VLM_CHECK_AS(shape_error, infer < 0, "view ", s.str(), " has more than one -1");
        infer = i;
      } else {
        known *= s[i];
      }
    }
    if (infer >= 0) {
      VLM_CHECK_AS(shape_error, known > 0 && numel() % known == 0, "cannot view ", shape_.str(), " as ", s.str());
      s[infer] = numel() / known;
    }
    VLM_CHECK_AS(shape_error, s.numel() == numel(), "cannot view ", shape_.str(), " (", numel(), " elements) as ",
                 s.str());
  }

  std::shared_ptr<storage<Backend>> storage_;
  vlm::shape shape_;
  vlm::shape strides_;
  std::int64_t offset_ = 0;
};

// Host strided copy: dst (contiguous, same shape) <- src (any strides).
template <class T>
void copy_into(tensor<T, cpu>& dst, const tensor<T, cpu>& src) {
  VLM_CHECK_AS(shape_error, dst.shape() == src.shape(), "copy ", src.shape().str(), " into ", dst.shape().str());
  if (src.is_contiguous() && dst.is_contiguous()) {
    backend_memory<cpu>::copy(dst.data(), src.data(), static_cast<std::size_t>(src.numel()) * sizeof(T));
    return;
  }
  const int r = src.dim();
  if (src.numel() == 0) return;
  if (r == 0) { *dst.data() = *src.data(); return; }
  // Iterate the index space with an odometer; the innermost dimension is a tight loop.
  std::array<std::int64_t, max_rank> idx{};
  const std::int64_t inner = src.size(r - 1), s_in = src.stride(r - 1), d_in = dst.stride(r - 1);
  const std::int64_t outer = src.numel() / inner;
  for (std::int64_t o = 0; o < outer; ++o) {
    std::int64_t so = 0, dof = 0;
    for (int k = 0; k < r - 1; ++k) {
      so += idx[static_cast<std::size_t>(k)] * src.stride(k);
      dof += idx[static_cast<std::size_t>(k)] * dst.stride(k);
    }
    const T* s = src.data() + so;
    T* d = dst.data() + dof;
    for (std::int64_t i = 0; i < inner; ++i) d[i * d_in] = s[i * s_in];
    for (int k = r - 2; k >= 0; --k) {
      if (++idx[static_cast<std::size_t>(k)] < src.size(k)) break;
      idx[static_cast<std::size_t>(k)] = 0;
    }
  }
}

// Moves a tensor between backends (contiguous result).
template <class To, class T, class From>
tensor<T, To> to_backend(const tensor<T, From>& src) {
  if constexpr (std::is_same_v<To, From>) {
    return src;
  } else {
    auto c = src.contiguous();
    auto out = tensor<T, To>::empty(c.shape());
    std::vector<T> host = c.to_vector();
    backend_memory<To>::copy_from_host(out.data(), host.data(), host.size() * sizeof(T));
    return out;
  }
}

template <class T>
using host_tensor = tensor<T, cpu>;

}  // namespace vlm
