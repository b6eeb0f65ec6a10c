// Bundles the lodge CLI (dist/src/cli/main.js and what it imports) into one file,
// dist/src/cli/lodge.js, the command that gets installed. Node 20 loads ES modules one
// file at a time, and resolving and compiling the CLI's forty files was a third of every
// `lodge` run. ws, cli-progress, tar and yaml stay outside: only a console, a progress bar, a config edit or
// a restore of files loads them. The bundle sits beside main.js so that package.json is found at the same place.
import { build } from 'esbuild';

await build({
  entryPoints: ['dist/src/cli/main.js'],
  outfile: 'dist/src/cli/lodge.js',
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  external: ['ws', 'cli-progress', 'tar', 'yaml'],
  // commander is CommonJS and requires Node's built-ins, which an ES module bundle must be given
  banner: { js: "import { createRequire } from 'node:module'; const require = createRequire(import.meta.url);" },
  logLevel: 'warning',
});
