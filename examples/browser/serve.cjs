// SPDX-License-Identifier: MIT
// A static server for the page, on loopback, no dependencies: this folder at /, onnxruntime-web's dist/ at /ort/,
// and optionally one model file at /model.onnx (open /?model=model.onnx to load it at once).
// Usage: node examples/browser/serve.cjs [model.onnx] [port]   (from a checkout with node_modules installed)
const fs = require('node:fs');
const http = require('node:http');
const path = require('node:path');

const TYPES = {
  '.html': 'text/html',
  '.mjs': 'text/javascript',
  '.js': 'text/javascript',
  '.wasm': 'application/wasm',
  '.json': 'application/json',
  '.map': 'application/json',
};

/** The folder of onnxruntime-web's dist/, as Node resolves the package from here. */
function ortDist() {
  // The package's main entry sits in dist/ itself (its exports do not include package.json).
  return path.dirname(require.resolve('onnxruntime-web', { paths: [__dirname, process.cwd()] }));
}

/** A server for the page; `model`, when given, is served at /model.onnx. Listen on it yourself. */
function createServer({ model, ort = ortDist() } = {}) {
  return http.createServer((req, res) => {
    const url = decodeURIComponent(new URL(req.url, 'http://localhost').pathname);
    let file;
    if (url === '/model.onnx' && model) file = model;
    else if (url.startsWith('/ort/')) file = path.join(ort, url.slice('/ort/'.length));
    else file = path.join(__dirname, url === '/' ? 'index.html' : url);
    // Only files below the two roots (or the one model) are served.
    const allowed = file === model || file.startsWith(ort + path.sep) || file.startsWith(__dirname + path.sep);
    fs.readFile(file, (error, body) => {
      if (!allowed || error) {
        res.writeHead(404).end('not found');
        return;
      }
      res.writeHead(200, { 'content-type': TYPES[path.extname(file)] ?? 'application/octet-stream' }).end(body);
    });
  });
}

module.exports = { createServer, ortDist };

if (require.main === module) {
  const [model, port = '8080'] = process.argv.slice(2);
  createServer({ model: model && path.resolve(model) }).listen(Number(port), '127.0.0.1', () => {
    const query = model ? '?model=model.onnx' : '';
    console.log(`serving http://127.0.0.1:${port}/${query}`);
  });
}
