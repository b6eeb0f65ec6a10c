/**
 * @module A guest's NICs (network, address, MAC, host end) and its port forwards, which an
 * admin adds and removes here.
 */
import type { Guest } from '../api/guests.js';
import { Forwards } from './forwards.js';

export function GuestNetwork({ guest }: { guest: Guest }) {
  const nics = guest.nics ?? [];
  return (
    <div>
      <h2>NICs</h2>
      {nics.length === 0 ? <p>None: loopback only.</p> : (
        <table>
          <thead><tr><th>NIC</th><th>Network</th><th>Address</th><th>MAC</th><th>Host end</th></tr></thead>
          <tbody>{nics.map((n) => <tr key={n.name}><td>{n.name}</td><td><a href="#/networks">{n.network}</a></td><td>{n.address}</td><td>{n.mac}</td><td>{n.hostDevice}</td></tr>)}</tbody>
        </table>
      )}
      <Forwards guest={guest.name} />
    </div>
  );
}
