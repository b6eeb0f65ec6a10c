/**
 * @module The web console's files, served on the HTTPS listener only (the unix socket has no
 * browser at its end): GET / is the page, GET /assets/NAME its scripts and stylesheets, read
 * once at start from the bundle (scripts/bundle-web.mjs) and kept in memory with their gzip.
 * Every other request goes on to the API. The page's Content-Security-Policy lets scripts
 * come from this origin only; styles may be inline because xterm.js draws its font, cursor
 * and colours through <style> elements of its own, which `style-src 'self'` blocks: the
 * terminal then draws without them, in whatever colour it inherits (black on black where
 * that is the page's, while its DOM still holds the text: xtermjs/xterm.js 4445). The
 * browser test checks that the console page logs no CSP refusal, and looks at its pixels.
 */
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import path from 'node:path';
import { gzipSync } from 'node:zlib';

export const contentSecurityPolicy = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self' 'unsafe-inline'",
  "img-src 'self' data:",
  "font-src 'self'",
  "connect-src 'self'",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join('; ');

const types: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'application/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
};

interface Asset {
  type: string;
  body: Buffer;
  gzip: Buffer;
  etag: string;
}

/** Answers a request for one of the console's files, or says false: the request is the API's. */
export type WebConsole = (req: IncomingMessage, res: ServerResponse) => boolean;

/** Reads the bundle in `dir` (dist/web); when it is missing, says so in the log and serves nothing. */
export async function loadWebConsole(dir: string, log: (message: string) => void): Promise<WebConsole> {
  if (!existsSync(path.join(dir, 'index.html'))) {
    log(`warning: the web console is not built (no ${path.join(dir, 'index.html')}: node scripts/bundle-web.mjs); the API is served without it`);
    return () => false;
  }
  const assets = new Map<string, Asset>();
  const add = async (url: string, file: string) => {
    const body = await readFile(file);
    const type = types[path.extname(file)];
    if (type) assets.set(url, { type, body, gzip: gzipSync(body), etag: `"${createHash('sha256').update(body).digest('base64url').slice(0, 22)}"` });
  };
  await add('/', path.join(dir, 'index.html'));
  for (const name of await readdir(path.join(dir, 'assets'))) await add(`/assets/${name}`, path.join(dir, 'assets', name));

  return (req, res) => {
    if (req.method !== 'GET' && req.method !== 'HEAD') return false;
    const asset = assets.get((req.url ?? '').split('?')[0]!);
    if (!asset) return false;
    const gzip = /\bgzip\b/.test(String(req.headers['accept-encoding'] ?? ''));
    const headers: Record<string, string> = {
      'content-type': asset.type,
      'content-security-policy': contentSecurityPolicy,
      'x-content-type-options': 'nosniff',
      'referrer-policy': 'no-referrer',
      'cache-control': 'no-cache',
      etag: asset.etag,
      vary: 'accept-encoding',
    };
    if (req.headers['if-none-match'] === asset.etag) {
      res.writeHead(304, headers).end();
      return true;
    }
    const body = gzip ? asset.gzip : asset.body;
    res.writeHead(200, { ...headers, 'content-length': String(body.length), ...(gzip ? { 'content-encoding': 'gzip' } : {}) });
    res.end(req.method === 'HEAD' ? undefined : body);
    return true;
  };
}
