// Bundles the command-line programs (src/cli/*.ts) into self-contained ES modules in dist-cli/
// with esbuild. WGSL files imported with `?raw` become strings, exactly as Vite does for the
// browser, so Node runs the same engine code. Only the `webgpu` package stays external: the
// benchmark bundle runs on a GPU machine with nothing but that package beside it.
//   node scripts/build-cli.mjs [entry ...]      (default: every src/cli/<name>.ts with a main)

import { build } from 'esbuild';
import { readFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
export const CLI_ENTRIES = ['train', 'sample', 'bench', 'export'];

const rawPlugin = {
  name: 'raw',
  setup(b) {
    b.onResolve({ filter: /\?raw$/ }, (args) => ({
      path: resolve(args.resolveDir, args.path.slice(0, -4)),
      namespace: 'raw',
    }));
    b.onLoad({ filter: /.*/, namespace: 'raw' }, async (args) => ({
      contents: await readFile(args.path, 'utf8'),
      loader: 'text',
    }));
  },
};

export async function buildCli(entries = CLI_ENTRIES) {
  await build({
    entryPoints: Object.fromEntries(entries.map((e) => [e, join(root, 'src/cli', `${e}.ts`)])),
    outdir: join(root, 'dist-cli'),
    outExtension: { '.js': '.mjs' },
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    external: ['webgpu'],
    plugins: [rawPlugin],
    logLevel: 'warning',
    sourcemap: 'linked',
    banner: { js: "import { createRequire as __cr } from 'node:module'; const require = __cr(import.meta.url);" },
  });
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const args = process.argv.slice(2);
  await buildCli(args.length ? args : CLI_ENTRIES);
}
