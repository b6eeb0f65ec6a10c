// Bundles the web console (dist/src/web/main.js, which tsc made from src/web/) for the
// browser into dist/web/: index.html, assets/main.js and its chunks (the terminal is a
// chunk of its own, loaded when a console opens; so are the screen and the graphs), style.css,
// xterm's and uPlot's stylesheets.
// lodged serves this directory on its HTTPS listener. Prints each file's gzip size.
import { build } from 'esbuild';
import { copyFileSync, mkdirSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { gzipSync } from 'node:zlib';

const out = 'dist/web';
rmSync(out, { recursive: true, force: true });
mkdirSync(`${out}/assets`, { recursive: true });
await build({
  entryPoints: ['dist/src/web/main.js'],
  outdir: `${out}/assets`,
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'browser',
  target: 'es2022',
  minify: true,
  entryNames: '[name]',
  chunkNames: '[name]-[hash]',
  legalComments: 'none',
  logLevel: 'warning',
});
copyFileSync('src/web/index.html', `${out}/index.html`);
copyFileSync('src/web/style.css', `${out}/assets/style.css`);
const require = createRequire(import.meta.url);
copyFileSync(require.resolve('@xterm/xterm/css/xterm.css'), `${out}/assets/xterm.css`);
copyFileSync(require.resolve('uplot/dist/uPlot.min.css'), `${out}/assets/uPlot.min.css`);

if (process.argv.includes('--sizes')) {
  for (const f of ['index.html', ...readdirSync(`${out}/assets`).map((a) => `assets/${a}`)]) {
    const bytes = readFileSync(`${out}/${f}`);
    console.log(`${f}: ${bytes.length} bytes, ${gzipSync(bytes).length} gzip`);
  }
}
