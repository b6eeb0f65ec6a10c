import { test } from 'node:test';
import assert from 'node:assert/strict';
import { hostTypes, type HostType } from './model.js';
import { plan, predictDemand, type PlanGuest, type PlanHost } from './plan.js';

const g4 = hostTypes.g4; // 2 × 1860 = 3720 MIPS
const g5 = hostTypes.g5; // 2 × 2660 = 5320 MIPS

const on = (type: HostType): PlanHost => ({ type, state: 'on' });
const asleep = (type: HostType): PlanHost => ({ type, state: 'asleep' });
/** A guest asking for `demand` MIPS now and for the interval before (or for `history`, oldest first). */
const guest = (host: number, demand: number, memoryMb = 613, history = [demand, demand]): PlanGuest => ({ host, cpu: 2500, memoryMb, history });

test('an overloaded host sheds the guest that relieves it at least cost, to the awake host it fills best under the band', () => {
  const hosts = [on(g5), on(g5), on(g5), on(g4), asleep(g5)];
  const guests = [
    // host 0 asks for 5500 of 5320: 180 too many
    guest(0, 2500, 870), // would lose 0.1 × 2500 × 13.9 s = 3480 MI
    guest(0, 2000, 1740), // 5568 MI
    guest(0, 1000, 613), // 981 MI: the cheapest that suffices
    guest(1, 2200), guest(1, 2200), // 4400: cannot take 1000 more
    guest(2, 1800), guest(2, 1800), // 3600 + 1000 = 87 % of 5320
    guest(3, 950), guest(3, 950), // 1900 + 1000 = 78 % of 3720
  ];
  const p = plan(hosts, guests);
  assert.deepEqual(p.migrations, [{ guest: 2, from: 0, to: 2, reason: 'overload' }]);
  assert.deepEqual(p.sleep, []);
  assert.deepEqual(p.wake, []);
  // with the band's top at 81 %, every host that receives a guest still ends under it
  const tight = plan(hosts, guests, { high: 0.81 });
  const where = guests.map((g) => g.host);
  for (const m of tight.migrations) where[m.guest] = m.to;
  const load = (h: number) => guests.reduce((sum, g, i) => sum + (where[i] === h ? g.history[1]! : 0), 0) / (hosts[h]!.type.coreMips * 2);
  assert.ok(tight.migrations.length > 0);
  for (const m of tight.migrations) assert.ok(load(m.to) <= 0.81, `host ${m.to} ends at ${load(m.to)}`);
});

test('a quiet host is emptied and put to sleep when its guests fit elsewhere', () => {
  const p = plan([on(g5), on(g5)], [guest(0, 500), guest(1, 3000)]);
  assert.deepEqual(p.migrations, [{ guest: 0, from: 0, to: 1, reason: 'consolidation' }]);
  assert.deepEqual(p.sleep, [0]);
});

test('a quiet host is not emptied unless every one of its guests fits elsewhere', () => {
  // host 0: 2300 of 5320 (43 %, quiet); host 1 at 3300 takes the 1200 but then not the 1100
  const p = plan([on(g5), on(g5)], [guest(0, 1200), guest(0, 1100), guest(1, 1650), guest(1, 1650)]);
  assert.deepEqual(p, { migrations: [], sleep: [], wake: [] });
});

test('the predicted demand of a guest is a high percentile of its own recent samples', () => {
  const o = { predictWindow: 6, percentile: 0.8 };
  // the last 6 of these, sorted: 10 20 30 40 50 60; the 80th percentile is the 5th
  assert.equal(predictDemand([900, 60, 10, 50, 20, 40, 30], o), 50);
  assert.equal(predictDemand([70], o), 70);
  assert.equal(predictDemand([], o), 0);
});

test('consolidation does not fill a host past what its guests are predicted to ask for', () => {
  // host 1 asks for 3000 now, but its guests asked for 2 × 2500 in most of the last 30 minutes
  const spiky = [2500, 2500, 2500, 2500, 1500, 1500];
  const hosts = [on(g5), on(g5)];
  const guests = [guest(0, 500), guest(1, 1500, 613, spiky), guest(1, 1500, 613, spiky)];
  assert.deepEqual(plan(hosts, guests).migrations, []);
  assert.deepEqual(plan(hosts, guests, { predictWindow: 1 }).migrations, [{ guest: 0, from: 0, to: 1, reason: 'consolidation' }]);
});

test('a host is emptied only when it stayed quiet for the whole sleep window', () => {
  // quiet now, but 3000 of 5320 (56 %) the interval before
  const busyBefore = [on(g5), on(g5)];
  const guests = [guest(0, 500, 613, [3000, 500]), guest(1, 3000)];
  assert.deepEqual(plan(busyBefore, guests).migrations, []);
  assert.equal(plan(busyBefore, guests, { sleepWindow: 1 }).migrations.length, 1);
});

test('a sleeping host is woken, the most efficient type, only when no awake host can take the overload', () => {
  // host 0 asks for 5700 of 5320; the only other awake host is full
  const hosts = [on(g5), asleep(g4), asleep(g5), on(g4)];
  const guests = [guest(0, 2600), guest(0, 2600), guest(0, 500), guest(3, 1800), guest(3, 1800)];
  const p = plan(hosts, guests);
  // a G5 draws 135 W for 5320 MIPS at full load, a G4 117 W for 3720: the G5 is woken
  assert.deepEqual(p.migrations, [{ guest: 2, from: 0, to: 2, reason: 'overload' }]);
  assert.deepEqual(p.wake, [2]);
  assert.deepEqual(p.sleep, []);
});

test('a move that does not pay for itself is not made', () => {
  const hosts = [on(g5), on(g5)];
  const busy = [guest(1, 3000)];
  // 5 MIPS over for 300 s is 1500 MI; moving the 925-MIPS guest loses 0.1 × 925 × 27.8 s = 2575 MI
  const hair = plan(hosts, [guest(0, 2200, 1740), guest(0, 2200, 1740), guest(0, 925, 1740), ...busy]);
  assert.deepEqual(hair.migrations, []);
  // 80 over: 24000 MI against 2784: it pays
  const real = plan(hosts, [guest(0, 2200, 1740), guest(0, 2200, 1740), guest(0, 1000, 1740), ...busy]);
  assert.deepEqual(real.migrations, [{ guest: 2, from: 0, to: 1, reason: 'overload' }]);
  // emptying a host saves 93.7 W × 600 s = 56 kJ; at 1000 J per lost MI, 490 MI lost is too dear
  const quiet = [guest(0, 500), guest(1, 3000)];
  assert.equal(plan(hosts, quiet).migrations.length, 1);
  assert.deepEqual(plan(hosts, quiet, { joulesPerLostMi: 1000 }).migrations, []);
});

test('the same input gives the same plan, and the input is left as it was', () => {
  let seed = 42;
  const random = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
  const hosts = Array.from({ length: 40 }, (_, h) => (h < 25 ? on(h % 2 ? g5 : g4) : asleep(g5)));
  const guests = Array.from({ length: 120 }, (_, i) => guest(i % 25, Math.floor(random() * 1800), [613, 870, 1740][i % 3], [random() * 1800, random() * 1800, random() * 1800].map(Math.floor)));
  const before = JSON.stringify({ hosts, guests });
  const first = plan(hosts, guests);
  assert.ok(first.migrations.length > 0);
  assert.deepEqual(plan(hosts, guests), first);
  assert.equal(JSON.stringify({ hosts, guests }), before);
});

test('a guest on a host that is asleep or unknown is refused, naming the guest', () => {
  assert.throws(() => plan([asleep(g5)], [guest(0, 100)]), /guest 0: host 0 is asleep/);
  assert.throws(() => plan([on(g5)], [guest(3, 100)]), /guest 0: host 3 is not one of the 1 hosts/);
});
