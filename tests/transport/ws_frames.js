// Raw WebSocket framing check for MQTT over WebSocket: a CONNECT split across two binary
// frames, then SUBSCRIBE + PUBLISH (QoS 1) packed into one frame, then (mode "text") a text
// frame, which the broker must answer by closing. Prints the hex of everything received and
// "CLOSED" when the connection ends.
//   node ws_frames.js URL binary|text
'use strict';
const WebSocket = require('ws');
const [url, mode] = process.argv.slice(2);
const hex = (s) => Buffer.from(s.replace(/ /g, ''), 'hex');
const connect = hex('10 0e 0004 4d515454 04 02 003c 0002 7773');           // 3.1.1, id "ws"
const subscribe = hex('82 08 0001 0003 612f62 01');                         // a/b QoS 1
const publish = hex('32 09 0003 612f62 0002 6869');                         // a/b "hi" QoS 1
const ws = new WebSocket(url, 'mqtt');
let got = Buffer.alloc(0);
setTimeout(() => { process.stdout.write(got.toString('hex') + '\nTIMEOUT\n'); process.exit(1); }, 10000);
ws.on('open', () => {
  ws.send(connect.subarray(0, 3), { binary: true });
  setTimeout(() => {
    ws.send(connect.subarray(3), { binary: true });
    ws.send(Buffer.concat([subscribe, publish]), { binary: true });
    if (mode === 'text') setTimeout(() => ws.send('not mqtt'), 300);
  }, 50);
});
ws.on('message', (data) => {
  got = Buffer.concat([got, data]);
  // CONNACK 4 + SUBACK 5 + PUBACK 4 + PUBLISH 11 bytes.
  if (mode === 'binary' && got.length >= 24) {
    process.stdout.write(got.toString('hex') + '\n');
    ws.close();
    process.exit(0);
  }
});
ws.on('close', () => { process.stdout.write(got.toString('hex') + '\nCLOSED\n'); process.exit(0); });
ws.on('error', (e) => { process.stdout.write('ERROR ' + e.message + '\n'); process.exit(1); });
