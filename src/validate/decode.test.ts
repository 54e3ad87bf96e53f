import { mkdtemp, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { decode } from "./decode.ts";
import { validatePaths } from "./index.ts";

const YAML = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: é\n";
const utf16be = (text: string) => Buffer.from(text, "utf16le").swap16();

describe("decode: files as kubectl reads them", () => {
  it("reads UTF-8, with or without a byte order mark, and UTF-16 LE and BE after theirs", () => {
    for (const bytes of [
      Buffer.from(YAML),
      Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(YAML)]),
      Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from(YAML, "utf16le")]),
      Buffer.concat([Buffer.from([0xfe, 0xff]), utf16be(YAML)]),
    ]) {
      expect(decode(bytes)).toEqual({ text: YAML });
    }
  });

  it("refuses what kubectl would garble, naming the encoding and where", () => {
    expect(decode(Buffer.concat([Buffer.from([0xff, 0xfe, 0, 0]), Buffer.from("a\0\0\0")]))).toMatchObject({
      problem: expect.stringMatching(
        /^the file is UTF-32; kubectl reads UTF-8, and UTF-16 with a byte order mark/,
      ),
    });
    // UTF-16 without a byte order mark reads as UTF-8 with a NUL after every ASCII character.
    expect(decode(Buffer.from("a: 1\nb: 2\n", "utf16le"))).toMatchObject({
      problem: expect.stringContaining("NUL characters, as UTF-16 or UTF-32 without a byte order mark"),
      line: 1,
      column: 2,
    });
    expect(decode(Buffer.concat([Buffer.from("a: \ufffd\nb: x"), Buffer.from([0xc3, 0x28])]))).toEqual({
      problem: expect.stringMatching(
        /^the file is not valid UTF-8 \(byte 0xc3\); kubectl would apply it with U\+FFFD/,
      ),
      line: 2,
      column: 5,
    });
    expect(decode(Buffer.from([0xff, 0xfe, 0x3d, 0xd8]))).toMatchObject({
      problem: expect.stringContaining("not valid UTF-16 LE"),
    });
  });

  // Found by the manifest fuzz: UTF-16 files passed with "0 kanaria objects", and the API server then
  // rejected an unknown field and an AlertProvider without address or secretRef in them.
  it("checks the objects of a UTF-16 file like any other", async () => {
    const dir = await mkdtemp(join(tmpdir(), "kanaria-decode-"));
    const text = [
      "apiVersion: kanaria.dev/v1alpha1",
      "kind: AlertProvider",
      "metadata:",
      "  name: slack",
      "spec:",
      "  type: slack",
      "",
    ].join("\n");
    await writeFile(
      join(dir, "le.yaml"),
      Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from(text, "utf16le")]),
    );
    await writeFile(join(dir, "be.yaml"), Buffer.concat([Buffer.from([0xfe, 0xff]), utf16be(text)]));
    await writeFile(join(dir, "u32.yaml"), Buffer.concat([Buffer.from([0, 0, 0xfe, 0xff]), Buffer.alloc(8)]));
    const result = await validatePaths([dir]);
    expect(result).toMatchObject({ files: 3, objects: 2, errors: 3, exitCode: 1 });
    expect(
      result.problems.map((p) => `${p.file.slice(dir.length + 1)}:${p.line}:${p.column} ${p.path}`),
    ).toEqual(["be.yaml:5:1 spec.secretRef", "le.yaml:5:1 spec.secretRef", "u32.yaml:1:1 "]);
  });
});
