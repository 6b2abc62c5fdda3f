// SPDX-License-Identifier: MIT
// bench/ws.sh's baseline: an echo server with node's `ws` (npm) over node's https, with the
// certificate libtlsio's servers use. permessage-deflate off, as the client offers none.
// usage: node bench/ws-node-server.js CERT KEY  (prints "listening on 127.0.0.1:PORT")
'use strict';
const fs = require('fs');
const https = require('https');
const { WebSocketServer } = require('ws');

const [cert, key] = process.argv.slice(2);
const server = https.createServer({ cert: fs.readFileSync(cert), key: fs.readFileSync(key) });
const wss = new WebSocketServer({ server, perMessageDeflate: false, maxPayload: 16 << 20 });
wss.on('connection', (ws) => {
	ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary }));
});
server.listen(0, '127.0.0.1', () => {
	console.log('listening on 127.0.0.1:' + server.address().port);
});
process.on('SIGTERM', () => process.exit(0));
