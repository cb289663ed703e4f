// Overview data as the registry gives it, for the screens' tests.
import type { AppOverview } from "../src/lib/bindings";

export function demoApps(): AppOverview[] {
  return [
    {
      app: "checkout",
      headSeq: 12,
      headAt: "2026-12-01T09:00:00Z",
      pendingApprovals: [],
      channels: [
        {
          channel: "Staging", protected: false, current: "1.2.0", rollout: null, rollbackTarget: "1.1.0", servedSeq: 7, pointer: null,
          holdout: { version: "1.1.0", basisPoints: 500, until: "2026-12-03T09:00:00Z" },
        },
        {
          channel: "Production",
          protected: true,
          current: "1.1.0",
          rollbackTarget: "1.0.0",
          holdout: null,
          servedSeq: 12,
          pointer: { seq: 12, expiresAt: "2026-12-08T12:00:00Z", seenAt: "2026-12-01T11:59:00Z", expiresSoon: false, expired: false, lagging: false },
          rollout: {
            version: "1.2.0", rolloutId: "r1", basisPoints: 2000, paused: false, step: 2, steps: 4,
            plan: [500, 2000, 5000, 10000], stepStartedAt: "2026-12-01T08:48:00Z", stepStartedSeq: 12,
          },
        },
      ],
    },
    {
      app: "loyalty",
      headSeq: 6,
      headAt: "2026-12-01T10:00:00Z",
      pendingApprovals: [{ version: "2.1.0", channel: "Production", author: "alex", releasedAt: "2026-12-01T10:00:00Z", rejection: null }],
      channels: [
        { channel: "Production", protected: true, current: "2.0.0", rollout: null, rollbackTarget: null, servedSeq: 4, pointer: null, holdout: null },
        { channel: "Staging", protected: false, current: "2.1.0", rollout: null, rollbackTarget: "2.0.0", servedSeq: 6, pointer: null, holdout: null },
      ],
    },
  ];
}
