// The Studio's timeline, run by gr.HTML as its js_on_load (given: element, trigger, props, watch).
// One lane per speaker (a wavesurfer.js channel each), every line a region at its slot over
// its waveform; the playhead follows the timeline's own player (the project's track) and the
// video under #studio-preview. What the user does here goes back to Python as events:
// 'click' {index} when a clip is chosen, 'edit' {action: retime|split|merge, ...} for an edit.
// wavesurfer.js is loaded from this app (props.library), never from a CDN.
const root = element.querySelector('.vs-tl');
const wave = root.querySelector('.vs-tl-wave');
const names = root.querySelector('.vs-tl-names');
const status = root.querySelector('.vs-tl-status');
const clock = root.querySelector('.vs-tl-time');
const LANE_H = 64;
const RULER_H = 20;
// Regions live in wavesurfer's shadow DOM, where the page's ::part() rules outrank inline styles
// (Gradio's audio player styles every ::part(region)): a clip's looks come from the part names
// set here (vs-done, vs-stale, vs-pending, vs-failed, vs-overrun, vs-selected) and studio.css.
const WAVES = ['#2563eb', '#9333ea', '#059669', '#d97706', '#db2777', '#0891b2', '#4d7c0f', '#b91c1c'];
const tl = {ws: null, regions: null, data: null, selected: null, zoom: null, audio: new Audio(),
            draws: 0, paintMs: null, paintedAt: null};
tl.audio.preload = 'metadata';
window.vsStudioTimeline = tl;

function say(text, kind) {
  status.textContent = text || '';
  root.dataset.status = kind || '';
}

function library() {
  if (window.WaveSurfer && window.WaveSurfer.Regions && window.WaveSurfer.Timeline) return Promise.resolve(true);
  if (!window.vsWaveSurferLoading) {
    const base = (props.library || 'voice-studio-static/wavesurfer') + '/';
    const load = (name) => new Promise((resolve, reject) => {
      const script = document.createElement('script');
      script.src = base + name;
      script.onload = resolve;
      script.onerror = () => reject(new Error(name));
      document.head.appendChild(script);
    });
    // The plugins attach themselves to window.WaveSurfer: the library first.
    window.vsWaveSurferLoading = load('wavesurfer.min.js')
      .then(() => Promise.all([load('regions.min.js'), load('timeline.min.js')]))
      .then(() => true, () => { window.vsWaveSurferLoading = null; return false; });
  }
  return window.vsWaveSurferLoading;
}

function peaks(text) {
  // Bytes 0-255, one per 1/rate s: drawn as +v and -v so the lane's waveform is symmetric.
  const bytes = atob(text || '');
  const out = new Float32Array(Math.max(2, bytes.length * 2));
  for (let i = 0; i < bytes.length; i++) {
    const v = bytes.charCodeAt(i) / 255;
    out[2 * i] = v;
    out[2 * i + 1] = -v;
  }
  return out;
}

function fmt(t) {
  const m = Math.floor(t / 60);
  return `${m}:${(t - 60 * m).toFixed(1).padStart(4, '0')}`;
}

function video() {
  return document.querySelector('#studio-preview video');
}

function clipAt(t) {
  const clips = (tl.data && tl.data.clips) || [];
  const hit = clips.find((c) => c.index === tl.selected && c.start <= t && t <= c.end)
    || clips.find((c) => c.start <= t && t <= c.end);
  return hit ? hit.index : tl.selected;
}

function mark(region) {
  const el = region.element;
  if (!el) return;
  const parts = ['region', region.id, `vs-${el.dataset.status}`];
  if (el.dataset.overrun === 'true') parts.push('vs-overrun');
  if (el.dataset.selected === 'true') parts.push('vs-selected');
  el.setAttribute('part', parts.join(' '));
}

function select(index) {
  tl.selected = index;
  for (const region of (tl.regions ? tl.regions.getRegions() : [])) {
    if (!region.element) continue;
    region.element.dataset.selected = region.id === `line-${index}` ? 'true' : 'false';
    mark(region);
  }
}

function teardown() {
  if (tl.ws) {
    tl.scroll = tl.ws.getScroll();
    tl.ws.destroy();
  }
  tl.ws = null;
  tl.regions = null;
}

function lanes(data) {
  names.innerHTML = '';
  const spacer = document.createElement('div');
  spacer.style.height = `${RULER_H}px`;
  names.appendChild(spacer);
  data.lanes.forEach((lane, i) => {
    const name = document.createElement('div');
    name.className = 'vs-tl-name';
    name.style.height = `${LANE_H}px`;
    name.style.borderLeftColor = WAVES[i % WAVES.length];
    name.textContent = lane.name;
    name.title = lane.voice ? `${lane.name}: ${lane.voice}` : lane.name;
    names.appendChild(name);
  });
}

function addClips(data) {
  for (const clip of data.clips) {
    const label = document.createElement('span');
    label.textContent = clip.label;
    const region = tl.regions.addRegion({
      id: `line-${clip.index}`, start: clip.start, end: Math.max(clip.end, clip.start + 0.05),
      channelIdx: clip.lane, drag: false, resize: !!clip.editable,
      content: label, minLength: 0.1,
    });
    if (!region.element) continue;
    region.element.style.top = `${clip.lane * LANE_H + 1}px`;   // its lane (the height is in studio.css)
    region.element.dataset.index = clip.index;
    region.element.dataset.status = clip.status;
    region.element.dataset.overrun = clip.overrun ? 'true' : 'false';
    region.element.dataset.selected = 'false';
    mark(region);
    region.element.title = `line ${clip.index}: ${clip.status}${clip.overrun ? ', overruns its slot' : ''}`
      + (clip.take ? ` (take ${clip.take})` : '');
  }
}

function draw(data) {
  const started = performance.now();
  teardown();
  if (!data || !tl.data || data.project_id !== tl.data.project_id) {   // another project: start afresh
    tl.selected = null;
    tl.zoom = null;
    tl.scroll = 0;
  }
  tl.data = data;
  if (!data || !data.lanes || !data.lanes.length) {
    names.innerHTML = '';
    root.dataset.state = 'empty';
    say('');
    return;
  }
  root.dataset.state = 'loading';
  library().then((ok) => {
    if (!ok || data.available === false) {
      root.dataset.state = 'missing';
      say(data.hint || props.hint, 'missing');
      return;
    }
    if (tl.data !== data) return;   // a newer value came meanwhile
    say('');
    const url = data.track_url ? new URL(data.track_url, document.baseURI).href : '';
    if (url && tl.audio.src !== url) tl.audio.src = url;
    lanes(data);
    const minPx = tl.zoom != null ? tl.zoom : (data.duration > 90 ? 12 : 0);
    const ws = window.WaveSurfer.create({
      container: wave, height: LANE_H, media: tl.audio, url: url || undefined, duration: data.duration,
      peaks: data.lanes.map((lane) => peaks(lane.peaks)), normalize: true, minPxPerSec: minPx, fillParent: true,
      autoScroll: true, autoCenter: false, cursorColor: '#dc2626', cursorWidth: 2, dragToSeek: false,
      splitChannels: data.lanes.map((_, i) => ({waveColor: WAVES[i % WAVES.length],
                                               progressColor: WAVES[i % WAVES.length]})),
      plugins: [window.WaveSurfer.Timeline.create({height: RULER_H, insertPosition: 'beforebegin'})],
    });
    tl.ws = ws;
    tl.regions = ws.registerPlugin(window.WaveSurfer.Regions.create());
    // Regions need the duration and the lanes (channels) first: they are placed once those are known;
    // the timeline counts as painted two frames later (the browser has drawn lanes and clips).
    ws.once('ready', () => {
      addClips(data);
      requestAnimationFrame(() => requestAnimationFrame(() => {
        tl.draws += 1;
        tl.paintMs = performance.now() - started;
        tl.paintedAt = performance.now();
        root.dataset.state = 'ready';
        root.dataset.paintMs = tl.paintMs.toFixed(0);
        if (tl.scroll) ws.setScroll(tl.scroll);
        if (tl.selected != null) select(tl.selected);
      }));
    });
    ws.on('timeupdate', (t) => { clock.textContent = fmt(t); });
    ws.on('interaction', (t) => {   // a click on the ruler or a lane parks the playhead there
      if (ws.isPlaying()) ws.pause();
      const v = video();
      if (v) v.currentTime = t;
    });
    tl.regions.on('region-clicked', (region, event) => {
      event.stopPropagation();
      const index = Number(region.id.slice(5));
      select(index);
      const v = video();
      if (v) { v.pause(); v.currentTime = region.start; }
      if (url) region.play(true);
      trigger('click', {index});
    });
    tl.regions.on('region-updated', (region) => {
      const index = Number(region.id.slice(5));
      select(index);
      if (region.element) region.element.dataset.status = 'stale';
      mark(region);
      trigger('edit', {action: 'retime', index, start: +region.start.toFixed(3), end: +region.end.toFixed(3)});
    });
  });
}

function zoomBy(factor) {
  if (!tl.ws) return;
  const fit = wave.clientWidth / Math.max(1, tl.data.duration);
  const now = tl.zoom || Math.max(fit, tl.ws.options.minPxPerSec || 0);
  tl.zoom = Math.min(400, Math.max(fit, now * factor));
  tl.ws.zoom(tl.zoom);
}

root.querySelector('.vs-tl-play').addEventListener('click', () => {
  if (!tl.ws) return;
  const v = video();
  if (v && !v.paused) v.pause();
  tl.ws.playPause().catch(() => say('Nothing to play yet: render the lines first.', 'note'));
});
root.querySelector('.vs-tl-zoom-in').addEventListener('click', () => zoomBy(1.6));
root.querySelector('.vs-tl-zoom-out').addEventListener('click', () => zoomBy(1 / 1.6));
root.querySelector('.vs-tl-fit').addEventListener('click', () => {
  if (!tl.ws) return;
  tl.zoom = wave.clientWidth / Math.max(1, tl.data.duration);
  tl.ws.zoom(tl.zoom);
});
root.querySelector('.vs-tl-split').addEventListener('click', () => {
  if (!tl.ws) return;
  const at = +tl.ws.getCurrentTime().toFixed(3);
  const index = clipAt(at);
  if (index == null) { say('Click the line to split, then put the playhead inside it.', 'note'); return; }
  trigger('edit', {action: 'split', index, at});
});
root.querySelector('.vs-tl-merge').addEventListener('click', () => {
  if (tl.selected == null) { say('Click the first of the two lines to merge.', 'note'); return; }
  trigger('edit', {action: 'merge', index: tl.selected});
});

// The video and the timeline share one playhead: the video leads while it plays, the
// timeline's player stops when the video starts (and the other way round).
if (!window.vsStudioTimelineLinked) {
  window.vsStudioTimelineLinked = true;
  const follow = (event) => {
    const t = window.vsStudioTimeline;
    if (!t || !t.ws || !event.target.closest || !event.target.closest('#studio-preview')) return;
    if (event.type === 'play' && !t.audio.paused) t.audio.pause();
    if (t.audio.paused) t.ws.setTime(event.target.currentTime);
  };
  ['play', 'timeupdate', 'seeked'].forEach((type) => document.addEventListener(type, follow, true));
}
tl.audio.addEventListener('play', () => {
  const v = video();
  if (v && !v.paused) v.pause();
});

watch('value', () => draw(props.value));
draw(props.value);
