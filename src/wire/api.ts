// The DHT API codec (docs/api.md): pure bytes <-> typed messages for the
// five message types, and header validation shared with the incremental decoder.

export const API_HEADER_BYTES = 4;
export const API_KEY_BYTES = 32;
export const API_MAX_MESSAGE_BYTES = 65_535;
export const API_PUT_FIXED_BYTES = 40;
export const API_MAX_VALUE_BYTES = API_MAX_MESSAGE_BYTES - API_PUT_FIXED_BYTES; // 65,495

export const ApiType = {
  Put: 650,
  Get: 651,
  Success: 652,
  Failure: 653,
  Shutdown: 654,
} as const;

export type ApiPut = {
  type: "put";
  ttl: number;
  replication: number;
  key: Buffer;
  value: Buffer;
};
export type ApiGet = { type: "get"; key: Buffer };
export type ApiSuccess = { type: "success"; key: Buffer; value: Buffer };
export type ApiFailure = { type: "failure"; key: Buffer };
export type ApiShutdown = { type: "shutdown" };
export type ApiRequest = ApiPut | ApiGet | ApiShutdown;
export type ApiReply = ApiSuccess | ApiFailure;
export type ApiMessage = ApiRequest | ApiReply;

/** Malformed API input: the reason is logged and the connection closed. */
export class ApiProtocolError extends Error {
  override readonly name = "ApiProtocolError";
}

/** Who may send a message: the node accepts only client-to-node types. */
export type Sender = "client" | "node";

/**
 * Checks a header against the spec's size rules before anything is buffered.
 * Returns the reason the header is bad, or undefined when it is acceptable
 * from `sender`.
 */
export function headerProblem(size: number, type: number, sender: Sender): string | undefined {
  if (size < API_HEADER_BYTES) return `size ${size} is below the 4-byte header`;
  switch (type) {
    case ApiType.Put:
      if (sender !== "client") return "DHT PUT is sent only by clients";
      return size > API_PUT_FIXED_BYTES ? undefined : `DHT PUT size ${size} must exceed 40`;
    case ApiType.Get:
      if (sender !== "client") return "DHT GET is sent only by clients";
      return size === 36 ? undefined : `DHT GET size ${size} must be 36`;
    case ApiType.Shutdown:
      if (sender !== "client") return "DHT SHUTDOWN is sent only by clients";
      return size === 4 ? undefined : `DHT SHUTDOWN size ${size} must be 4`;
    case ApiType.Success:
      if (sender !== "node") return "DHT SUCCESS is sent only by nodes";
      return size > 36 ? undefined : `DHT SUCCESS size ${size} must exceed 36`;
    case ApiType.Failure:
      if (sender !== "node") return "DHT FAILURE is sent only by nodes";
      return size === 36 ? undefined : `DHT FAILURE size ${size} must be 36`;
    default:
      return `unknown message type ${type}`;
  }
}

function header(size: number, type: number): Buffer {
  const buf = Buffer.allocUnsafe(size);
  buf.writeUInt16BE(size, 0);
  buf.writeUInt16BE(type, 2);
  return buf;
}

function checkKey(key: Buffer): void {
  if (key.length !== API_KEY_BYTES) throw new RangeError(`key must be 32 bytes, got ${key.length}`);
}

function checkValue(value: Buffer, fixed: number): void {
  if (value.length < 1) throw new RangeError("value must be at least 1 byte");
  if (fixed + value.length > API_MAX_MESSAGE_BYTES) {
    throw new RangeError(`value of ${value.length} bytes does not fit a 65,535-byte message`);
  }
}

/** Encodes one message into a fresh buffer holding exactly its frame. */
export function encodeApi(msg: ApiMessage): Buffer {
  switch (msg.type) {
    case "put": {
      checkKey(msg.key);
      checkValue(msg.value, API_PUT_FIXED_BYTES);
      const buf = header(API_PUT_FIXED_BYTES + msg.value.length, ApiType.Put);
      buf.writeUInt16BE(msg.ttl, 4);
      buf.writeUInt8(msg.replication, 6);
      buf.writeUInt8(0, 7);
      msg.key.copy(buf, 8);
      msg.value.copy(buf, API_PUT_FIXED_BYTES);
      return buf;
    }
    case "get":
    case "failure": {
      checkKey(msg.key);
      const buf = header(36, msg.type === "get" ? ApiType.Get : ApiType.Failure);
      msg.key.copy(buf, 4);
      return buf;
    }
    case "success": {
      checkKey(msg.key);
      checkValue(msg.value, 36);
      const buf = header(36 + msg.value.length, ApiType.Success);
      msg.key.copy(buf, 4);
      msg.value.copy(buf, 36);
      return buf;
    }
    case "shutdown":
      return header(4, ApiType.Shutdown);
  }
}

/**
 * Decodes one whole frame. Key and value are views into `frame`, not copies:
 * whoever keeps them past the current turn must copy them.
 */
export function decodeApi(frame: Buffer, sender: Sender): ApiMessage {
  if (frame.length < API_HEADER_BYTES) throw new ApiProtocolError("frame shorter than a header");
  const size = frame.readUInt16BE(0);
  const type = frame.readUInt16BE(2);
  if (size !== frame.length) {
    throw new ApiProtocolError(`size field ${size} does not match frame length ${frame.length}`);
  }
  const problem = headerProblem(size, type, sender);
  if (problem !== undefined) throw new ApiProtocolError(problem);
  switch (type) {
    case ApiType.Put:
      return {
        type: "put",
        ttl: frame.readUInt16BE(4),
        replication: frame.readUInt8(6),
        key: frame.subarray(8, 40),
        value: frame.subarray(40),
      };
    case ApiType.Get:
      return { type: "get", key: frame.subarray(4, 36) };
    case ApiType.Success:
      return { type: "success", key: frame.subarray(4, 36), value: frame.subarray(36) };
    case ApiType.Failure:
      return { type: "failure", key: frame.subarray(4, 36) };
    default:
      return { type: "shutdown" };
  }
}
