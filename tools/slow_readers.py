#!/usr/bin/env python3
# Manual check of chat backpressure (not part of the test suite): N persistent chat readers stop
# reading their sockets while a sender posts M ~1 KB messages to their conversation; prints
# parleyd's RSS, then the readers read again and must each receive all M messages.
#
#   parleyd --data-dir D --port P --admin-port A --admin-token T &
#   python3 tools/slow_readers.py P A T $(pidof parleyd) 200 20000
#
# Needs flatc (the ChatSend template is built from schema/chat.fbs) and `ulimit -n` > N + 50.
import json, os, socket, struct, subprocess, sys, tempfile, time, urllib.request

port, admin, token, pid = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], int(sys.argv[4])
N, M = int(sys.argv[5]), int(sys.argv[6])
schema = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'schema', 'chat.fbs')
with tempfile.TemporaryDirectory() as tmp:
    with open(os.path.join(tmp, 'send.json'), 'w') as f:
        f.write('{"cmid":"c0000000","kind":"Text","body":[' + ','.join(['120'] * 1024) + ']}')
    subprocess.run(['flatc', '--binary', '-o', tmp, schema, os.path.join(tmp, 'send.json')],
                   check=True)
    tmpl = open(os.path.join(tmp, 'send.bin'), 'rb').read()
at = tmpl.index(b'c0000000')  # patched per message: every cmid is new

def rss_kib():
    for line in open(f'/proc/{pid}/status'):
        if line.startswith('VmRSS:'):
            return int(line.split()[1])

def vbi(n):
    out = b''
    while True:
        b = n % 128; n //= 128
        out += bytes([b | (128 if n else 0)])
        if not n: return out

def s16(s):
    s = s.encode() if isinstance(s, str) else s
    return struct.pack('>H', len(s)) + s

def connect(cid, user, clean):
    s = socket.create_connection(('127.0.0.1', port))
    flags = 0x80 | (0x02 if clean else 0)
    var = s16('MQTT') + bytes([4, flags]) + struct.pack('>H', 600)
    pl = s16(cid) + s16(user)
    body = var + pl
    s.sendall(bytes([0x10]) + vbi(len(body)) + body)
    hdr = s.recv(4)
    assert hdr[0] == 0x20 and hdr[3] == 0, hdr
    return s

req = urllib.request.Request(f'http://127.0.0.1:{admin}/v1/conversations', method='POST',
    data=json.dumps({'id': 'slow', 'kind': 'group',
                     'members': [{'user': 'sender', 'role': 'owner'}] +
                                [{'user': f'r{i}'} for i in range(N)]}).encode(),
    headers={'Authorization': 'Bearer ' + token})
urllib.request.urlopen(req).read()

readers = [connect(f'rd{i}', f'r{i}', False) for i in range(N)]
rss0 = rss_kib()
snd = connect('sender-dev', 'sender', True)
t0 = time.time()
buf = bytearray()
for k in range(M):
    p = bytearray(tmpl); p[at:at+8] = b'%08d' % k
    var = s16('conv/slow') + struct.pack('>H', (k % 60000) + 1)
    body = var + bytes(p)
    buf += bytes([0x32]) + vbi(len(body)) + body
snd.sendall(buf)
# wait for all PUBACKs
acks, data = 0, b''
snd.settimeout(60)
while acks < M:
    data += snd.recv(65536)
    while len(data) >= 4 and data[0] == 0x40:
        data = data[4:]; acks += 1
t1 = time.time()
peak = rss_kib()
time.sleep(2)
rss1 = rss_kib()
print(f'{N} readers not reading, {M} messages acked in {t1-t0:.1f}s; RSS before {rss0} KiB, '
      f'after ingest {peak} KiB, +2s {rss1} KiB, +{(rss1-rss0)/N:.0f} KiB per slow reader')

# Read again: parse PUBLISHes, PUBACK them, count chat messages per reader.
counts = [0] * N
pend = [b''] * N
for s in readers: s.setblocking(False)
deadline = time.time() + 120
while time.time() < deadline and min(counts) < M:
    for i, s in enumerate(readers):
        if counts[i] >= M: continue
        try:
            d = s.recv(1 << 20)
        except BlockingIOError:
            continue
        pend[i] += d
        b = pend[i]; out = b''
        while True:
            if len(b) < 2: break
            mult, n, j = 1, 0, 1
            while True:
                if j >= len(b): n = -1; break
                c = b[j]; n += (c & 127) * mult; mult *= 128; j += 1
                if not c & 128: break
            if n < 0 or len(b) < j + n: break
            typ = b[0] >> 4; qos = (b[0] >> 1) & 3; pkt = b[j:j+n]
            if typ == 3:
                tl = struct.unpack('>H', pkt[:2])[0]
                topic = pkt[2:2+tl]
                if qos:
                    pid_ = pkt[2+tl:4+tl]
                    out += b'\x40\x02' + pid_
                if topic == b'conv/slow': counts[i] += 1
            b = b[j+n:]
        pend[i] = b
        if out:
            s.setblocking(True); s.sendall(out); s.setblocking(False)
t2 = time.time()
print(f'caught up: min {min(counts)} max {max(counts)} of {M} per reader in {t2-t1:.1f}s; '
      f'RSS now {rss_kib()} KiB')
