// Väylä — strings in Finnish (default), Swedish and English, shared by every page.
//
// A page registers its own strings with `registerStrings({ fi: {...}, sv: {...}, en: {...} })`, marks static
// text in its HTML with `data-i18n="key"` (text) or `data-i18n-attr="attr:key;attr2:key2"` (attributes), calls
// `initI18n()` once, and re-renders its dynamic parts in `onLanguageChange(callback)`.
// The choice is remembered in localStorage and can be forced with `?lang=sv` in the address.

export const LANGUAGES = [
  { code: 'fi', name: 'Suomi', locale: 'fi-FI' },
  { code: 'sv', name: 'Svenska', locale: 'sv-FI' },
  { code: 'en', name: 'English', locale: 'en-GB' },
];
export const DEFAULT_LANGUAGE = 'fi';
const STORAGE_KEY = 'vayla.lang';

/** Strings common to all pages: product, chrome, roles and room states. */
const strings = {
  fi: {
    'app.name': 'Väylä',
    'app.tagline': 'Etäpalvelun virtuaalihuoneet',
    'app.footer': 'Väylä — etäpalvelun virtuaalihuoneet',
    'app.skip': 'Siirry pääsisältöön',
    'app.noscript': 'Tämä sivu tarvitsee toimiakseen JavaScriptin.',
    'lang.label': 'Kieli',
    'role.device': 'laite',
    'role.advisor': 'neuvoja',
    'role.expert': 'asiantuntija',
    'role.interpreter': 'tulkki',
    'role.scheduler': 'ajanvaraaja',
    'role.admin': 'ylläpitäjä',
    'state.idle': 'Vapaa',
    'state.gathering': 'Odottaa osallistujia',
    'state.locked': 'Lukittu',
    'state.unlocked': 'Avattu',
    'nav.label': 'Sivut',
    'nav.rooms': 'Virtuaalihuoneet',
    'nav.device': 'Palvelupisteen laite',
    'nav.expert': 'Asiantuntija',
    'nav.scheduler': 'Ajanvaraus',
    'nav.interpreter': 'Tulkki',
    'nav.reports': 'Raportit',
    'call.signLanguage': 'Viittomakielen tulkkaus',
    'call.mute': 'Mykistä mikrofoni',
    'call.cameraOff': 'Kamera pois',
    'call.documentOff': 'Dokumenttikamera pois',
    'call.controls': 'Puhelun toiminnot',
    'call.waitingVideo': 'Odotetaan kuvaa…',
    'call.videoOff': 'Kuva ei ole päällä',
    'call.micMuted': 'Mikrofoni mykistetty',
    'call.connecting': 'Yhdistetään…',
    'call.reconnecting': 'Yhteys katkesi. Yhdistetään uudelleen automaattisesti…',
    'call.replaced': 'Tämä huone avattiin toisessa ikkunassa tai laitteessa, joten tämä ikkuna irrotettiin.',
    'call.noMedia': 'Kameraa tai mikrofonia ei saatu käyttöön ({reason}).',
  },
  sv: {
    'app.name': 'Väylä',
    'app.tagline': 'Virtuella rum för distansservice',
    'app.footer': 'Väylä — virtuella rum för distansservice',
    'app.skip': 'Hoppa till huvudinnehållet',
    'app.noscript': 'Den här sidan behöver JavaScript för att fungera.',
    'lang.label': 'Språk',
    'role.device': 'enhet',
    'role.advisor': 'rådgivare',
    'role.expert': 'expert',
    'role.interpreter': 'tolk',
    'role.scheduler': 'tidsbokare',
    'role.admin': 'administratör',
    'state.idle': 'Ledig',
    'state.gathering': 'Väntar på deltagare',
    'state.locked': 'Låst',
    'state.unlocked': 'Upplåst',
    'nav.label': 'Sidor',
    'nav.rooms': 'Virtuella rum',
    'nav.device': 'Serviceställets enhet',
    'nav.expert': 'Expert',
    'nav.scheduler': 'Tidsbokning',
    'nav.interpreter': 'Tolk',
    'nav.reports': 'Rapporter',
    'call.signLanguage': 'Teckenspråkstolkning',
    'call.mute': 'Stäng av mikrofonen',
    'call.cameraOff': 'Stäng av kameran',
    'call.documentOff': 'Stäng av dokumentkameran',
    'call.controls': 'Samtalets funktioner',
    'call.waitingVideo': 'Väntar på bild…',
    'call.videoOff': 'Bilden är avstängd',
    'call.micMuted': 'Mikrofonen är avstängd',
    'call.connecting': 'Ansluter…',
    'call.reconnecting': 'Anslutningen bröts. Vi ansluter igen automatiskt…',
    'call.replaced': 'Rummet öppnades i ett annat fönster eller på en annan enhet, så det här fönstret kopplades bort.',
    'call.noMedia': 'Kameran eller mikrofonen kunde inte användas ({reason}).',
  },
  en: {
    'app.name': 'Väylä',
    'app.tagline': 'Virtual rooms for remote service',
    'app.footer': 'Väylä — virtual rooms for remote service',
    'app.skip': 'Skip to main content',
    'app.noscript': 'This page needs JavaScript to work.',
    'lang.label': 'Language',
    'role.device': 'device',
    'role.advisor': 'advisor',
    'role.expert': 'expert',
    'role.interpreter': 'interpreter',
    'role.scheduler': 'scheduler',
    'role.admin': 'administrator',
    'state.idle': 'Idle',
    'state.gathering': 'Gathering',
    'state.locked': 'Locked',
    'state.unlocked': 'Unlocked',
    'nav.label': 'Pages',
    'nav.rooms': 'Virtual rooms',
    'nav.device': 'Service-point device',
    'nav.expert': 'Expert',
    'nav.scheduler': 'Appointments',
    'nav.interpreter': 'Interpreter',
    'nav.reports': 'Reports',
    'call.signLanguage': 'Sign-language interpreting',
    'call.mute': 'Mute microphone',
    'call.cameraOff': 'Turn camera off',
    'call.documentOff': 'Turn document camera off',
    'call.controls': 'Call controls',
    'call.waitingVideo': 'Waiting for video…',
    'call.videoOff': 'Video is off',
    'call.micMuted': 'Microphone muted',
    'call.connecting': 'Connecting…',
    'call.reconnecting': 'The connection was lost. Reconnecting automatically…',
    'call.replaced': 'This room was opened in another window or on another device, so this window was disconnected.',
    'call.noMedia': 'The camera or microphone could not be used ({reason}).',
  },
};

let current = DEFAULT_LANGUAGE;
const listeners = new Set();

/** Add a page's strings. Later registrations override earlier ones key by key. */
export function registerStrings(dict) {
  for (const [lang, entries] of Object.entries(dict)) {
    strings[lang] = { ...(strings[lang] ?? {}), ...entries };
  }
}

export function isSupported(lang) {
  return LANGUAGES.some((l) => l.code === lang);
}

export function getLanguage() {
  return current;
}

/** The BCP 47 locale used for numbers, dates and plural rules of the current language. */
export function getLocale(lang = current) {
  return LANGUAGES.find((l) => l.code === lang)?.locale ?? 'fi-FI';
}

/**
 * Translate `key`, filling `{name}` placeholders from `params`. A string may be an object of plural forms
 * (`{ one: '…', other: '…' }`) chosen by `params.n`. A missing key falls back to Finnish, then to the key.
 */
export function t(key, params = {}) {
  let s = strings[current]?.[key] ?? strings[DEFAULT_LANGUAGE]?.[key] ?? key;
  if (typeof s === 'object') {
    const form = new Intl.PluralRules(getLocale()).select(Number(params.n ?? 0));
    s = s[form] ?? s.other;
  }
  return s.replace(/\{(\w+)\}/g, (m, name) => (name in params ? String(params[name]) : m));
}

/** "asiantuntija" → "Asiantuntija"; unknown roles are shown as they are. */
export function roleLabel(role, { capitalize = true } = {}) {
  const label = strings[current]?.[`role.${role}`] ?? strings[DEFAULT_LANGUAGE]?.[`role.${role}`] ?? role;
  return capitalize ? label.charAt(0).toLocaleUpperCase(getLocale()) + label.slice(1) : label;
}

export function stateLabel(state) {
  return t(`state.${state}`);
}

/** Clock time (hours, minutes and optionally seconds) in the current language's format. */
export function formatTime(ms, { seconds = false } = {}) {
  const options = { hour: '2-digit', minute: '2-digit' };
  if (seconds) options.second = '2-digit';
  return new Intl.DateTimeFormat(getLocale(), options).format(new Date(ms));
}

/** Fill `[data-i18n]` text and `[data-i18n-attr]` attributes under `root`. */
export function applyTranslations(root = document) {
  for (const el of root.querySelectorAll('[data-i18n]')) {
    el.textContent = t(el.dataset.i18n);
  }
  for (const el of root.querySelectorAll('[data-i18n-attr]')) {
    for (const pair of el.dataset.i18nAttr.split(';')) {
      const [attr, key] = pair.split(':').map((s) => s.trim());
      if (attr && key) el.setAttribute(attr, t(key));
    }
  }
}

/** Call `callback(lang)` after every language change. Returns a function that removes it. */
export function onLanguageChange(callback) {
  listeners.add(callback);
  return () => listeners.delete(callback);
}

function readStored() {
  try {
    return localStorage.getItem(STORAGE_KEY);
  } catch {
    return null; // storage disabled: the choice lasts for this page only
  }
}

function store(lang) {
  try {
    localStorage.setItem(STORAGE_KEY, lang);
  } catch {
    /* storage disabled */
  }
}

/** Switch language: `<html lang>`, static texts, the switcher's state, then the page's listeners. */
export function setLanguage(lang, { remember = true } = {}) {
  if (!isSupported(lang)) return;
  current = lang;
  document.documentElement.lang = lang;
  if (remember) store(lang);
  applyTranslations();
  for (const button of document.querySelectorAll('[data-set-lang]')) {
    button.setAttribute('aria-pressed', String(button.dataset.setLang === lang));
  }
  for (const callback of listeners) callback(lang);
}

/**
 * Fill `container` with one button per language, each named in its own language (with a matching `lang`),
 * and an accessible group name in the current language.
 */
export function mountLanguageSwitcher(container) {
  container.setAttribute('role', 'group');
  container.setAttribute('data-i18n-attr', 'aria-label:lang.label');
  container.replaceChildren(
    ...LANGUAGES.map(({ code, name }) => {
      const button = document.createElement('button');
      button.type = 'button';
      button.className = 'lang-button';
      button.lang = code;
      button.dataset.setLang = code;
      button.textContent = name;
      button.setAttribute('aria-pressed', String(code === current));
      button.addEventListener('click', () => setLanguage(code));
      return button;
    }),
  );
}

/** Pick the language (address `?lang=`, then the remembered choice, then Finnish) and apply it. */
export function initI18n({ switcher } = {}) {
  const fromUrl = new URLSearchParams(location.search).get('lang');
  const stored = readStored();
  const lang = isSupported(fromUrl) ? fromUrl : isSupported(stored) ? stored : DEFAULT_LANGUAGE;
  if (switcher) mountLanguageSwitcher(switcher);
  setLanguage(lang, { remember: isSupported(fromUrl) });
}
