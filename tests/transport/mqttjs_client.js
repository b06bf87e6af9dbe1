// A small MQTT.js command-line client for the transport tests. Prints one line per event on
// stdout; exits 0 when the requested work is done, 1 on error or timeout.
//
//   node mqttjs_client.js MODE URL CLIENT_ID [ARGS...]
//   sub TOPIC COUNT      subscribe (QoS 1), print READY, then each payload, exit after COUNT
//   subscribe TOPIC      subscribe (QoS 1), print "SUBACK <code>", disconnect
//   pub TOPIC MSG...     publish each (QoS 1), print "PUBACK <code>" for each, disconnect
//   resume COUNT         connect without subscribing, print COUNT payloads that arrive
//   connect              print "CONNACK <code>" and disconnect
//   flood TOPIC N        publish N QoS 0 messages at once; print "DISCONNECT <code>" or "CLOSED"
//   pingpong TOPIC N MS  subscribe to TOPIC, publish N QoS 1 messages every MS ms, print
//                        "GOT <n>" when all came back
// Environment: MQTT_VERSION (4 or 5, default 5), MQTT_CLEAN (0/1, default 1), MQTT_USER,
// MQTT_PASS, MQTT_CA (CA file for wss/mqtts), MQTT_TIMEOUT_MS (default 15000).
'use strict';
const fs = require('fs');
const mqtt = require('mqtt');

const [mode, url, clientId, ...args] = process.argv.slice(2);
const version = Number(process.env.MQTT_VERSION || 5);
const opts = {
  clientId,
  protocolVersion: version,
  clean: (process.env.MQTT_CLEAN || '1') === '1',
  reconnectPeriod: 0,
  connectTimeout: 10000,
  keepalive: 30,
};
if (!opts.clean && version === 5) opts.properties = { sessionExpiryInterval: 3600 };
if (process.env.MQTT_USER) opts.username = process.env.MQTT_USER;
if (process.env.MQTT_PASS) opts.password = process.env.MQTT_PASS;
if (process.env.MQTT_CA) opts.ca = fs.readFileSync(process.env.MQTT_CA);
if (url.startsWith('ws')) opts.wsOptions = { headers: {} };

const say = (s) => process.stdout.write(s + '\n');
let ending = false;
// A graceful end, so the PUBACK for the last message received goes out first.
const done = (code) => { ending = true; process.exitCode = code; setImmediate(() => client.end(false, () => process.exit(code))); };
setTimeout(() => { say('TIMEOUT'); process.exit(1); }, Number(process.env.MQTT_TIMEOUT_MS || 15000));

const client = mqtt.connect(url, opts);
client.on('error', (e) => {
  if (mode === 'flood') return;  // a write after the broker closed; 'close' follows
  if (mode === 'connect') { say('CONNACK ' + e.code); process.exit(0); }
  say('ERROR ' + e.message + ' ' + e.code);
  process.exit(1);
});

client.on('connect', (connack) => {
  if (mode === 'connect') { say('CONNACK ' + (connack.reasonCode || connack.returnCode || 0)); return done(0); }
  if (mode === 'sub') {
    let left = Number(args[1]);
    client.on('message', (t, payload) => { say(payload.toString()); if (--left === 0) done(0); });
    client.subscribe(args[0], { qos: 1 }, (err) => { if (err) { say('ERROR ' + err); process.exit(1); } say('READY'); });
  } else if (mode === 'subscribe') {
    // The raw SUBACK: MQTT.js reports refusals in the subscribe callback inconsistently.
    client.on('packetreceive', (p) => {
      if (p.cmd !== 'suback') return;
      say('SUBACK ' + p.granted[0]);
      done(0);
    });
    client.subscribe(args[0], { qos: 1 }, () => {});
  } else if (mode === 'pub') {
    const msgs = args.slice(1);
    let i = 0;
    const next = () => {
      if (i === msgs.length) return done(0);
      client.publish(args[0], msgs[i++], { qos: 1 }, (err, packet) => {
        say('PUBACK ' + (err ? err.code : (packet && packet.reasonCode) || 0));
        next();
      });
    };
    next();
  } else if (mode === 'resume') {
    let left = Number(args[0]);
    say('SESSION ' + (connack.sessionPresent ? 1 : 0));
    client.on('message', (t, payload) => { say(payload.toString()); if (--left === 0) done(0); });
  } else if (mode === 'flood') {
    client.on('disconnect', (p) => { say('DISCONNECT ' + p.reasonCode); process.exit(0); });
    client.on('close', () => { say('CLOSED'); process.exit(0); });
    // Paced bursts, so the broker's answer is read before the next write meets a closed socket.
    let left = Number(args[1]);
    const timer = setInterval(() => {
      for (let i = 0; i < 5 && left > 0; i++, left--) client.publish(args[0], 'x'.repeat(10), { qos: 0 });
      if (left === 0) clearInterval(timer);
    }, 5);
  } else if (mode === 'pingpong') {
    const n = Number(args[1]);
    let got = 0, sent = 0;
    client.on('message', () => { if (++got === n) { say('GOT ' + got); done(0); } });
    client.on('close', () => { if (ending) return; say('CLOSED after ' + got); process.exit(1); });
    client.subscribe(args[0], { qos: 1 }, () => {
      say('READY');
      const timer = setInterval(() => {
        client.publish(args[0], 'm' + sent, { qos: 1 });
        if (++sent === n) clearInterval(timer);
      }, Number(args[2]));
    });
  } else {
    say('unknown mode ' + mode);
    process.exit(2);
  }
});
