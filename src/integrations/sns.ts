/**
 * Amazon SNS message signatures (SignatureVersion 1: SHA1withRSA, 2: SHA256withRSA), checked with the
 * certificate at SigningCertURL before anything in the message is believed. Certificates are fetched
 * only from https://sns.<region>.amazonaws.com/ (plus, in development and tests, the one origin that
 * SNS_DEV_CERT_ORIGIN names and the worker's own PUBLIC_URL origin, where the local SES mailbox simulator
 * serves its development certificate: src/dev/) and cached per isolate.
 */
export interface SnsMessage {
  Type: "Notification" | "SubscriptionConfirmation" | "UnsubscribeConfirmation";
  MessageId: string;
  TopicArn: string;
  Message: string;
  Timestamp: string;
  SignatureVersion: string;
  Signature: string;
  SigningCertURL: string;
  Subject?: string;
  SubscribeURL?: string;
  Token?: string;
}

const SNS_HOST = /^sns\.[a-z0-9-]+\.amazonaws\.com(\.cn)?$/;

export interface TrustSettings {
  environment: string;
  devCertOrigin?: string;
  /** The worker's own origin (PUBLIC_URL): trusted in development and tests only, like devCertOrigin. */
  selfOrigin?: string;
}

const originOf = (raw: string | undefined): string | null => {
  try {
    const origin = raw ? new URL(raw).origin : "null";
    return origin === "null" ? null : origin;
  } catch {
    return null;
  }
};

/** Whether a URL is one SNS's own (certificates, subscription confirmations) may live at. */
export function isTrustedSnsUrl(raw: string, trust: TrustSettings): boolean {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return false;
  }
  if (url.protocol === "https:" && SNS_HOST.test(url.hostname) && !url.port) return true;
  const devOk = trust.environment === "development" || trust.environment === "test";
  if (!devOk) return false;
  return url.origin === originOf(trust.devCertOrigin) || url.origin === originOf(trust.selfOrigin);
}

/** The text SNS signs: the listed keys in order, each as "Key\nValue\n". */
export function stringToSign(m: SnsMessage): string {
  const keys =
    m.Type === "Notification"
      ? [
          "Message",
          "MessageId",
          ...(m.Subject !== undefined ? ["Subject"] : []),
          "Timestamp",
          "TopicArn",
          "Type",
        ]
      : ["Message", "MessageId", "SubscribeURL", "Timestamp", "Token", "TopicArn", "Type"];
  return keys.map((k) => `${k}\n${(m as unknown as Record<string, string>)[k] ?? ""}\n`).join("");
}

// ---- a minimal DER reader: just enough to find a certificate's SubjectPublicKeyInfo ---------------

interface Der {
  tag: number;
  start: number; // where the whole element starts
  body: number; // where its contents start
  end: number;
}

function readDer(bytes: Uint8Array, at: number): Der {
  const tag = bytes[at] as number;
  let len = bytes[at + 1] as number;
  let body = at + 2;
  if (len & 0x80) {
    const n = len & 0x7f;
    if (n === 0 || n > 4) throw new Error("unsupported DER length");
    len = 0;
    for (let i = 0; i < n; i++) len = len * 256 + (bytes[body + i] as number);
    body += n;
  }
  const end = body + len;
  if (end > bytes.length) throw new Error("truncated DER");
  return { tag, start: at, body, end };
}

function children(bytes: Uint8Array, parent: Der): Der[] {
  const out: Der[] = [];
  for (let at = parent.body; at < parent.end; ) {
    const d = readDer(bytes, at);
    out.push(d);
    at = d.end;
  }
  return out;
}

/** The SubjectPublicKeyInfo of an X.509 certificate (PEM). */
export function spkiFromPem(pem: string): Uint8Array {
  const b64 = pem.replace(/-----(BEGIN|END) CERTIFICATE-----/g, "").replace(/\s+/g, "");
  const der = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
  const cert = readDer(der, 0);
  const tbs = children(der, cert)[0];
  if (!tbs) throw new Error("not a certificate");
  const fields = children(der, tbs);
  const offset = fields[0]?.tag === 0xa0 ? 1 : 0; // [0] version is optional
  const spki = fields[offset + 5];
  if (spki?.tag !== 0x30) throw new Error("no public key in certificate");
  return der.slice(spki.start, spki.end);
}

const keyCache = new Map<string, Promise<CryptoKey>>();

async function publicKey(
  certUrl: string,
  hash: "SHA-1" | "SHA-256",
  fetcher: typeof fetch,
): Promise<CryptoKey> {
  const cacheKey = `${hash} ${certUrl}`;
  let key = keyCache.get(cacheKey);
  if (!key) {
    key = (async () => {
      const res = await fetcher(certUrl, { redirect: "manual" });
      if (!res.ok) throw new Error(`certificate fetch answered ${res.status}`);
      const spki = spkiFromPem(await res.text());
      return crypto.subtle.importKey("spki", spki, { name: "RSASSA-PKCS1-v1_5", hash }, false, ["verify"]);
    })();
    keyCache.set(cacheKey, key);
    key.catch(() => keyCache.delete(cacheKey));
  }
  return key;
}

export type Verdict = { ok: true } | { ok: false; reason: string };

export async function verifySnsMessage(
  m: SnsMessage,
  trust: TrustSettings,
  fetcher: typeof fetch = fetch,
): Promise<Verdict> {
  const hash = m.SignatureVersion === "1" ? "SHA-1" : m.SignatureVersion === "2" ? "SHA-256" : null;
  if (!hash) return { ok: false, reason: "unknown SignatureVersion" };
  if (!isTrustedSnsUrl(m.SigningCertURL, trust)) return { ok: false, reason: "untrusted SigningCertURL" };
  let signature: Uint8Array;
  try {
    signature = Uint8Array.from(atob(m.Signature), (c) => c.charCodeAt(0));
  } catch {
    return { ok: false, reason: "Signature is not base64" };
  }
  try {
    const key = await publicKey(m.SigningCertURL, hash, fetcher);
    const valid = await crypto.subtle.verify(
      "RSASSA-PKCS1-v1_5",
      key,
      signature,
      new TextEncoder().encode(stringToSign(m)),
    );
    return valid ? { ok: true } : { ok: false, reason: "signature does not match" };
  } catch (err) {
    return { ok: false, reason: `certificate: ${(err as Error).message}` };
  }
}
