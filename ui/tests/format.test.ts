import { describe, expect, it } from "vitest";
import { ago, bytes, duration, percent, step } from "../src/lib/format";

describe("format", () => {
  it("reads basis points as percent", () => {
    expect(percent(2000)).toBe("20 %");
    expect(percent(500)).toBe("5 %");
    expect(percent(10000)).toBe("100 %");
    expect(percent(50)).toBe("0.5 %");
    expect(percent(1250)).toBe("12.5 %");
  });
  it("says durations in two units at most", () => {
    expect(duration(11520)).toBe("3 h 12 min");
    expect(duration(42)).toBe("42 s");
    expect(duration(3 * 86400 + 7200)).toBe("3 d 2 h");
  });
  it("says how long ago, and the future plainly", () => {
    const now = Date.parse("2026-12-01T12:00:00Z");
    expect(ago("2026-12-01T08:48:00Z", now)).toBe("3 h 12 min ago");
    expect(ago("2026-12-01T12:00:02Z", now)).toBe("just now");
    expect(ago("2026-12-02T12:00:00Z", now)).toBe("in 24 h");
    expect(ago(null, now)).toBe("—");
  });
  it("groups bytes in decimal units", () => {
    expect(bytes(999)).toBe("999 bytes");
    expect(bytes(1_234_567)).toBe("1.2 MB");
    expect(bytes(320_000)).toBe("320 KB");
  });
  it("says the plan step as core numbers it", () => {
    expect(step(2, 4)).toBe("step 2 of 4");
    expect(step(null, 4)).toBe("");
  });
});
