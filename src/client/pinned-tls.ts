/**
 * @module TLS to a remote lodged whose certificate is trusted by its fingerprint, as ssh
 * trusts a host key: pinned on first use (lodge remote add), then checked at every
 * connection before a byte of the request (and its token) is written. A certificate
 * authority has no say either way: a self-signed certificate is fine, a changed one is not.
 */
import https from 'node:https';
import type { Duplex } from 'node:stream';
import tls from 'node:tls';
import { LodgeError } from '../api/errors.js';

/** The certificate's SHA-256 fingerprint as Node and `lodge host` write it: AB:CD:... */
export const normalFingerprint = (text: string) => text.replace(/[^0-9a-fA-F]/g, '').toUpperCase().replace(/(..)(?!$)/g, '$1:');

export class CertificateChanged extends LodgeError {
  constructor(where: string, pinned: string, seen: string) {
    super('UNAVAILABLE', `the certificate of ${where} has changed: pinned ${pinned}, offered ${seen}. Nothing was sent. If the server's certificate was replaced on purpose (check lodge host there), remove the remote and add it again`);
  }
}

/** An agent whose connections are those of a server with the pinned certificate, or fail. */
export class PinnedAgent extends https.Agent {
  private readonly fingerprint: string;
  private readonly where: string;

  constructor(fingerprint: string, where: string, options: https.AgentOptions = {}) {
    super({ ...options, maxCachedSessions: 0 });
    this.fingerprint = normalFingerprint(fingerprint);
    this.where = where;
  }

  // Node's agent takes a socket from this callback when nothing is returned
  override createConnection(options: tls.ConnectionOptions, callback: (err: Error | null, socket?: Duplex) => void): Duplex {
    const socket = tls.connect({ ...options, rejectUnauthorized: false });
    const failed = (e: Error) => callback(e);
    socket.once('error', failed);
    socket.once('secureConnect', () => {
      socket.removeListener('error', failed);
      const seen = socket.getPeerCertificate().fingerprint256;
      if (seen === this.fingerprint) return callback(null, socket);
      socket.destroy();
      callback(new CertificateChanged(this.where, this.fingerprint, seen ?? 'no certificate'));
    });
    return undefined as unknown as Duplex;
  }
}

/** The fingerprint of the certificate a server offers, trusted by nobody yet: what `remote add` shows and pins. */
export function peerFingerprint(host: string, port: number, timeoutMs = 10_000): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = tls.connect({ host, port, servername: /^[\d.]+$|:/.test(host) ? '' : host, rejectUnauthorized: false, timeout: timeoutMs });
    socket.once('timeout', () => socket.destroy(new Error(`no TLS answer from ${host}:${port} in ${timeoutMs / 1000} s`)));
    socket.once('error', (e) => reject(new LodgeError('UNAVAILABLE', `cannot reach lodged at https://${host}:${port}: ${e.message}`, { cause: e })));
    socket.once('secureConnect', () => {
      const fingerprint = socket.getPeerCertificate().fingerprint256;
      socket.end();
      if (!fingerprint) reject(new LodgeError('UNAVAILABLE', `https://${host}:${port} offered no certificate`));
      else resolve(fingerprint);
    });
  });
}
