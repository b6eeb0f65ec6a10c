/**
 * @module The client side of /1.0/tokens.
 */
import type { Token, TokenCreated, TokensPost } from '../api/tokens.js';
import type { Transport } from './http.js';

export class TokensClient {
  private readonly t: Transport;
  constructor(t: Transport) {
    this.t = t;
  }

  list = () => this.t.request<Token[]>('GET', '/1.0/tokens');
  add = (body: TokensPost) => this.t.request<TokenCreated>('POST', '/1.0/tokens', { body });
  delete = (name: string) => this.t.request<void>('DELETE', `/1.0/tokens/${encodeURIComponent(name)}`);
}
