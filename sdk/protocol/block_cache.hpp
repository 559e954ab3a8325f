#pragma once

// An allocator that keeps the blocks a container frees for its next allocations of the same size.
// A std::deque used as a FIFO (push at the back, pop at the front) frees a block each time its
// front crosses one and allocates one each time its back does: with the freed blocks kept, such a
// queue allocates nothing in steady state. Copies of an allocator (rebinds included) share one
// cache, which is not thread-safe: the containers using it are guarded by their owner.

#include <cstddef>
#include <memory>
#include <new>
#include <type_traits>
#include <vector>

namespace tether::protocol {

class BlockCache {
 public:
  BlockCache() = default;
  BlockCache(const BlockCache&) = delete;
  BlockCache& operator=(const BlockCache&) = delete;
  ~BlockCache() {
    for (const Block& block : blocks_) ::operator delete(block.at);
  }

  void* allocate(std::size_t bytes) {
    // The last block kept is the likeliest match (and the warmest in the cache).
    for (std::size_t i = blocks_.size(); i-- > 0;) {
      if (blocks_[i].bytes != bytes) continue;
      void* at = blocks_[i].at;
      blocks_[i] = blocks_.back();
      blocks_.pop_back();
      kept_bytes_ -= bytes;
      return at;
    }
    return ::operator new(bytes);
  }

  void deallocate(void* at, std::size_t bytes) noexcept {
    if (kept_bytes_ + bytes <= kKeepBytes) {
      try {
        blocks_.push_back(Block{at, bytes});
        kept_bytes_ += bytes;
        return;
      } catch (...) {
        // not kept: released below
      }
    }
    ::operator delete(at);
  }

 private:
  /// What a batch of messages in flight takes (a thousand entries of a hundred bytes or so),
  /// bounded so that a burst does not pin memory.
  static constexpr std::size_t kKeepBytes = 256 * 1024;
  struct Block {
    void* at = nullptr;
    std::size_t bytes = 0;
  };
  std::vector<Block> blocks_;
  std::size_t kept_bytes_ = 0;
};

template <typename T>
class RecyclingAllocator {
 public:
  using value_type = T;
  using propagate_on_container_copy_assignment = std::true_type;
  using propagate_on_container_move_assignment = std::true_type;
  using propagate_on_container_swap = std::true_type;

  RecyclingAllocator() : cache_(std::make_shared<BlockCache>()) {}
  explicit RecyclingAllocator(std::shared_ptr<BlockCache> cache) : cache_(std::move(cache)) {}
  template <typename U>
  RecyclingAllocator(const RecyclingAllocator<U>& other) noexcept : cache_(other.cache()) {}

  T* allocate(std::size_t n) {
    static_assert(alignof(T) <= __STDCPP_DEFAULT_NEW_ALIGNMENT__, "over-aligned type");
    return static_cast<T*>(cache_->allocate(n * sizeof(T)));
  }
  void deallocate(T* at, std::size_t n) noexcept { cache_->deallocate(at, n * sizeof(T)); }

  const std::shared_ptr<BlockCache>& cache() const noexcept { return cache_; }

  template <typename U>
  bool operator==(const RecyclingAllocator<U>& other) const noexcept {
    return cache_ == other.cache();
  }
  template <typename U>
  bool operator!=(const RecyclingAllocator<U>& other) const noexcept {
    return cache_ != other.cache();
  }

 private:
  std::shared_ptr<BlockCache> cache_;
};

}  // namespace tether::protocol
