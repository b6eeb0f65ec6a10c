/**
 * @module The HTTPS listener beside the unix socket (lodged --listen ADDRESS:PORT): the same
 * Fastify app and routes, reached through a TLS server of its own whose requests and
 * WebSocket upgrades are marked as coming over HTTPS, so that access.ts asks them for a
 * session or a token. The web console's files are served here too, and only here. Its certificate is the admin's (--tls-cert, --tls-key) or one Lodge
 * made at its first start in its state directory. Nothing listens on TCP unless asked.
 */
import { X509Certificate } from 'node:crypto';
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import https from 'node:https';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import type { FastifyInstance } from 'fastify';
import type { HttpsListener } from '../api/host.js';
import { makeSelfSignedCertificate } from '../host/tls.js';
import { viaHttps, type MarkedRequest } from './access.js';
import { clientErrorHandler } from './errors.js';
import type { WebConsole } from './web-console.js';

export interface HttpsOptions {
  address: string;
  /** 0: any free port (GET /1.0 says which). */
  port: number;
  /** Given by the admin; otherwise Lodge's own, made in the state directory. */
  certificate?: { cert: string; key: string };
}

/** `ADDRESS:PORT` of --listen: an IPv4 address, or an IPv6 one in brackets. */
export function parseListen(text: string): { address: string; port: number } {
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([0-9.]+)):(\d{1,5})$/.exec(text);
  const address = m?.[1] ?? m?.[2];
  const port = Number(m?.[3]);
  if (!m || !address || net.isIP(address) !== (m[1] ? 6 : 4)) throw new Error(`--listen: "${text}" is not ADDRESS:PORT with an IP address (127.0.0.1:8443, 0.0.0.0:8443 for every IPv4 address, [::]:8443)`);
  if (port > 65535) throw new Error(`--listen: port ${port} is over 65535`);
  return { address, port };
}

/** The listener's options from lodged's flags, checked before anything is made; undefined without --listen. */
export function httpsOptions(flags: { listen?: string; 'tls-cert'?: string; 'tls-key'?: string }): HttpsOptions | undefined {
  const cert = flags['tls-cert'];
  const key = flags['tls-key'];
  if (flags.listen === undefined) {
    if (cert !== undefined || key !== undefined) throw new Error('--tls-cert and --tls-key are for --listen: without it nothing listens on TCP');
    return undefined;
  }
  if ((cert === undefined) !== (key === undefined)) throw new Error('--tls-cert and --tls-key go together: the certificate and its private key');
  for (const [flag, file] of [['--tls-cert', cert], ['--tls-key', key]] as const) if (file !== undefined && !existsSync(file)) throw new Error(`${flag}: ${file} does not exist`);
  return { ...parseListen(flags.listen), ...(cert !== undefined && key !== undefined ? { certificate: { cert: path.resolve(cert), key: path.resolve(key) } } : {}) };
}

/** Lodge's own certificate, made at the first start: named after this host, for browsers' sake. */
async function ownCertificate(stateDir: string, instance: string, address: string): Promise<{ cert: string; key: string }> {
  const dir = path.join(stateDir, 'tls');
  const files = { cert: path.join(dir, 'server.crt'), key: path.join(dir, 'server.key') };
  if (existsSync(files.cert) && existsSync(files.key)) return files;
  const wildcard = address === '0.0.0.0' || address === '::';
  const ips = [...new Set(['127.0.0.1', '::1', ...(wildcard ? [] : [address])])];
  await makeSelfSignedCertificate(files, `lodge ${instance}`, { dns: [...new Set(['localhost', os.hostname()])], ips });
  return files;
}

/**
 * Serves `app` (and the web console) over HTTPS on the address asked, until the app's own
 * server closes; answers what GET /1.0 says of it.
 */
export async function listenHttps(app: FastifyInstance, options: HttpsOptions, state: { stateDir: string; instance: string }, web: WebConsole): Promise<HttpsListener> {
  await app.ready(); // its routes, which app.routing finds
  const files = options.certificate ?? (await ownCertificate(state.stateDir, state.instance, options.address));
  const [cert, key] = await Promise.all([readFile(files.cert, 'utf8'), readFile(files.key, 'utf8')]);
  let fingerprint: string;
  try {
    fingerprint = new X509Certificate(cert).fingerprint256;
  } catch (e) {
    throw new Error(`${files.cert} is not a PEM certificate`, { cause: e });
  }
  let server: https.Server;
  try {
    server = https.createServer({ cert, key, minVersion: 'TLSv1.2' }, (req, res) => {
      if (web(req, res)) return;
      (req as MarkedRequest)[viaHttps] = true;
      app.routing(req, res);
    });
  } catch (e) {
    throw new Error(`the key ${files.key} does not go with the certificate ${files.cert}: ${(e as Error).message}`, { cause: e });
  }
  // the WebSocket plugin takes upgrades from the app's server: these are handed to it, marked
  server.on('upgrade', (req, socket, head) => {
    (req as MarkedRequest)[viaHttps] = true;
    app.server.emit('upgrade', req, socket, head);
  });
  server.on('clientError', clientErrorHandler);
  // the timeouts Fastify gave the app's own server: Node's 5-minute limit on a request would cut an image upload
  server.keepAliveTimeout = app.server.keepAliveTimeout;
  server.requestTimeout = app.server.requestTimeout;
  server.headersTimeout = app.server.headersTimeout;
  await new Promise<void>((resolve, reject) => {
    server.once('error', (e: NodeJS.ErrnoException) => reject(new Error(`--listen ${options.address}:${options.port}: ${e.code === 'EADDRINUSE' ? 'the address is in use' : e.message}`, { cause: e })));
    server.listen(options.port, options.address, resolve);
  });
  app.server.once('close', () => {
    server.close();
    server.closeAllConnections();
  });
  const port = (server.address() as net.AddressInfo).port;
  return { address: options.address, port, certificate: options.certificate ? 'given' : 'self-signed', fingerprint };
}
