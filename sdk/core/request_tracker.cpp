#include "core/request_tracker.hpp"

#include <algorithm>
#include <utility>

namespace tether::core {

void RequestTracker::add(TrackedRequest request) {
  Entry entry;
  entry.seq = next_seq_++;
  const std::string id = request.id;
  if (request.message != 0) by_message_[request.message] = id;
  if (request.deadline) deadlines_.emplace(std::make_pair(*request.deadline, entry.seq), id);
  entry.request = std::move(request);
  requests_[id] = std::move(entry);
}

EndedRequest RequestTracker::remove(Map::iterator it, errc error) {
  Entry& entry = it->second;
  if (entry.request.message != 0) by_message_.erase(entry.request.message);
  if (entry.request.deadline) deadlines_.erase({*entry.request.deadline, entry.seq});
  EndedRequest ended{std::move(entry.request), error};
  requests_.erase(it);
  return ended;
}

void RequestTracker::on_written(MessageId message, TimePoint now) {
  auto m = by_message_.find(message);
  if (m == by_message_.end()) return;
  auto it = requests_.find(m->second);
  if (it == requests_.end()) return;
  it->second.request.written = true;
  it->second.request.written_at = now;
}

void RequestTracker::on_resent(const std::string& id, TimePoint now) {
  auto it = requests_.find(id);
  if (it == requests_.end()) return;
  it->second.request.written = true;
  it->second.request.written_at = now;
}

std::optional<TrackedRequest> RequestTracker::on_response(const std::string& id) {
  auto it = requests_.find(id);
  if (it == requests_.end()) {
    ++unmatched_;
    return std::nullopt;
  }
  return remove(it, errc{}).request;
}

std::optional<EndedRequest> RequestTracker::cancel(const std::string& id) {
  auto it = requests_.find(id);
  if (it == requests_.end()) return std::nullopt;
  return remove(it, errc::cancelled);
}

std::optional<EndedRequest> RequestTracker::on_dropped(MessageId message, errc error) {
  auto m = by_message_.find(message);
  if (m == by_message_.end()) return std::nullopt;
  auto it = requests_.find(m->second);
  if (it == requests_.end()) return std::nullopt;
  return remove(it, error);
}

std::vector<EndedRequest> RequestTracker::expire(TimePoint now) {
  std::vector<EndedRequest> out;
  while (!deadlines_.empty() && deadlines_.begin()->first.first <= now) {
    auto it = requests_.find(deadlines_.begin()->second);
    if (it == requests_.end()) {
      deadlines_.erase(deadlines_.begin());
      continue;
    }
    out.push_back(remove(it, errc::timeout));
  }
  return out;
}

std::vector<EndedRequest> RequestTracker::on_connection_lost() {
  std::vector<Map::iterator> lost;
  for (auto it = requests_.begin(); it != requests_.end(); ++it) {
    Entry& entry = it->second;
    if (!entry.request.written) continue;
    if (entry.request.retry_on_reconnect) {
      // Its queue message is gone (it was taken by the socket): it goes out again by itself.
      entry.resend = true;
      entry.request.written = false;
      if (entry.request.message != 0) {
        by_message_.erase(entry.request.message);
        entry.request.message = 0;
      }
    } else {
      lost.push_back(it);
    }
  }
  std::sort(lost.begin(), lost.end(),
            [](const Map::iterator& a, const Map::iterator& b) { return a->second.seq < b->second.seq; });
  std::vector<EndedRequest> out;
  out.reserve(lost.size());
  for (auto it : lost) out.push_back(remove(it, errc::connection_lost));
  return out;
}

std::vector<TrackedRequest> RequestTracker::take_resend() {
  std::vector<const Entry*> entries;
  for (auto& [id, entry] : requests_) {
    if (entry.resend) entries.push_back(&entry);
  }
  std::sort(entries.begin(), entries.end(),
            [](const Entry* a, const Entry* b) { return a->seq < b->seq; });
  std::vector<TrackedRequest> out;
  out.reserve(entries.size());
  for (const Entry* entry : entries) {
    out.push_back(entry->request);
    requests_[entry->request.id].resend = false;
  }
  return out;
}

std::vector<EndedRequest> RequestTracker::fail_all(errc error) {
  std::vector<Map::iterator> all;
  all.reserve(requests_.size());
  for (auto it = requests_.begin(); it != requests_.end(); ++it) all.push_back(it);
  std::sort(all.begin(), all.end(),
            [](const Map::iterator& a, const Map::iterator& b) { return a->second.seq < b->second.seq; });
  std::vector<EndedRequest> out;
  out.reserve(all.size());
  for (auto it : all) out.push_back(remove(it, error));
  return out;
}

std::optional<TimePoint> RequestTracker::next_deadline() const {
  if (deadlines_.empty()) return std::nullopt;
  return deadlines_.begin()->first.first;
}

}  // namespace tether::core
