// Builds a Plaza plugin component from JavaScript with componentize-js's API.
// Usage: node componentize.mjs SOURCE.js WIT_DIR OUTPUT.wasm
// (The `jco componentize` CLI cannot be used: its WASI shim has no preopened folders here.)
// componentize-js is taken from ./node_modules (`npm install`), or from the node_modules folder
// named by PLAZA_NODE_MODULES (e.g. the one `cargo xtask lang-plugins` installs in a Plaza
// checkout's target/toolchains/node/node_modules).
import { writeFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';

const [source, wit, output] = process.argv.slice(2);
if (!source || !wit || !output) {
  console.error('usage: node componentize.mjs SOURCE.js WIT_DIR OUTPUT.wasm');
  process.exit(2);
}
const modules = process.env.PLAZA_NODE_MODULES || 'node_modules';
// The package exports only an `import` entry, and ES module imports ignore NODE_PATH.
const entry = resolve(modules, '@bytecodealliance/componentize-js/src/componentize.js');
const { componentize } = await import(pathToFileURL(entry));
const { component } = await componentize({
  sourcePath: resolve(source),
  witPath: resolve(wit),
  worldName: 'plugin',
  // Plaza links no wasi:http; plugins reach the web through the plaza:plugin/http capability.
  disableFeatures: ['http', 'fetch-event'],
});
await writeFile(output, component);
