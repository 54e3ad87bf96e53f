import { describe, expect, it } from "vitest";
import { cutBytes } from "./events.ts";

describe("cutBytes", () => {
  it("cuts to the bytes the API server counts, never inside a character", () => {
    expect(cutBytes("abc", 3)).toBe("abc");
    expect(cutBytes("abcd", 3)).toBe("abc");
    // "é" takes two bytes, "日" three: a cut that would split one leaves it out.
    expect(cutBytes("aé", 2)).toBe("a");
    expect(cutBytes("日本", 5)).toBe("日");
    expect(Buffer.byteLength(cutBytes("ü".repeat(700), 1024))).toBe(1024);
  });
});
