/**
 * @module The client side of /1.0/users.
 */
import type { PasswordPut, User, UserCreated, UsersPost } from '../api/users.js';
import type { Transport } from './http.js';

const at = (name: string) => `/1.0/users/${encodeURIComponent(name)}`;

export class UsersClient {
  private readonly t: Transport;
  constructor(t: Transport) {
    this.t = t;
  }

  list = () => this.t.request<User[]>('GET', '/1.0/users');
  get = (name: string) => this.t.request<User>('GET', at(name));
  add = (body: UsersPost) => this.t.request<UserCreated>('POST', '/1.0/users', { body });
  delete = (name: string) => this.t.request<void>('DELETE', at(name));
  setPassword = (name: string, body: PasswordPut) => this.t.request<UserCreated>('PUT', `${at(name)}/password`, { body });
}
