/**
 * bench/pv-boot: `lodge launch --kind pv` to the shell prompt against the same linux.uml
 * command line by hand (its own COW file), alternated. Usage: npm run bench:pv-boot [-- --runs N]
 */
import path from 'node:path';
import { parseArgs } from 'node:util';
import { benchBoot, rmForce } from './guest-boot.js';

const { values } = parseArgs({ options: { runs: { type: 'string', default: '7' } } });

await benchBoot({
  kind: 'pv',
  runs: Number(values.runs),
  rawArgv: (argv, i, dir) =>
    argv.map((a) =>
      a.startsWith('ubd0=') ? `ubd0=${path.join(dir, `raw${i}.cow`)},${a.split(',')[1]}` : a.startsWith('uml_dir=') ? `uml_dir=${dir}` : a.startsWith('umid=') ? `umid=raw${i}` : a,
    ),
  rawCleanup: (i, dir) => {
    rmForce(path.join(dir, `raw${i}.cow`));
    rmForce(path.join(dir, `raw${i}`));
  },
});
