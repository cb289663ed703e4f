// The screens as hash routes (#/release/shop/1.4.0), so the back button and links work and a
// test can open any screen by URL. `parse` and `href` are pure and unit-tested.

export type Route =
  | { name: "overview" }
  | { name: "release"; app: string; version: string }
  | { name: "publish"; app: string | null }
  | { name: "approvals" }
  | { name: "history"; app: string | null }
  | { name: "kpi"; app: string; channel: string }
  | { name: "incidents"; app: string | null; number: number | null }
  | { name: "reports" }
  | { name: "settings" };

export function parse(hash: string): Route {
  const parts = hash.replace(/^#\/?/, "").split("/").filter(Boolean).map(decodeURIComponent);
  switch (parts[0]) {
    case "release":
      if (parts.length === 3) return { name: "release", app: parts[1], version: parts[2] };
      break;
    case "publish":
      return { name: "publish", app: parts[1] ?? null };
    case "approvals":
      return { name: "approvals" };
    case "history":
      return { name: "history", app: parts[1] ?? null };
    case "settings":
      return { name: "settings" };
    case "reports":
      return { name: "reports" };
    case "kpi":
      if (parts.length === 3) return { name: "kpi", app: parts[1], channel: parts[2] };
      break;
    case "incidents": {
      const n = Number(parts[2]);
      return parts.length === 3 && Number.isInteger(n) && n > 0
        ? { name: "incidents", app: parts[1], number: n }
        : { name: "incidents", app: null, number: null };
    }
  }
  return { name: "overview" };
}

export function href(r: Route): string {
  const e = encodeURIComponent;
  switch (r.name) {
    case "overview":
      return "#/";
    case "release":
      return `#/release/${e(r.app)}/${e(r.version)}`;
    case "publish":
      return r.app ? `#/publish/${e(r.app)}` : "#/publish";
    case "approvals":
      return "#/approvals";
    case "history":
      return r.app ? `#/history/${e(r.app)}` : "#/history";
    case "settings":
      return "#/settings";
    case "reports":
      return "#/reports";
    case "kpi":
      return `#/kpi/${e(r.app)}/${e(r.channel)}`;
    case "incidents":
      return r.app && r.number ? `#/incidents/${e(r.app)}/${r.number}` : "#/incidents";
  }
}

class Router {
  route: Route = $state(parse(typeof location === "undefined" ? "" : location.hash));
  constructor() {
    if (typeof window !== "undefined") {
      window.addEventListener("hashchange", () => (this.route = parse(location.hash)));
    }
  }
  go(r: Route) {
    location.hash = href(r);
  }
}

export const router = new Router();
