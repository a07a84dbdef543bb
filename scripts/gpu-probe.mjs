// Prints, as one JSON line, the WebGPU adapter Dawn (npm `webgpu`) finds with the Vulkan drivers
// of this process's environment: {"adapter": null} or {"adapter": {vendor, architecture,
// description, cpu}}. scripts/gpu-env.mjs runs it in a child process, because the Vulkan loader
// and its drivers are chosen by environment variables read once, when Dawn loads.

import { create, globals } from 'webgpu';

const CPU = /swiftshader|llvmpipe|lavapipe|warp/i;
let out = { adapter: null };
try {
  Object.assign(globalThis, globals);
  const gpu = create([]);
  const a = await gpu.requestAdapter({ powerPreference: 'high-performance' });
  if (a) {
    const i = a.info;
    out = {
      adapter: {
        vendor: i.vendor,
        architecture: i.architecture,
        description: i.description,
        cpu: i.architecture === 'swiftshader' || CPU.test(i.description) || i.isFallbackAdapter === true,
      },
    };
  }
} catch (e) {
  out = { adapter: null, error: e instanceof Error ? e.message : String(e) };
}
process.stdout.write(`${JSON.stringify(out)}\n`);
process.exit(0);
