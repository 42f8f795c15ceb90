// Väylä — small DOM helpers shared by the call pages (device.html, expert.html, interpreter.html): elements,
// icons, video tiles, remote audio and toggle buttons. No inline styles or scripts: the pages run under a strict CSP.

import { t } from './i18n.js';


export { h } from './dom.js';
import { h, svgIcon } from './dom.js';

/** Decorative 20×20 icons (`aria-hidden`): every control also says what it does in words. */
const ICONS = {
  mic: '<rect x="7" y="2.5" width="6" height="10" rx="3"/><path d="M4.5 9.5a5.5 5.5 0 0 0 11 0M10 15v2.5" fill="none" stroke="currentColor" stroke-width="1.6" stroke-linecap="round"/>',
  micOff:
    '<rect x="7" y="2.5" width="6" height="10" rx="3"/><path d="M4.5 9.5a5.5 5.5 0 0 0 11 0M10 15v2.5" fill="none" stroke="currentColor" stroke-width="1.6" stroke-linecap="round"/><path d="M3 3l14 14" stroke="currentColor" stroke-width="2.2" stroke-linecap="round"/>',
  camera: '<rect x="2" y="5" width="11" height="10" rx="2"/><path d="M13.5 9l4.5-3v8l-4.5-3z"/>',
  cameraOff:
    '<rect x="2" y="5" width="11" height="10" rx="2"/><path d="M13.5 9l4.5-3v8l-4.5-3z"/><path d="M2.5 2.5l15 15" stroke="currentColor" stroke-width="2.2" stroke-linecap="round"/>',
  document:
    '<path d="M5 2.5h7l3.5 3.5v11.5H5z" fill="none" stroke="currentColor" stroke-width="1.6" stroke-linejoin="round"/><path d="M7.5 9h5M7.5 12h5M7.5 15h3" stroke="currentColor" stroke-width="1.4" stroke-linecap="round"/>',
  documentOff:
    '<path d="M5 2.5h7l3.5 3.5v11.5H5z" fill="none" stroke="currentColor" stroke-width="1.6" stroke-linejoin="round"/><path d="M2.5 2.5l15 15" stroke="currentColor" stroke-width="2.2" stroke-linecap="round"/>',
  locked:
    '<rect x="4" y="9" width="12" height="8.5" rx="1.5"/><path d="M6.5 9V6.5a3.5 3.5 0 0 1 7 0V9" fill="none" stroke="currentColor" stroke-width="1.8"/>',
  unlocked:
    '<rect x="4" y="9" width="12" height="8.5" rx="1.5"/><path d="M6.5 9V6a3.5 3.5 0 0 1 6.8-1.2" fill="none" stroke="currentColor" stroke-width="1.8" stroke-linecap="round"/>',
  end: '<path d="M2.5 11.5c4.5-4 10.5-4 15 0l-2 2.5-3-1.5v-2a9 9 0 0 0-5 0v2l-3 1.5z"/>',
  leave:
    '<path d="M8 3.5H4.5v13H8M12 6.5l3.5 3.5-3.5 3.5M15.5 10H7.5" fill="none" stroke="currentColor" stroke-width="1.8" stroke-linecap="round" stroke-linejoin="round"/>',
  zoomIn:
    '<circle cx="8.5" cy="8.5" r="5.5" fill="none" stroke="currentColor" stroke-width="1.8"/><path d="M12.5 12.5l5 5M6 8.5h5M8.5 6v5" stroke="currentColor" stroke-width="1.8" stroke-linecap="round"/>',
  zoomOut:
    '<circle cx="8.5" cy="8.5" r="5.5" fill="none" stroke="currentColor" stroke-width="1.8"/><path d="M12.5 12.5l5 5M6 8.5h5" stroke="currentColor" stroke-width="1.8" stroke-linecap="round"/>',
  fit: '<path d="M3 7.5V3h4.5M12.5 3H17v4.5M17 12.5V17h-4.5M7.5 17H3v-4.5" fill="none" stroke="currentColor" stroke-width="1.8" stroke-linecap="round"/>',
  fullscreen:
    '<path d="M3 8V3h5M12 3h5v5M17 12v5h-5M8 17H3v-5" fill="none" stroke="currentColor" stroke-width="1.8" stroke-linecap="round"/>',
  still:
    '<path d="M3 6.5h3l1.5-2h5l1.5 2h3v10H3z" fill="none" stroke="currentColor" stroke-width="1.6" stroke-linejoin="round"/><circle cx="10" cy="11" r="3"/>',
  download:
    '<path d="M10 3v9.5M6 9l4 4 4-4M3.5 16.5h13" fill="none" stroke="currentColor" stroke-width="1.8" stroke-linecap="round" stroke-linejoin="round"/>',
  close: '<path d="M5 5l10 10M15 5L5 15" stroke="currentColor" stroke-width="2" stroke-linecap="round"/>',
  waiting:
    '<circle cx="4" cy="10" r="1.8"/><circle cx="10" cy="10" r="1.8"/><circle cx="16" cy="10" r="1.8"/>',
  connected:
    '<path d="M4 10.5l4 4 8-9" fill="none" stroke="currentColor" stroke-width="2.2" stroke-linecap="round" stroke-linejoin="round"/>',
  reconnecting:
    '<path d="M16 10a6 6 0 1 1-2-4.5M16 3.5v3.5h-3.5" fill="none" stroke="currentColor" stroke-width="1.8" stroke-linecap="round" stroke-linejoin="round"/>',
  info: '<circle cx="10" cy="10" r="7.5" fill="none" stroke="currentColor" stroke-width="1.6"/><path d="M10 9v5M10 6.2v.1" stroke="currentColor" stroke-width="2" stroke-linecap="round"/>',
  person:
    '<circle cx="10" cy="6.5" r="3.5"/><path d="M3 17.5c.5-4 3.3-6 7-6s6.5 2 7 6z"/>',
};

export function icon(name, className = 'icon') {
  return svgIcon(ICONS[name], 20, className);
}

/** Put an icon in front of a button's text (once). */
export function setButtonIcon(button, name) {
  const old = button.querySelector('svg.icon');
  const fresh = icon(name);
  if (old) old.replaceWith(fresh);
  else button.prepend(fresh);
}

/** A toggle button: `aria-pressed` and its icon follow `pressed`. */
export function setPressed(button, pressed, { on, off } = {}) {
  button.setAttribute('aria-pressed', String(pressed));
  if (on && off) setButtonIcon(button, pressed ? on : off);
}

/**
 * A button that turns a local source off and on again (mute, camera off, document off): pressed means off.
 * `track()` gives the source's current track (it may be reopened meanwhile, or missing); `changed(pressed,
 * track)` runs after the track is switched, for the page's own tile.
 */
export function bindSourceToggle(button, icons, track, changed = () => {}) {
  setPressed(button, false, icons);
  button.addEventListener('click', () => {
    const pressed = !isPressed(button);
    setPressed(button, pressed, icons);
    const current = track();
    if (current) current.enabled = !pressed;
    changed(pressed, current);
  });
}

/** Whether a toggle button is pressed (for a source toggle: whether the source is off). */
export function isPressed(button) {
  return button.getAttribute('aria-pressed') === 'true';
}

/** Show `el` only when `visible` (the `hidden` attribute: CSS `display` stays in the stylesheet). */
export function show(el, visible = true) {
  el.hidden = !visible;
}

/**
 * A video tile: a `<figure>` with a muted, autoplaying `<video>` (named by `label` for assistive technology), a
 * caption, and an overlay that says "waiting for video" until frames arrive or "video is off" when the track is
 * disabled. Returns `{ figure, video, setTrack, setLabel, setCaption, update }`.
 */
export function videoTile({ label, caption, className = '', mirror = false }) {
  const video = h('video', { class: `tile__video${mirror ? ' tile__video--mirror' : ''}`, 'aria-label': label, playsinline: true, autoplay: true });
  video.muted = true;
  const overlayText = h('span', { class: 'tile__overlay-text' });
  const overlay = h('div', { class: 'tile__overlay' }, icon('camera', 'icon icon--large'), overlayText);
  const captionText = h('span', { class: 'tile__caption-text' }, caption);
  const extra = h('span', { class: 'tile__caption-extra' });
  const figure = h('figure', { class: `tile ${className}` }, h('div', { class: 'tile__frame' }, video, overlay), h('figcaption', { class: 'tile__caption' }, captionText, extra));
  let track = null;
  let off = false;
  let frames = false;

  const update = () => {
    const waiting = !track || (!frames && !off);
    overlay.hidden = !(off || waiting);
    overlayText.textContent = off ? t('call.videoOff') : t('call.waitingVideo');
    figure.dataset.playing = String(Boolean(track) && frames && !off);
  };
  const onFrame = () => {
    frames = video.videoWidth > 0;
    update();
  };
  video.addEventListener('loadeddata', onFrame);
  video.addEventListener('resize', onFrame);
  video.addEventListener('playing', onFrame);

  return {
    figure,
    video,
    overlay,
    get track() {
      return track;
    },
    setTrack(next) {
      if (next === track) return;
      track = next;
      frames = false;
      video.srcObject = next ? new MediaStream([next]) : null;
      if (next) video.play().catch(() => {});
      update();
    },
    /** The local source is switched off (its track disabled). */
    setOff(value) {
      off = value;
      update();
    },
    setLabel(text) {
      video.setAttribute('aria-label', text);
    },
    setCaption(text, extraText = '') {
      captionText.textContent = text;
      extra.textContent = extraText;
    },
    update,
  };
}

/** Keep one hidden, autoplaying `<audio>` per remote audio track in `container`. */
export function syncAudio(container, tracks) {
  const wanted = new Map(tracks.filter((x) => x.kind === 'audio').map((x) => [x.track.id, x.track]));
  for (const el of [...container.querySelectorAll('audio')]) {
    if (!wanted.has(el.dataset.track)) {
      el.srcObject = null;
      el.remove();
    } else {
      wanted.delete(el.dataset.track);
    }
  }
  for (const [id, track] of wanted) {
    const el = h('audio', { autoplay: true, 'data-track': id });
    el.srcObject = new MediaStream([track]);
    container.append(el);
    el.play().catch(() => {});
  }
}

/** A tile registry keyed by `key`: `sync(list)` keeps, creates and removes tiles in order. */
export class Tiles {
  constructor(container, make) {
    this.container = container;
    this.make = make;
    this.tiles = new Map();
  }

  sync(items) {
    const keep = new Set();
    const ordered = [];
    for (const item of items) {
      keep.add(item.key);
      let tile = this.tiles.get(item.key);
      if (!tile) {
        tile = this.make(item);
        this.tiles.set(item.key, tile);
      }
      tile.item = item;
      tile.setTrack(item.track);
      ordered.push(tile.figure);
    }
    for (const [key, tile] of this.tiles) {
      if (!keep.has(key)) {
        tile.setTrack(null);
        tile.figure.remove();
        this.tiles.delete(key);
      }
    }
    // Re-append only when the order changed, so playing videos are not disturbed.
    const current = [...this.container.children].filter((c) => ordered.includes(c));
    if (current.length !== ordered.length || current.some((c, i) => c !== ordered[i])) {
      this.container.append(...ordered);
    }
    return [...this.tiles.values()];
  }
}

/** The localStorage value of `key`, or null when storage is unavailable. */
export function stored(key) {
  try {
    return localStorage.getItem(key);
  } catch {
    return null;
  }
}

export function store(key, value) {
  try {
    if (value === null || value === undefined) localStorage.removeItem(key);
    else localStorage.setItem(key, value);
  } catch {
    /* storage disabled */
  }
}
