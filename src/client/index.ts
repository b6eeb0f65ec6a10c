/**
 * @module The typed client of Lodge's REST API, one part per noun.
 */
import type { HostInfo } from '../api/host.js';
import { AutonomicClient } from './autonomic.js';
import { BackupsClient } from './backups.js';
import { GuestsClient } from './guests.js';
import { HistoryClient } from './history.js';
import { Transport, type RemoteTarget } from './http.js';
import { ImagesClient } from './images.js';
import { NetworksClient } from './networks.js';
import { OperationsClient } from './operations.js';
import { SchedulesClient } from './schedules.js';
import { SnapshotsClient } from './snapshots.js';
import { StorageClient } from './storage.js';
import { TokensClient } from './tokens.js';
import { UsersClient } from './users.js';
import { VolumesClient } from './volumes.js';

export class LodgeClient {
  readonly transport: Transport;
  readonly autonomic: AutonomicClient;
  readonly backups: BackupsClient;
  readonly guests: GuestsClient;
  readonly history: HistoryClient;
  readonly images: ImagesClient;
  readonly networks: NetworksClient;
  readonly operations: OperationsClient;
  readonly schedules: SchedulesClient;
  readonly snapshots: SnapshotsClient;
  readonly storage: StorageClient;
  readonly tokens: TokensClient;
  readonly users: UsersClient;
  readonly volumes: VolumesClient;

  /** A unix socket (default: $LODGE_SOCKET, else /run/lodge/lodge.sock), or a remote lodged over HTTPS. */
  constructor(target?: string | RemoteTarget) {
    this.transport = new Transport(target);
    this.autonomic = new AutonomicClient(this.transport);
    this.backups = new BackupsClient(this.transport);
    this.guests = new GuestsClient(this.transport);
    this.history = new HistoryClient(this.transport);
    this.images = new ImagesClient(this.transport);
    this.networks = new NetworksClient(this.transport);
    this.operations = new OperationsClient(this.transport);
    this.schedules = new SchedulesClient(this.transport);
    this.snapshots = new SnapshotsClient(this.transport);
    this.storage = new StorageClient(this.transport);
    this.tokens = new TokensClient(this.transport);
    this.users = new UsersClient(this.transport);
    this.volumes = new VolumesClient(this.transport);
  }

  host = () => this.transport.request<HostInfo>('GET', '/1.0');
}
