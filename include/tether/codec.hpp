#pragma once

/// \file codec.hpp
/// Message codecs: how typed messages and requests become text frames, and how inbound text
/// frames become messages, responses and error responses. Two are built in: tether's default
/// envelope (envelope_codec) and JSON-RPC 2.0 (json_rpc_codec). See docs/json.md.
///
/// A codec is immutable after construction and may be used from several threads at once.
/// Decoding never trusts its input: text that is not a message of the codec is refused with a
/// one-line reason (nesting depth bounded, invalid UTF-8 refused, no recursion on deep input).

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "tether/export.hpp"
#include "tether/json.hpp"

namespace tether {

/// A remote error: from an error response.
struct RemoteError {
  std::string code;     ///< The error code as text ("-32601", "not_found"); empty when none.
  std::string message;  ///< The error message; empty when none.
  Json data;            ///< Extra data ("data" of the error object); null when none.
};

/// One decoded inbound item.
struct Inbound {
  /// What the item is: a message (including a server's request or notification), a response
  /// to a request, or an error response.
  enum class Kind { message, response, error_response };
  /// What the item is.
  Kind kind = Kind::message;
  std::string type;   ///< message: its type (JSON-RPC: the method)
  std::string id;     ///< response/error_response: the request id as text (string ids as is,
                      ///< integer ids in decimal); a message's id when it carries one (a server
                      ///< request); empty when none
  Json payload;       ///< message payload / response result
  RemoteError error;  ///< error_response
};

/// Encodes typed messages and requests into text and decodes inbound text (see the file
/// description). Implement it to speak another protocol; set it as ClientOptions::codec.
class TETHER_API Codec {
 public:
  virtual ~Codec();
  /// "envelope", "json-rpc", ...
  virtual std::string name() const = 0;
  /// A message with no response expected. Returns false and sets `error` when it cannot be
  /// encoded (empty type, invalid UTF-8, NaN or infinity, nesting too deep, a payload the
  /// protocol does not allow); `out` is replaced by the text, or cleared on failure.
  virtual bool encode_message(std::string_view type, const Json& payload, std::string& out,
                              std::string& error) const = 0;
  /// A request carrying `id` (a string id made of decimal digits, e.g. "42").
  virtual bool encode_request(std::string_view type, std::string_view id, const Json& payload,
                              std::string& out, std::string& error) const = 0;
  /// Decodes one inbound text message into one or more items (a JSON-RPC batch gives several),
  /// replacing the contents of `out`. Returns false with `error` (a one-line reason naming the
  /// problem: "not JSON: ...", "not an object", "field \"type\" is not a string", "nesting
  /// deeper than 64", ...) when the text is not a message of this codec; `out` then holds
  /// nothing.
  virtual bool decode(std::string_view text, std::vector<Inbound>& out,
                      std::string& error) const = 0;
};

/// The member names of the default envelope.
struct EnvelopeFields {
  /// The member holding a message's or request's type.
  std::string type = "type";
  /// The member holding a request's or response's id.
  std::string id = "id";
  /// The member holding the payload (a request's parameters, a response's result).
  std::string payload = "payload";
  /// The member holding an error response's error.
  std::string error = "error";
};

/// The default envelope:
///   message   {"type":T,"payload":P}
///   request   {"type":T,"id":ID,"payload":P}          (ID sent as a string)
///   response  {"id":ID,"payload":P}
///   error     {"id":ID,"error":{"code":C,"message":M,"data":D}}
/// Decoding: an object with a "type" (a non-empty string) is a message, with or without an id
/// (kept in Inbound::id); an object with an "id" (a string or an integer) and no "type" is a
/// response, or an error response when it has a non-null "error" (an object whose "code" is a
/// string or a number, kept as text, "message" a string and "data" anything; or just a string,
/// taken as the message). A member whose value is null counts as absent. The payload is null
/// when absent. Field names are configurable; returns nullptr when a name is empty or not valid
/// UTF-8, or when two names are equal.
TETHER_API std::shared_ptr<const Codec> envelope_codec(EnvelopeFields fields = {});

/// JSON-RPC 2.0: request {"jsonrpc":"2.0","method":T,"params":P,"id":ID} (ID sent as a JSON
/// number when it is all digits without a leading zero and fits in int64 — servers commonly
/// expect numbers — else as a string; decoding maps either back to the same text); notification
/// = message {"jsonrpc":"2.0","method":T,"params":P}. "params" is omitted when the payload is
/// null, and a payload that is neither null, an object nor an array cannot be encoded.
/// Decoding: result and error responses (integer error codes kept as decimal text in
/// RemoteError::code; an error response with "id":null gets an empty id), notifications from
/// the server (method without id: Kind::message with type = method), server requests (method
/// with id: Kind::message with the id in Inbound::id), and batches (non-empty arrays) of any of
/// these. A missing or wrong "jsonrpc":"2.0" is a decode error, and a batch decodes entirely or
/// not at all ("batch item 3: ...").
TETHER_API std::shared_ptr<const Codec> json_rpc_codec();

}  // namespace tether
