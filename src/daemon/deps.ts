/**
 * @module What the HTTP server needs, made by main.ts (or a test) and passed in.
 */
import type { HostInfo } from '../api/host.js';
import type { AutonomicService } from '../core/autonomic.js';
import type { BackupService } from '../core/backups.js';
import type { Events } from '../core/events.js';
import type { GuestService } from '../core/guests.js';
import type { HistoryService } from '../core/history.js';
import type { ImageService } from '../core/images.js';
import type { LodgedMetrics } from '../core/lodged-metrics.js';
import type { MetricsService } from '../core/metrics.js';
import type { NetworkService } from '../core/networks.js';
import type { Operations } from '../core/operations.js';
import type { ScheduleService } from '../core/schedules.js';
import type { SnapshotService } from '../core/snapshots.js';
import type { StorageService } from '../core/storage.js';
import type { TokenService } from '../core/tokens.js';
import type { UserService } from '../core/users.js';
import type { VolumeService } from '../core/volumes.js';

export interface ServerDeps {
  guests: GuestService;
  autonomic: AutonomicService;
  images: ImageService;
  networks: NetworkService;
  storage: StorageService;
  snapshots: SnapshotService;
  backups: BackupService;
  schedules: ScheduleService;
  volumes: VolumeService;
  users: UserService;
  tokens: TokenService;
  operations: Operations;
  events: Events;
  metrics: MetricsService;
  history: HistoryService;
  /** Where the server counts the requests it answers. */
  lodgedMetrics: LodgedMetrics;
  hostInfo: () => HostInfo;
  /** Where uploads are staged before they are checked. */
  tmpDir: string;
  log: (message: string) => void;
}
