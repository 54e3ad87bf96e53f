import { describe, expect, it } from "vitest";
import { lazy } from "./lazy.ts";

describe("lazy", () => {
  it("loads on the first call only, and shares the result", async () => {
    let loads = 0;
    const get = lazy(async () => {
      loads += 1;
      return { value: 42 };
    });
    expect(loads).toBe(0);
    const [a, b] = await Promise.all([get(), get()]);
    expect(await get()).toBe(a);
    expect(b).toBe(a);
    expect(loads).toBe(1);
  });
});
