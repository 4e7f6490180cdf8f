// Bytes: the value of a set key (or of its upper bound), as the kernel compares it.
//
// Keys of our sets are 1 to 16 bytes (an IPv6 address, `inet_proto . inet_service` is 8),
// and a program holds tens of thousands of them: with the bytes inline, an element costs no
// allocation of its own and keys compare as a short memcmp. Longer values (the kernel allows
// 64 bytes, e.g. in someone else's set we read back) go to the heap.
#pragma once

#include <algorithm>
#include <bit>
#include <compare>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <initializer_list>
#include <iterator>
#include <memory>
#include <stdexcept>

namespace nft {

class Bytes {
 public:
  using value_type = std::uint8_t;
  using size_type = std::size_t;
  using iterator = std::uint8_t*;
  using const_iterator = const std::uint8_t*;
  using reverse_iterator = std::reverse_iterator<iterator>;
  using const_reverse_iterator = std::reverse_iterator<const_iterator>;
  static constexpr std::size_t kInline = 16;

  Bytes() = default;
  explicit Bytes(std::size_t n, std::uint8_t value = 0) { assign(n, value); }
  Bytes(std::initializer_list<std::uint8_t> values) { assign(values.begin(), values.end()); }
  template <class It, class = typename std::iterator_traits<It>::iterator_category>
  Bytes(It first, It last) {
    assign(first, last);
  }
  Bytes(const Bytes& other) { assign(other.begin(), other.end()); }
  Bytes(Bytes&& other) noexcept { *this = std::move(other); }
  Bytes& operator=(const Bytes& other) {
    if (this != &other) assign(other.begin(), other.end());
    return *this;
  }
  Bytes& operator=(Bytes&& other) noexcept {
    if (this == &other) return *this;
    heap_ = std::move(other.heap_);
    size_ = other.size_;
    capacity_ = other.capacity_;
    std::memcpy(inline_, other.inline_, kInline);
    other.size_ = 0;
    other.capacity_ = kInline;
    std::memset(other.inline_, 0, kInline);
    return *this;
  }

  void assign(std::size_t n, std::uint8_t value) {
    reserve_exactly(n);
    std::memset(inline_, 0, kInline);  // the padding stays zero (see operator<=>)
    size_ = static_cast<std::uint32_t>(n);
    std::memset(data(), value, n);
  }
  template <class It>
  void assign(It first, It last) {
    const auto n = static_cast<std::size_t>(std::distance(first, last));
    reserve_exactly(n);
    std::memset(inline_, 0, kInline);
    size_ = static_cast<std::uint32_t>(n);
    std::copy(first, last, data());
  }
  void push_back(std::uint8_t b) {
    if (size_ == capacity_) grow(std::size_t{size_} * 2);
    data()[size_++] = b;
  }
  void resize(std::size_t n, std::uint8_t value = 0) {
    if (n > capacity_) grow(n);
    if (n > size_) std::memset(data() + size_, value, n - size_);
    if (n < size_ && !heap_) std::memset(inline_ + n, 0, size_ - n);
    size_ = static_cast<std::uint32_t>(n);
  }
  void clear() { resize(0); }

  std::uint8_t* data() { return heap_ ? heap_.get() : inline_; }
  const std::uint8_t* data() const { return heap_ ? heap_.get() : inline_; }
  std::size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }
  iterator begin() { return data(); }
  iterator end() { return data() + size_; }
  const_iterator begin() const { return data(); }
  const_iterator end() const { return data() + size_; }
  reverse_iterator rbegin() { return reverse_iterator(end()); }
  reverse_iterator rend() { return reverse_iterator(begin()); }
  const_reverse_iterator rbegin() const { return const_reverse_iterator(end()); }
  const_reverse_iterator rend() const { return const_reverse_iterator(begin()); }
  std::uint8_t at(std::size_t i) const {
    if (i >= size_) throw std::out_of_range("nft::Bytes::at");
    return data()[i];
  }
  std::uint8_t& operator[](std::size_t i) { return data()[i]; }
  std::uint8_t operator[](std::size_t i) const { return data()[i]; }
  std::uint8_t& front() { return data()[0]; }
  std::uint8_t front() const { return data()[0]; }
  std::uint8_t& back() { return data()[size_ - 1]; }
  std::uint8_t back() const { return data()[size_ - 1]; }

  friend bool operator==(const Bytes& a, const Bytes& b) {
    if (a.size_ != b.size_) return false;
    if (!a.heap_ && !b.heap_) return a.word(0) == b.word(0) && a.word(1) == b.word(1);
    return std::memcmp(a.data(), b.data(), a.size_) == 0;
  }
  // Lexicographic, as std::vector<std::uint8_t> compares. Inline bytes are zero-padded, so
  // comparing the padded 16 bytes as two big-endian integers, then the lengths, gives the
  // same order without a memcmp call.
  friend std::strong_ordering operator<=>(const Bytes& a, const Bytes& b) {
    if (!a.heap_ && !b.heap_) {
      if (auto c = a.big_endian(0) <=> b.big_endian(0); c != 0) return c;
      if (auto c = a.big_endian(1) <=> b.big_endian(1); c != 0) return c;
      return a.size_ <=> b.size_;
    }
    const int c = std::memcmp(a.data(), b.data(), std::min(a.size_, b.size_));
    if (c != 0) return c < 0 ? std::strong_ordering::less : std::strong_ordering::greater;
    return a.size_ <=> b.size_;
  }

 private:
  std::uint64_t word(int i) const {
    std::uint64_t w;
    std::memcpy(&w, inline_ + 8 * i, 8);
    return w;
  }
  std::uint64_t big_endian(int i) const {
    if constexpr (std::endian::native == std::endian::little) {
      return __builtin_bswap64(word(i));
    } else {
      return word(i);
    }
  }
  void reserve_exactly(std::size_t n) {
    if (n <= capacity_) return;
    heap_ = std::make_unique<std::uint8_t[]>(n);
    capacity_ = static_cast<std::uint32_t>(n);
  }
  void grow(std::size_t n) {
    n = std::max<std::size_t>(n, kInline * 2);
    auto bigger = std::make_unique<std::uint8_t[]>(n);
    std::memcpy(bigger.get(), data(), size_);
    heap_ = std::move(bigger);
    capacity_ = static_cast<std::uint32_t>(n);
  }

  std::unique_ptr<std::uint8_t[]> heap_;  // null while the bytes fit inline
  std::uint32_t size_ = 0;
  std::uint32_t capacity_ = kInline;
  std::uint8_t inline_[kInline] = {};
};

}  // namespace nft
