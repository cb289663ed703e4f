// What to tell a person about an error, by its kind and its structured fields (never by
// parsing the message).

import type { ErrorReport } from "./bindings";

export function advice(e: ErrorReport): string | null {
  switch (e.kind) {
    case "keychain":
      return "Airlock keeps signing keys and AWS keys in the OS keychain, and cannot reach it. On Linux it needs a Secret Service running and unlocked in your session: install the gnome-keyring package (or KeePassXC with Secret Service on), log in again, then retry. On macOS the login keychain must be unlocked.";
    case "refused":
      return null;
    case "conflict":
      return "Someone else changed this first (another console or the command line). Review the fresh state and try again if it is still what you want.";
    case "committed":
      return `It happened: the log entry is written${e.seq != null ? ` (seq ${e.seq})` : ""}, but ${e.pending.length ? e.pending.join("; ") : "something after it"} is still pending. Do not repeat the action: Sync (or the next action) completes it.`;
    case "approval_missing":
      return "A protected channel takes a release only after someone other than its author approves it. Ask a reviewer to approve it under Approvals.";
    case "gate":
      return "Nothing was uploaded or written. Fix the bundle and publish again.";
    case "integrity":
      return "Stored data does not match what was signed. Nothing will be changed here until this is resolved: see “A tampered log” in docs/PROTOCOL.md.";
    case "tampered":
      return `The store now holds less (or other) history${e.app ? ` of ${e.app}` : ""} than this desktop has already seen${e.seq != null ? ` (seq ${e.seq})` : ""}: someone with write access to the bucket removed or replaced it. Nothing is signed from it and no pointer moves, so devices keep what they were last told. A key holder who knows what happened runs \`airlock recover${e.app ? ` ${e.app}` : ""} --reason …\`, which writes back what this desktop still holds and says first what it would discard.`;
    case "store":
      if (e.deniedAction)
        return `Access denied: ${e.store ?? "the store"} refused ${e.deniedAction}${e.key ? ` on ${e.key}` : ""}. The credentials in use may not do that there — read-only credentials, as a viewer's desktop is meant to have, or a missing IAM permission. Nothing was changed. To make changes here, ask for write access to this bucket; to look only, set the role to viewer in Settings.`;
      return "Check the store's address, your network and your credentials (Settings → Test connection).";
    case "cancelled":
      return "Nothing was logged and no pointer moved. Files already uploaded stay, and the next publish of this bundle reuses them.";
    default:
      return null;
  }
}
