// framecast's page. Every second it reads /api/v1/streams and updates one
// section per stream. Each section plays a WebRTC preview of its stream,
// negotiated WHEP-style: one POST of the SDP offer, the answer back; the
// preview is the stream's own H.264, not a second encode. Where WebRTC is
// not available (or the server has no preview slot left) and the browser
// plays HLS itself (Safari), the section plays the stream's HLS playlist
// instead: the same H.264, a second or so later.
'use strict';

const list = document.getElementById('streams');
const empty = document.getElementById('empty');
const offline = document.getElementById('offline');
const template = document.getElementById('stream');
const shown = new Map(); // path → {el, video, whep, hls, pc, location, timer}

const RETRY_MS = 2000;
const REFRESH_MS = 1000;

async function refresh() {
  let data;
  try {
    const r = await fetch('/api/v1/streams', {cache: 'no-store'});
    data = await r.json();
    offline.hidden = true;
  } catch (err) {
    offline.hidden = false;
    return;
  }
  const seen = new Set();
  for (const s of data.streams) {
    seen.add(s.path);
    update(shown.get(s.path) || add(s), s);
  }
  for (const [path, e] of shown) {
    if (!seen.has(path)) {
      stop(e);
      e.el.remove();
      shown.delete(path);
    }
  }
  empty.hidden = data.streams.length > 0;
}

function add(s) {
  const el = template.content.firstElementChild.cloneNode(true);
  el.dataset.path = s.path;
  el.querySelector('.path').textContent = s.path;
  // Paths are letters, digits, "._~-" and slashes: nothing to escape.
  const hls = s.path + '/index.m3u8';
  const e = {el, video: el.querySelector('video'), whep: s.whep_url, hls, pc: null, location: null, timer: null};
  el.querySelector('.hls').href = hls;
  const url = el.querySelector('.url');
  el.querySelector('.copy').addEventListener('click', () => {
    url.select();
    if (navigator.clipboard) navigator.clipboard.writeText(url.value).catch(() => document.execCommand('copy'));
    else document.execCommand('copy');
  });
  // Keep the sections sorted by path, as the API lists them.
  const next = [...list.querySelectorAll('.stream')].find(x => x.dataset.path > s.path);
  list.insertBefore(el, next || null);
  shown.set(s.path, e);
  if (!document.hidden) start(e);
  return e;
}

function update(e, s) {
  const q = sel => e.el.querySelector(sel);
  q('.url').value = s.rtsp_url;
  q('.snapshot').href = s.snapshot_url;
  const p = s.producer, enc = s.encoder;
  q('.producer').textContent = p.connected ? p.address : 'none (viewers get the last frame again)';
  q('.format').textContent = `${p.pixel_format} ${p.width}×${p.height}, ${p.fps} fps nominal, ${p.fps_in} fps in`;
  const rate = enc.bitrate_kbps ? `${enc.bitrate_kbps} kbit/s target` : `CRF ${enc.crf}`;
  q('.encoder').textContent = `${rate}, ${enc.kbps_out} kbit/s now, ${enc.fps_out} fps out, ` +
    `${enc.dropped} dropped · ${enc.preset}/${enc.tune}/${enc.profile}, GOP ${enc.gop}`;
  const rows = s.viewers.map(v => {
    const tr = document.createElement('tr');
    for (const [text, cls] of [[v.address], [v.transport], [ago(v.since)], [bytes(v.bytes), 'num']]) {
      const td = document.createElement('td');
      td.textContent = text;
      if (cls) td.className = cls;
      tr.append(td);
    }
    return tr;
  });
  q('.viewers').replaceChildren(...rows);
}

function ago(t) {
  const s = Math.max(0, Math.round((Date.now() - Date.parse(t)) / 1000));
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min ${s % 60} s`;
  return `${Math.floor(s / 3600)} h ${Math.floor(s % 3600 / 60)} min`;
}

function bytes(n) {
  if (n < 1e3) return `${n} B`;
  if (n < 1e6) return `${(n / 1e3).toFixed(1)} kB`;
  if (n < 1e9) return `${(n / 1e6).toFixed(1)} MB`;
  return `${(n / 1e9).toFixed(2)} GB`;
}

// canPlayHLS says whether the browser plays HLS in a <video> by itself.
function canPlayHLS(video) {
  return video.canPlayType('application/vnd.apple.mpegurl') !== '';
}

// startHLS plays the stream's HLS playlist, for browsers without WebRTC.
function startHLS(e, why) {
  stop(e);
  const caption = e.el.querySelector('.preview');
  if (!canPlayHLS(e.video)) {
    caption.textContent = `no preview: ${why}; open the HLS link in a player`;
    return;
  }
  e.video.srcObject = null;
  e.video.src = e.hls;
  e.video.play().catch(() => {});
  caption.textContent = 'live (HLS)';
}

async function start(e) {
  stop(e);
  const caption = e.el.querySelector('.preview');
  if (typeof RTCPeerConnection === 'undefined') {
    startHLS(e, 'this browser has no WebRTC');
    return;
  }
  const pc = new RTCPeerConnection();
  e.pc = pc;
  const tr = pc.addTransceiver('video', {direction: 'recvonly'});
  pc.ontrack = ev => { e.video.srcObject = new MediaStream([ev.track]); };
  pc.onconnectionstatechange = () => {
    if (e.pc !== pc) return;
    caption.textContent = pc.connectionState === 'connected' ? 'live preview (WebRTC)' : pc.connectionState + '…';
    if (pc.connectionState === 'failed' || pc.connectionState === 'closed') retry(e);
  };
  try {
    await pc.setLocalDescription(await pc.createOffer());
    // No trickle ICE: the server answers with all its candidates, and
    // learns the browser's address from its connectivity checks.
    const r = await fetch(e.whep, {method: 'POST', headers: {'Content-Type': 'application/sdp'}, body: pc.localDescription.sdp});
    if (r.status !== 201) throw new Error(`${r.status} ${(await r.text()).trim()}`);
    if (e.pc !== pc) return;
    e.location = r.headers.get('Location');
    await pc.setRemoteDescription({type: 'answer', sdp: await r.text()});
    // Show each frame as soon as it is decoded: on a LAN the network needs
    // no jitter buffer, and a preview is for watching live.
    if ('jitterBufferTarget' in tr.receiver) tr.receiver.jitterBufferTarget = 0;
  } catch (err) {
    if (e.pc !== pc) return;
    if (canPlayHLS(e.video)) {
      startHLS(e, err.message);
      return;
    }
    caption.textContent = `no preview: ${err.message}`;
    retry(e);
  }
}

function stop(e) {
  clearTimeout(e.timer);
  if (e.video.getAttribute('src')) {
    // Stop the HLS downloads: the server closes an unwatched session.
    e.video.removeAttribute('src');
    e.video.load();
  }
  if (e.pc) e.pc.close();
  e.pc = null;
  if (e.location) fetch(e.location, {method: 'DELETE', keepalive: true}).catch(() => {});
  e.location = null;
}

function retry(e) {
  stop(e);
  e.timer = setTimeout(() => { if (shown.has(e.el.dataset.path) && !document.hidden) start(e); }, RETRY_MS);
}

// A hidden tab stops its previews, so that it keeps no stream encoding.
document.addEventListener('visibilitychange', () => {
  for (const e of shown.values()) document.hidden ? stop(e) : start(e);
});
window.addEventListener('pagehide', () => { for (const e of shown.values()) stop(e); });

(async function loop() {
  await refresh();
  setTimeout(loop, REFRESH_MS);
})();
