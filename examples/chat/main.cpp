// chat: a terminal chat client for the bundled server's /chat path (examples/servers).
//
//   chat ws://127.0.0.1:PORT/chat --user ada [--room lobby] [--token T] [--linger-ms MS]
//
// Reads lines on stdin: `/join ROOM`, `/leave [ROOM]`, `/who [ROOM]`, `/rooms`, `/quit`; any
// other line is said in the current room (the last one joined). Rooms are tether subscriptions,
// so they are joined again after every reconnect. The conversation goes to stdout; the
// connection's state to stderr. At the end of input it waits for every answer, then closes.

#include <poll.h>
#include <unistd.h>

#include <atomic>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <iostream>
#include <memory>
#include <mutex>
#include <set>
#include <sstream>
#include <string>
#include <tether/tether.hpp>
#include <thread>
#include <vector>

namespace {

// --- the messages of /chat (examples/servers/README.md), with their JSON conversions ----------

// A line said in a room (server → client).
struct ChatLine {
  std::string room;
  std::string user;
  std::string text;
};
bool from_json(const tether::Json& in, ChatLine& out, std::string* error) {
  return tether::json_field(in, "room", out.room, error) &&
         tether::json_field(in, "user", out.user, error) &&
         tether::json_field(in, "text", out.text, error);
}

// Someone joined, left or renamed (server → everyone in the room).
struct Presence {
  std::string room;
  std::string user;
  std::string event;
  std::vector<std::string> users;
};
bool from_json(const tether::Json& in, Presence& out, std::string* error) {
  return tether::json_field(in, "room", out.room, error) &&
         tether::json_field(in, "user", out.user, error) &&
         tether::json_field(in, "event", out.event, error) &&
         tether::json_field(in, "users", out.users, error);
}

// What the client says (client → server, as a request: the answer tells how many received it).
struct Say {
  std::string room;
  std::string text;
};
void to_json(tether::Json& out, const Say& say) {
  out = tether::Json::object({{"room", say.room}, {"text", say.text}});
}
struct Delivered {
  int delivered = 0;
};
bool from_json(const tether::Json& in, Delivered& out, std::string* error) {
  return tether::json_field(in, "delivered", out.delivered, error);
}

// The answer to `who`.
struct Who {
  std::string room;
  std::vector<std::string> users;
};
bool from_json(const tether::Json& in, Who& out, std::string* error) {
  return tether::json_field(in, "room", out.room, error) &&
         tether::json_field(in, "users", out.users, error);
}

std::string join(const std::vector<std::string>& names) {
  std::string out;
  for (const auto& name : names) out += (out.empty() ? "" : ", ") + name;
  return out;
}

// Output from the loop thread and the input thread, one whole line at a time.
class Console {
 public:
  void out(const std::string& line) {
    std::lock_guard<std::mutex> lock(mutex_);
    std::cout << line << std::endl;
  }
  void status(const std::string& line) {
    std::lock_guard<std::mutex> lock(mutex_);
    std::cerr << "-- " << line << std::endl;
  }

 private:
  std::mutex mutex_;
};

// What still waits for an answer from the server: joins and leaves (by room) and requests (by a
// key of their own). A room confirmed again after a reconnect matches nothing and is ignored.
class Pending {
 public:
  void add(const std::string& key) {
    std::lock_guard<std::mutex> lock(mutex_);
    keys_.insert(key);
  }
  void done(const std::string& key) {
    std::lock_guard<std::mutex> lock(mutex_);
    auto it = keys_.find(key);
    if (it != keys_.end()) keys_.erase(it);
    changed_.notify_all();
  }
  void clear() {
    std::lock_guard<std::mutex> lock(mutex_);
    keys_.clear();
    changed_.notify_all();
  }
  bool wait_idle(std::chrono::milliseconds timeout) {
    std::unique_lock<std::mutex> lock(mutex_);
    return changed_.wait_for(lock, timeout, [&] { return keys_.empty(); });
  }

 private:
  std::mutex mutex_;
  std::condition_variable changed_;
  std::multiset<std::string> keys_;
};

struct Settings {
  std::string url;
  std::string user;
  std::string room;
  std::string token;
  std::chrono::milliseconds linger{0};
  std::chrono::milliseconds wait{10000};
};

bool parse_args(int argc, char** argv, Settings& settings) {
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    bool has_value = i + 1 < argc;
    if (arg == "--user" && has_value) {
      settings.user = argv[++i];
    } else if (arg == "--room" && has_value) {
      settings.room = argv[++i];
    } else if (arg == "--token" && has_value) {
      settings.token = argv[++i];
    } else if (arg == "--linger-ms" && has_value) {
      settings.linger = std::chrono::milliseconds(std::atol(argv[++i]));
    } else if (arg == "--wait-ms" && has_value) {
      settings.wait = std::chrono::milliseconds(std::atol(argv[++i]));
    } else if (settings.url.empty() && arg.rfind("--", 0) != 0) {
      settings.url = arg;
    } else {
      return false;
    }
  }
  return !settings.url.empty();
}

// `text` for a URL query value: unreserved characters as they are, every other byte as %XX.
std::string percent_encode(const std::string& text) {
  static const char* const kHex = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : text) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  return out;
}

// The first word of `line` after the command, trimmed ("" when none).
std::string argument(const std::string& line) {
  std::istringstream in(line);
  std::string command, value;
  in >> command >> value;
  return value;
}

// Reads one line of stdin; false at the end of input or once `stop` is set (checked every
// 100 ms while stdin has nothing, so a client that fails ends the program).
bool read_line(std::string& line, const std::atomic<bool>& stop) {
  while (!stop) {
    if (std::cin.rdbuf()->in_avail() <= 0) {
      pollfd fd{STDIN_FILENO, POLLIN, 0};
      int ready = ::poll(&fd, 1, 100);
      if (ready == 0 || (ready < 0 && errno == EINTR)) continue;
    }
    return static_cast<bool>(std::getline(std::cin, line));
  }
  return false;
}

}  // namespace

int main(int argc, char** argv) {
  // std::cin with a buffer of its own, so read_line() can tell whether a line is already there,
  // and not tied to std::cout: output is flushed line by line by Console, under its lock (a tied
  // std::cin would flush std::cout from this thread without it).
  std::ios::sync_with_stdio(false);
  std::cin.tie(nullptr);
  Settings settings;
  if (!parse_args(argc, argv, settings)) {
    std::cerr << "usage: chat URL [--user NAME] [--room ROOM] [--token T] [--linger-ms MS] "
                 "[--wait-ms MS]\n";
    return 2;
  }

  tether::ClientOptions options;
  options.url = settings.url;
  if (!settings.user.empty()) {
    options.url += (options.url.find('?') == std::string::npos ? "?user=" : "&user=") +
                   percent_encode(settings.user);
  }
  if (!settings.token.empty()) {
    options.auth.token = settings.token;
    options.auth.first_message = true;
  }

  Console console;
  Pending pending;
  std::mutex room_mutex;
  std::string room;  // the current room: where plain lines go
  std::atomic<bool> failed{false};
  int requests = 0;

  // A runtime of the program's own (one loop thread), ended before main returns; the client
  // keeps it alive as long as it needs it.
  std::shared_ptr<tether::Runtime> runtime = tether::Runtime::create();
  tether::Client client(options, runtime);

  client.on<ChatLine>("chat", [&](const ChatLine& line) {
    console.out("[" + line.room + "] " + line.user + ": " + line.text);
  });
  client.on<Presence>("presence", [&](const Presence& p) {
    std::string what = p.event == "join"    ? " joined "
                       : p.event == "leave" ? " left "
                                            : " is now known as " + p.user + " in ";
    console.out("* " + p.user + what + p.room + " (here: " + join(p.users) + ")");
  });
  client.on("error", [&](const tether::Json& payload) {
    console.out("* server: " + payload["message"].as_string());
  });
  client.on_subscribed([&](const std::string& channel) { pending.done("join " + channel); });
  client.on_unsubscribed([&](const std::string& channel) {
    console.out("* you left " + channel);
    pending.done("leave " + channel);
  });
  client.on_state([&](tether::State, tether::State to, const tether::Cause& cause) {
    std::string line = std::string(tether::to_string(to));
    if (cause.close_code != 0) {
      line += " (closed " + std::to_string(cause.close_code) +
              (cause.close_reason.empty() ? "" : " \"" + cause.close_reason + "\"") + ")";
    }
    if (cause.error) line += " (" + std::string(tether::to_string(*cause.error)) + ")";
    console.status(line);
    if (to == tether::State::failed) {
      failed = true;
      pending.clear();
    }
  });
  client.on_reconnect_scheduled([&](int attempt, std::chrono::milliseconds delay) {
    console.status("reconnect #" + std::to_string(attempt) + " in " +
                   std::to_string(delay.count()) + " ms");
  });
  client.on_error([&](const tether::Error& error) {
    if (error.code == tether::errc::subscribe_rejected ||
        error.code == tether::errc::auth_rejected) {
      console.out("* " + std::string(tether::to_string(error.code)) + ": " + error.message);
    }
  });

  auto join_room = [&](const std::string& name) {
    {
      std::lock_guard<std::mutex> lock(room_mutex);
      room = name;
    }
    pending.add("join " + name);
    client.subscribe(name);
  };

  if (tether::Error error = client.start()) {
    std::cerr << "chat: " << tether::to_string(error.code) << ": " << error.message << '\n';
    return 1;
  }
  if (!settings.room.empty()) join_room(settings.room);

  std::string line;
  while (read_line(line, failed)) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.empty()) continue;
    std::string current;
    {
      std::lock_guard<std::mutex> lock(room_mutex);
      current = room;
    }
    if (line == "/quit") break;
    if (line.rfind("/join", 0) == 0) {
      std::string name = argument(line);
      if (name.empty()) {
        console.out("* usage: /join ROOM");
      } else {
        join_room(name);
      }
    } else if (line.rfind("/leave", 0) == 0) {
      std::string name = argument(line);
      if (name.empty()) name = current;
      if (name.empty()) {
        console.out("* not in a room");
        continue;
      }
      pending.add("leave " + name);
      client.unsubscribe(name);
      std::vector<std::string> left = client.subscriptions();
      std::lock_guard<std::mutex> lock(room_mutex);
      if (room == name) room = left.empty() ? std::string() : left.back();
    } else if (line.rfind("/who", 0) == 0) {
      std::string name = argument(line);
      if (name.empty()) name = current;
      std::string key = "request " + std::to_string(++requests);
      pending.add(key);
      client.request<tether::Json, Who>(
          "who", tether::Json::object({{"room", name}}),
          [&, key](const tether::Response& response, const Who* who) {
            if (who) {
              console.out("* in " + who->room + ": " +
                          (who->users.empty() ? std::string("nobody") : join(who->users)));
            } else {
              console.out("* who failed: " +
                          (response.remote ? response.remote->message : response.message));
            }
            pending.done(key);
          });
    } else if (line == "/rooms") {
      console.out("* rooms: " + join(client.subscriptions()));
    } else if (line[0] == '/') {
      console.out("* commands: /join ROOM, /leave [ROOM], /who [ROOM], /rooms, /quit");
    } else if (current.empty()) {
      console.out("* join a room first: /join ROOM");
    } else {
      std::string key = "request " + std::to_string(++requests);
      pending.add(key);
      client.request<Say, Delivered>(
          "chat", Say{current, line},
          [&, key](const tether::Response& response, const Delivered* delivered) {
            if (!delivered) {
              console.out("* not delivered: " +
                          (response.remote ? response.remote->message : response.message));
            }
            pending.done(key);
          },
          tether::RequestOptions{std::chrono::milliseconds(30000), false});
    }
  }

  // End of input: every join, leave and request answered (bounded), then close.
  if (!pending.wait_idle(settings.wait)) console.status("some answers did not come in time");
  if (settings.linger.count() > 0) std::this_thread::sleep_for(settings.linger);
  client.close();
  for (int i = 0; i < 1000 && !client.is_finished(); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return failed ? 1 : 0;
}
