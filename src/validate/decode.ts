/**
 * File bytes to text, the way kubectl reads a manifest: cli-runtime's FileVisitor wraps every file in
 * golang.org/x/text's BOMOverride(UTF8 decoder), so a UTF-8 byte order mark is dropped, a UTF-16 LE
 * or BE one switches to UTF-16, and anything else is read as UTF-8. What kubectl would turn into
 * something other than what the author wrote (invalid bytes become U+FFFD; UTF-32, or UTF-16 without
 * a byte order mark, become NUL characters the YAML parser refuses) is refused here with its encoding.
 */
import { isUtf8 } from "node:buffer";

export type Decoded = { text: string } | { problem: string; line: number; column: number };

const SAVE_AS = "kubectl reads UTF-8, and UTF-16 with a byte order mark: save it as UTF-8";

function startsWith(bytes: Uint8Array, prefix: readonly number[]): boolean {
  return prefix.every((b, i) => bytes[i] === b);
}

/** UTF-16 after its byte order mark; unpaired surrogates or an odd byte count are refused. */
function utf16(bytes: Uint8Array, encoding: "utf-16le" | "utf-16be"): Decoded {
  const name = encoding === "utf-16le" ? "UTF-16 LE" : "UTF-16 BE";
  try {
    return { text: new TextDecoder(encoding, { fatal: true }).decode(bytes.subarray(2)) };
  } catch {
    return {
      problem: `the file starts with a ${name} byte order mark but is not valid ${name}: ${SAVE_AS}`,
      line: 1,
      column: 1,
    };
  }
}

/** The first character kubectl would replace with U+FFFD: every U+FFFD before it stood in the file. */
function invalidUtf8(bytes: Uint8Array, text: string): Decoded {
  let at = text.indexOf("\ufffd");
  let byte = Buffer.byteLength(text.slice(0, at));
  while (at >= 0 && startsWith(bytes.subarray(byte), [0xef, 0xbf, 0xbd])) {
    at = text.indexOf("\ufffd", at + 1);
    byte = Buffer.byteLength(text.slice(0, at));
  }
  const before = text.slice(0, Math.max(at, 0));
  const value = (bytes[byte] ?? 0).toString(16).padStart(2, "0");
  return {
    problem: `the file is not valid UTF-8 (byte 0x${value}); kubectl would apply it with U+FFFD in its place. ${SAVE_AS}`,
    line: before.split("\n").length,
    column: before.length - before.lastIndexOf("\n"),
  };
}

export function decode(bytes: Uint8Array): Decoded {
  if (startsWith(bytes, [0x00, 0x00, 0xfe, 0xff]) || startsWith(bytes, [0xff, 0xfe, 0x00, 0x00])) {
    return { problem: `the file is UTF-32; ${SAVE_AS}`, line: 1, column: 1 };
  }
  if (startsWith(bytes, [0xff, 0xfe])) return utf16(bytes, "utf-16le");
  if (startsWith(bytes, [0xfe, 0xff])) return utf16(bytes, "utf-16be");
  const body = startsWith(bytes, [0xef, 0xbb, 0xbf]) ? bytes.subarray(3) : bytes;
  const text = Buffer.from(body.buffer, body.byteOffset, body.byteLength).toString("utf8");
  if (!isUtf8(body)) return invalidUtf8(body, text);
  const nul = text.indexOf("\u0000");
  if (nul >= 0) {
    const before = text.slice(0, nul);
    return {
      problem: `the file holds NUL characters, as UTF-16 or UTF-32 without a byte order mark does; ${SAVE_AS}`,
      line: before.split("\n").length,
      column: before.length - before.lastIndexOf("\n"),
    };
  }
  return { text };
}
