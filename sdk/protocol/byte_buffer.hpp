#pragma once

// A growable byte buffer whose spare room can be written in place (by recv(2), for example)
// without being zero-filled first, as std::string::resize would.

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <string_view>

namespace tether::protocol {

class ByteBuffer {
 public:
  std::size_t size() const noexcept { return size_; }
  std::size_t capacity() const noexcept { return capacity_; }
  std::uint8_t* data() noexcept { return data_.get(); }
  const std::uint8_t* data() const noexcept { return data_.get(); }
  std::string_view view() const noexcept {
    return std::string_view(reinterpret_cast<const char*>(data_.get()), size_);
  }

  /// Room for at least `n` bytes in all (the bytes held are kept).
  void reserve(std::size_t n) {
    if (n <= capacity_) return;
    std::unique_ptr<std::uint8_t[]> bigger(new std::uint8_t[n]);
    if (size_ != 0) std::memcpy(bigger.get(), data_.get(), size_);
    data_ = std::move(bigger);
    capacity_ = n;
  }
  /// The `n` bytes after the ones held, to be written and then counted by commit(); the caller
  /// has reserved them.
  std::uint8_t* tail() noexcept { return data_.get() + size_; }
  void commit(std::size_t n) noexcept { size_ += n; }
  void append(const std::uint8_t* p, std::size_t n) {
    reserve(size_ + n);
    if (n != 0) std::memcpy(tail(), p, n);
    size_ += n;
  }
  void clear() noexcept { size_ = 0; }
  /// Drops the first `n` bytes held (the rest moves to the start).
  void erase_front(std::size_t n) noexcept {
    if (n < size_) std::memmove(data_.get(), data_.get() + n, size_ - n);
    size_ = n < size_ ? size_ - n : 0;
  }
  /// Empty, and the memory given back.
  void release() noexcept {
    data_.reset();
    size_ = 0;
    capacity_ = 0;
  }

 private:
  std::unique_ptr<std::uint8_t[]> data_;
  std::size_t size_ = 0;
  std::size_t capacity_ = 0;
};

}  // namespace tether::protocol
