// node-llama-cpp, llama.cpp's Node binding with prebuilt CPU binaries, as the tests' referee for
// GGUF exports. It is large (hundreds of MB of prebuilt binaries), so it is not a dependency of
// the studio: `node scripts/setup.mjs --for test` installs exactly LLAMA_CPP_VERSION into .llama/
// (or LORA_STUDIO_LLAMA_CPP names another prefix), and tests that need it are skipped, saying
// so, when it is absent.

import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { REPO_ROOT } from '../../engine/testing/cases.node';

export const LLAMA_CPP_VERSION = '3.21.1';

export function llamaCppPrefix(): string {
  return process.env.LORA_STUDIO_LLAMA_CPP ?? join(REPO_ROOT, '.llama');
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export async function loadNodeLlamaCpp(): Promise<{ module: any | null; reason: string }> {
  const pkg = join(llamaCppPrefix(), 'node_modules/node-llama-cpp');
  if (!existsSync(join(pkg, 'package.json')))
    return {
      module: null,
      reason: `node-llama-cpp is not installed in ${llamaCppPrefix()} (run: node scripts/setup.mjs --for test)`,
    };
  const version = (JSON.parse(readFileSync(join(pkg, 'package.json'), 'utf8')) as { version: string }).version;
  if (version !== LLAMA_CPP_VERSION)
    return {
      module: null,
      reason: `node-llama-cpp ${version} is installed in ${llamaCppPrefix()}, the tests pin ${LLAMA_CPP_VERSION} (run: node scripts/setup.mjs --for test)`,
    };
  return { module: await import(pathToFileURL(join(pkg, 'dist/index.js')).href), reason: '' };
}
