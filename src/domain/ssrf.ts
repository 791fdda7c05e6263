/**
 * The SSRF guard for webhook URLs, one rule in every environment: http and https only, and no host that
 * names this machine or a private, link-local, CGNAT, unspecified, multicast or reserved address, IPv4 or
 * IPv6 (IPv4-mapped IPv6 included). Development differs only in allowing loopback hosts (a consumer on
 * the developer's own machine). The URL parser has already turned `2130706433` and `0x7f.1` into
 * dotted IPv4. Names are not resolved here: Workers cannot resolve DNS, and Cloudflare's own fetch does
 * not reach private networks.
 */
const V4_BLOCKED: [string, number][] = [
  ["0.0.0.0", 8], // "this" network, unspecified
  ["10.0.0.0", 8], // private
  ["100.64.0.0", 10], // CGNAT
  ["127.0.0.0", 8], // loopback
  ["169.254.0.0", 16], // link-local
  ["172.16.0.0", 12], // private
  ["192.0.0.0", 24], // IETF protocol assignments
  ["192.0.2.0", 24], // TEST-NET-1
  ["192.88.99.0", 24], // 6to4 relay (deprecated)
  ["192.168.0.0", 16], // private
  ["198.18.0.0", 15], // benchmarking
  ["198.51.100.0", 24], // TEST-NET-2
  ["203.0.113.0", 24], // TEST-NET-3
  ["224.0.0.0", 4], // multicast
  ["240.0.0.0", 4], // reserved, and broadcast
];

function v4ToInt(ip: string): number | null {
  const parts = ip.split(".");
  if (parts.length !== 4) return null;
  let n = 0;
  for (const p of parts) {
    if (!/^\d{1,3}$/.test(p)) return null;
    const v = Number(p);
    if (v > 255) return null;
    n = n * 256 + v;
  }
  return n;
}

export function isBlockedIPv4(ip: string): boolean {
  const n = v4ToInt(ip);
  if (n === null) return false;
  return V4_BLOCKED.some(([base, bits]) => {
    const b = v4ToInt(base) as number;
    const size = 2 ** (32 - bits);
    return n >= b && n < b + size;
  });
}

/** Expands an IPv6 literal (no brackets) to 8 groups, or null if it is not one. */
function v6Groups(ip: string): number[] | null {
  let s = ip.toLowerCase();
  const v4 = s.match(/^(.*:)(\d+\.\d+\.\d+\.\d+)$/);
  if (v4) {
    const n = v4ToInt(v4[2] as string);
    if (n === null) return null;
    s = `${v4[1]}${(n >>> 16).toString(16)}:${(n & 0xffff).toString(16)}`;
  }
  const halves = s.split("::");
  if (halves.length > 2) return null;
  const head = halves[0] ? halves[0].split(":") : [];
  const tail = halves.length === 2 && halves[1] ? halves[1].split(":") : [];
  const fill = halves.length === 2 ? 8 - head.length - tail.length : 0;
  if (fill < 0 || (halves.length === 1 && head.length !== 8)) return null;
  const groups = [...head, ...Array(fill).fill("0"), ...tail];
  if (groups.length !== 8 || groups.some((g) => !/^[0-9a-f]{1,4}$/.test(g))) return null;
  return groups.map((g) => Number.parseInt(g, 16));
}

export function isBlockedIPv6(ip: string): boolean {
  const g = v6Groups(ip);
  if (!g) return false;
  const [a = 0, b = 0, , , , f = 0, gg = 0, h = 0] = g;
  const allZeroTo = (n: number) => g.slice(0, n).every((x) => x === 0);
  if (allZeroTo(7) && (h === 0 || h === 1)) return true; // :: and ::1
  if (allZeroTo(5) && f === 0xffff) return isBlockedIPv4(`${gg >> 8}.${gg & 255}.${h >> 8}.${h & 255}`); // ::ffff:a.b.c.d
  if (allZeroTo(6)) return true; // IPv4-compatible (deprecated)
  if (a === 0x64 && b === 0xff9b) return true; // NAT64 well-known prefix: maps onto IPv4
  if ((a & 0xfe00) === 0xfc00) return true; // unique local fc00::/7
  if ((a & 0xffc0) === 0xfe80) return true; // link-local fe80::/10
  if ((a & 0xffc0) === 0xfec0) return true; // site-local (deprecated) fec0::/10
  if ((a & 0xff00) === 0xff00) return true; // multicast ff00::/8
  if (a === 0x2001 && b === 0x0db8) return true; // documentation
  if (a === 0x2002) return true; // 6to4: embeds an IPv4
  if (a === 0x0100 && b === 0 && g[2] === 0 && g[3] === 0) return true; // discard-only 100::/64
  return false;
}

export interface UrlRules {
  /** localhost, *.localhost, 127.0.0.0/8 and ::1 (development only). */
  allowLoopback?: boolean;
}

/** The rules of an environment: production and the tests refuse loopback; development allows it. */
export const urlRulesFor = (environment: string): UrlRules => ({
  allowLoopback: environment === "development",
});

const isLoopbackHost = (host: string) =>
  host === "localhost" ||
  host.endsWith(".localhost") ||
  /^127\.\d+\.\d+\.\d+$/.test(host) ||
  host === "[::1]" ||
  host === "[0:0:0:0:0:0:0:1]";

/** Why this URL may not be called, or null. */
export function forbiddenUrlReason(raw: string, rules: UrlRules = {}): string | null {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return "Not a valid URL";
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") return "Only http and https URLs are allowed";
  const host = url.hostname.toLowerCase().replace(/\.$/, "");
  if (rules.allowLoopback && isLoopbackHost(host)) return null;
  if (host === "localhost" || host.endsWith(".localhost")) return "URLs to this machine are not allowed";
  if (host.startsWith("[")) {
    if (isBlockedIPv6(host.slice(1, -1)))
      return "URLs to loopback, private or reserved addresses are not allowed";
  } else if (/^\d+\.\d+\.\d+\.\d+$/.test(host) && isBlockedIPv4(host)) {
    return "URLs to loopback, private or reserved addresses are not allowed";
  }
  return null;
}

/**
 * At save time a webhook URL may be a Liquid template. With its tags taken out it must still be http(s);
 * if what is left parses as a URL, its host must pass the guard (a host made of tags is checked at send).
 */
export function webhookUrlProblem(template: string, rules: UrlRules = {}): string | null {
  const bare = template.replace(/\{\{[\s\S]*?\}\}|\{%[\s\S]*?%\}/g, "");
  if (!/^https?:\/\//i.test(bare.trim())) return "Only http and https URLs are allowed";
  if (bare === template) return forbiddenUrlReason(template, rules);
  const hostPart = template.match(/^https?:\/\/([^/?#]*)/i)?.[1] ?? "";
  if (/\{\{|\{%/.test(hostPart)) return null;
  return forbiddenUrlReason(bare, rules);
}
