/**
 * @module Drivers by kind. The daemon makes each driver once and probes it at start;
 * a kind whose engine is missing is reported, not fatal.
 */
import type { GuestKind } from '../api/common.js';
import { LodgeError } from '../api/errors.js';
import type { DriverInfo, GuestDriver } from './driver.js';

export class DriverRegistry {
  private readonly drivers = new Map<GuestKind, { driver: GuestDriver; info: DriverInfo }>();

  async add(driver: GuestDriver): Promise<DriverInfo> {
    const info = await driver.probe();
    this.drivers.set(driver.kind, { driver, info });
    return info;
  }

  info(kind: GuestKind): DriverInfo | undefined {
    return this.drivers.get(kind)?.info;
  }

  /** The driver of a kind, refusing kinds this host cannot run. */
  get(kind: GuestKind): GuestDriver {
    const entry = this.drivers.get(kind);
    if (!entry) throw new LodgeError('UNSUPPORTED', `guest kind ${kind} is not supported by this lodged yet`);
    if (!entry.info.available) throw new LodgeError('UNAVAILABLE', `guest kind ${kind} cannot run on this host: ${entry.info.engine}`);
    return entry.driver;
  }

  /** For guests that already exist: the driver even when its engine went missing, to report and clean up. */
  existing(kind: GuestKind): GuestDriver | undefined {
    return this.drivers.get(kind)?.driver;
  }
}
