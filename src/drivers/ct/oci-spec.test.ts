import { test } from 'node:test';
import assert from 'node:assert/strict';
import { capabilityNames } from '../../host/capabilities.js';
import { cgroupResources, defaultIdMap, ociSpec, systemContainerCapabilities, type OciSpecInput } from './oci-spec.js';

const base: OciSpecInput = {
  hostname: 'web1',
  rootfs: '/var/lib/lodge/guests/x/rootfs',
  init: '/sbin/init',
  privileged: false,
  limits: {},
  cgroupsPath: '/lodge/abc-1',
  capabilities: systemContainerCapabilities(capabilityNames),
  swapAccounting: true,
};

type Spec = { process: { args: string[]; capabilities: { bounding: string[] } }; linux: Record<string, unknown>; hostname: string };

test('an unprivileged guest gets a user namespace with the shared map', () => {
  const spec = ociSpec(base) as unknown as Spec;
  const ns = (spec.linux.namespaces as Array<{ type: string }>).map((n) => n.type);
  assert.ok(ns.includes('user'));
  assert.deepEqual(spec.linux.uidMappings, [{ containerID: 0, hostID: defaultIdMap.hostId, size: defaultIdMap.size }]);
  assert.equal(spec.hostname, 'web1');
  assert.deepEqual(spec.process.args, ['/sbin/init']);
});

test('a privileged guest has no user namespace and no id map', () => {
  const spec = ociSpec({ ...base, privileged: true }) as unknown as Spec;
  const ns = (spec.linux.namespaces as Array<{ type: string }>).map((n) => n.type);
  assert.ok(!ns.includes('user'));
  assert.equal(spec.linux.uidMappings, undefined);
});

test('a guest gets no capability the host lacks', () => {
  const host = capabilityNames.filter((c) => c !== 'CAP_SYS_RESOURCE');
  assert.ok(!systemContainerCapabilities(host).includes('CAP_SYS_RESOURCE'));
  assert.ok(systemContainerCapabilities(host).includes('CAP_SYS_NICE'));
});

test('capabilities drop module loading, clock and raw I/O', () => {
  const caps = (ociSpec(base) as unknown as Spec).process.capabilities.bounding;
  for (const dropped of ['CAP_SYS_MODULE', 'CAP_SYS_TIME', 'CAP_SYS_RAWIO']) assert.ok(!caps.includes(dropped), dropped);
  assert.ok(caps.includes('CAP_SYS_ADMIN') && caps.includes('CAP_NET_ADMIN'));
});

test('limits become cgroup resources', () => {
  assert.deepEqual(cgroupResources({ cpu: 1.5, memoryBytes: 256 << 20, processes: 100 }, true), {
    cpu: { shares: 1536, quota: 150_000, period: 100_000 },
    memory: { limit: 256 << 20, swap: 256 << 20 },
    pids: { limit: 100 },
  });
  assert.deepEqual(cgroupResources({ memoryBytes: 64 << 20, swapBytes: 64 << 20 }, true), { memory: { limit: 64 << 20, swap: 128 << 20 } });
  assert.deepEqual(cgroupResources({ memoryBytes: 64 << 20 }, false), { memory: { limit: 64 << 20 } });
  assert.deepEqual(cgroupResources({}, true), {});
});

test('every guest has its own cgroup namespace', () => {
  const ns = (ociSpec(base) as unknown as Spec).linux.namespaces as Array<{ type: string }>;
  assert.ok(ns.some((n) => n.type === 'cgroup'));
});
