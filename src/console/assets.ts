// The console's web assets: built into the package by scripts/bundle.mjs (dist/console/), read
// once at start and served from memory with strong ETags. Nothing is fetched from elsewhere, and
// the page's Content-Security-Policy says so to the browser: scripts, styles and connections from
// this origin only, no inline script, no frames, no plugins.

import { hash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

export interface Asset {
  readonly body: Buffer;
  readonly type: string;
  readonly etag: string;
}

const TYPES: Readonly<Record<string, string>> = {
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.map': 'application/json',
};

export const CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "font-src 'self'",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join('; ');

/** Headers on every console response: the policy above, and no sniffing, framing or referrers. */
export const SECURITY_HEADERS: Readonly<Record<string, string>> = {
  'content-security-policy': CSP,
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'DENY',
  'referrer-policy': 'no-referrer',
  'cross-origin-opener-policy': 'same-origin',
  'cross-origin-resource-policy': 'same-origin',
  'permissions-policy': 'camera=(), microphone=(), geolocation=(), usb=()',
};

/** The first directory that holds the built console (app.js), or undefined. */
export function findAssets(candidates: readonly string[]): string | undefined {
  return candidates.find((d) => existsSync(join(d, 'app.js')));
}

export function loadAssets(dir: string): Map<string, Asset> {
  const out = new Map<string, Asset>();
  for (const name of readdirSync(dir)) {
    const ext = name.slice(name.lastIndexOf('.'));
    const type = TYPES[ext];
    if (!type) continue;
    const body = readFileSync(join(dir, name));
    out.set(name, { body, type, etag: `"${hash('sha256', body, 'base64url').slice(0, 22)}"` });
  }
  return out;
}

/** The one page: the shell the script renders into, its assets pinned by their hashes. */
export function indexPage(assets: ReadonlyMap<string, Asset>): Asset {
  const v = (name: string): string => encodeURIComponent(assets.get(name)?.etag.slice(1, 9) ?? '0');
  const body = Buffer.from(
    [
      '<!doctype html>',
      '<html lang="en">',
      '<head>',
      '<meta charset="utf-8">',
      '<meta name="viewport" content="width=device-width, initial-scale=1">',
      '<meta name="referrer" content="no-referrer">',
      '<title>Rampart console</title>',
      '<link rel="icon" href="data:,">',
      `<link rel="stylesheet" href="/console/assets/app.css?v=${v('app.css')}">`,
      `<script type="module" src="/console/assets/app.js?v=${v('app.js')}"></script>`,
      '</head>',
      '<body>',
      '<div id="app"><noscript>The Rampart console needs JavaScript.</noscript></div>',
      '</body>',
      '</html>',
      '',
    ].join('\n'),
  );
  return {
    body,
    type: 'text/html; charset=utf-8',
    etag: `"${hash('sha256', body, 'base64url').slice(0, 22)}"`,
  };
}
