// Build the component with componentize-js's JS API (the jco CLI
// mishandles paths here). Usage: node build.mjs OUT.wasm
import { componentize } from '@bytecodealliance/componentize-js';
import { writeFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { dirname, resolve } from 'node:path';

const here = dirname(fileURLToPath(import.meta.url));
const out = process.argv[2] ?? resolve(here, 'shift-board-js.wasm');

const { component } = await componentize({
  sourcePath: resolve(here, 'index.js'),
  witPath: resolve(here, '../../wit/examples'),
  worldName: 'shift-board-plugin',
  // The host provides no wasi:http; keep stdio, random and clocks, which
  // the host links with an empty, deny-by-default context.
  disableFeatures: ['http', 'fetch-event'],
});
await writeFile(out, component);
console.log(`built ${out} (${component.length} bytes)`);
