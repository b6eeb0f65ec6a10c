/**
 * @module The secrets of users and tokens. A password is kept as a scrypt hash (node:crypto)
 * with a random salt, in the PHC string format so that its parameters travel with it (a
 * later raise of the cost leaves older hashes readable), and compared in constant time.
 * Tokens and session ids are random enough that a SHA-256 of them is all that is kept: a
 * copy of the database opens no session and holds no usable token.
 */
import { createHash, randomBytes, scrypt, timingSafeEqual } from 'node:crypto';

/** scrypt's cost: 2^15 blocks of 8 × 128 bytes (32 MiB, about 0.1 s here), as OWASP advises. */
const defaultCost = { ln: 15, r: 8, p: 1 } as const;
const saltBytes = 16;
const hashBytes = 32;
/** The most a stored hash may ask for, so that a damaged row cannot make one login take a minute or a GiB. */
const maxLn = 20;
const maxMemory = 128 * 1024 * 1024;

type Cost = { ln: number; r: number; p: number };

const derive = (password: string, salt: Buffer, cost: Cost, length: number) =>
  new Promise<Buffer>((resolve, reject) => {
    const N = 2 ** cost.ln;
    scrypt(password.normalize('NFC'), salt, length, { N, r: cost.r, p: cost.p, maxmem: maxMemory }, (e, key) => (e ? reject(e) : resolve(key)));
  });

const b64 = (b: Buffer) => b.toString('base64').replace(/=+$/, '');

/** `$scrypt$ln=15,r=8,p=1$SALT$HASH` of a password, with a new salt. */
export async function hashPassword(password: string, cost: Cost = defaultCost): Promise<string> {
  const salt = randomBytes(saltBytes);
  const hash = await derive(password, salt, cost, hashBytes);
  return `$scrypt$ln=${cost.ln},r=${cost.r},p=${cost.p}$${b64(salt)}$${b64(hash)}`;
}

/** Whether `password` is the one `encoded` was made from; a hash that is not one of ours is an error, not a no. */
export async function verifyPassword(password: string, encoded: string): Promise<boolean> {
  const m = /^\$scrypt\$ln=(\d+),r=(\d+),p=(\d+)\$([A-Za-z0-9+/]+)\$([A-Za-z0-9+/]+)$/.exec(encoded);
  if (!m) throw new Error('a stored password hash is not in the $scrypt$ format');
  const cost = { ln: Number(m[1]), r: Number(m[2]), p: Number(m[3]) };
  if (cost.ln < 1 || cost.ln > maxLn || cost.r < 1 || cost.r > 32 || cost.p < 1 || cost.p > 16) throw new Error(`a stored password hash asks for a cost out of bounds (ln=${cost.ln}, r=${cost.r}, p=${cost.p})`);
  const expected = Buffer.from(m[5]!, 'base64');
  const actual = await derive(password, Buffer.from(m[4]!, 'base64'), cost, expected.length);
  return timingSafeEqual(actual, expected);
}

/**
 * A hash no password is known to match, checked against when the user does not exist, so
 * that a login for a name that is not there takes as long as one with a wrong password.
 */
export const nobodysHash = '$scrypt$ln=15,r=8,p=1$iA0/7qKG2v5laEurqr5zUg$TfS/kfVh83f9z7mNXeuLcXduhpOuqSARgus1T1PU+wk';

/** A password Lodge makes: 144 random bits in 24 characters that survive a copy and paste. */
export const newPassword = () => randomBytes(18).toString('base64url');

/** A session id: 256 random bits. */
export const newSessionId = () => randomBytes(32).toString('base64url');

/** An API token: 256 random bits, with a prefix that says what it is when it turns up in a file. */
export const newToken = () => `lodge_${randomBytes(32).toString('base64url')}`;

/** What is stored of a session id or a token. */
export const secretHash = (secret: string) => createHash('sha256').update(secret).digest('hex');
