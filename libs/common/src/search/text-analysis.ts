/**
 * English text analysis shared by the knowledge service (choosing the matching chunk, highlighting)
 * and the MongoDB-compatible dev server (its `$text` index): the same case/diacritic folding,
 * stop words and stemming on both sides, modelled on mongod's text index version 3.
 */

// A subset of mongod's English stop-word list (src/mongo/db/fts/stop_words_english.txt).
export const STOP_WORDS = new Set(
  (
    'a about above after again against all am an and any are as at be because been before being below between both but by ' +
    'can cannot could did do does doing down during each few for from further had has have having he her here hers herself ' +
    'him himself his how i if in into is it its itself just me more most my myself no nor not now of off on once only or ' +
    'other ought our ours ourselves out over own same she should so some such than that the their theirs them themselves ' +
    'then there these they this those through to too under until up very was we were what when where which while who whom ' +
    'why will with would you your yours yourself yourselves'
  ).split(' '),
);

/** Lower case, without diacritics (mongod's text index v3 is case and diacritic insensitive). */
export function fold(text: string): string {
  // ASCII has nothing to decompose: skip the (comparatively slow) normalisation.
  if (!/[^\p{ASCII}]/u.test(text)) return text.toLowerCase();
  return text
    .normalize('NFD')
    .replace(/\p{M}+/gu, '')
    .toLowerCase();
}

/** Words as mongod's tokenizer sees them: runs of letters and digits. */
export function tokenize(text: string): string[] {
  return fold(text).match(/[\p{L}\p{N}]+/gu) ?? [];
}

const VOWEL = /[aeiouy]/;

function measureRegion(word: string): number {
  // Start of the Porter R1 region: after the first non-vowel following a vowel.
  for (let i = 1; i < word.length; i++) if (!VOWEL.test(word[i] ?? '') && VOWEL.test(word[i - 1] ?? '')) return i + 1;
  return word.length;
}

const STEP2: [string, string][] = [
  ['ational', 'ate'],
  ['tional', 'tion'],
  ['enci', 'ence'],
  ['anci', 'ance'],
  ['izer', 'ize'],
  ['ization', 'ize'],
  ['ation', 'ate'],
  ['ator', 'ate'],
  ['alism', 'al'],
  ['iveness', 'ive'],
  ['fulness', 'ful'],
  ['ousness', 'ous'],
  ['aliti', 'al'],
  ['iviti', 'ive'],
  ['biliti', 'ble'],
  ['entli', 'ent'],
  ['ousli', 'ous'],
  ['fulli', 'ful'],
  ['lessli', 'less'],
  ['icate', 'ic'],
  ['alize', 'al'],
  ['iciti', 'ic'],
  ['ical', 'ic'],
  ['ful', ''],
  ['ness', ''],
];
const STEP4 = ['ement', 'ment', 'ance', 'ence', 'able', 'ible', 'ant', 'ent', 'ism', 'ate', 'iti', 'ous', 'ive', 'ize', 'al', 'er', 'ic'];

/**
 * A compact English stemmer in the spirit of Snowball's Porter2 (what mongod uses): plural and
 * tense endings, then the common derivational suffixes inside the R1 region. Queries and
 * documents go through the same function, so the words "servers", "server" and "serving" meet.
 */
const stems = new Map<string, string>();
const STEM_CACHE_SIZE = 100_000;

/** {@link stemWord}, memoised: text has few distinct words, and stemming each occurrence dominated indexing time. */
export function stem(word: string): string {
  let stemmed = stems.get(word);
  if (stemmed === undefined) {
    if (stems.size >= STEM_CACHE_SIZE) stems.clear();
    stems.set(word, (stemmed = stemWord(word)));
  }
  return stemmed;
}

function stemWord(word: string): string {
  if (word.length <= 2 || /\d/.test(word)) return word;
  let w = word;
  if (w.endsWith('sses')) w = w.slice(0, -2);
  else if (w.endsWith('ies')) w = w.length > 4 ? w.slice(0, -2) : w.slice(0, -1);
  else if (w.endsWith('s') && !w.endsWith('ss') && !w.endsWith('us') && VOWEL.test(w.slice(0, -2))) w = w.slice(0, -1);
  if (w.endsWith('eed')) {
    if (w.length - 3 >= measureRegion(w)) w = w.slice(0, -1);
  } else {
    for (const suffix of ['ingly', 'edly', 'ing', 'ed']) {
      if (!w.endsWith(suffix)) continue;
      const base = w.slice(0, -suffix.length);
      if (!VOWEL.test(base)) break;
      w = base;
      if (/(at|bl|iz)$/.test(w)) w += 'e';
      else if (/([^aeiouwxy])\1$/.test(w) && !/(ll|ss|zz)$/.test(w)) w = w.slice(0, -1);
      break;
    }
  }
  if (/[^aeiou]y$/.test(w) && w.length > 2) w = w.slice(0, -1) + 'i';
  const r1 = measureRegion(w);
  for (const [suffix, replacement] of STEP2) {
    if (w.endsWith(suffix) && w.length - suffix.length >= r1) {
      w = w.slice(0, -suffix.length) + replacement;
      break;
    }
  }
  const r2 = measureRegion(w.slice(r1)) + r1;
  for (const suffix of STEP4) {
    if (w.endsWith(suffix) && w.length - suffix.length >= r2) {
      w = w.slice(0, -suffix.length);
      break;
    }
  }
  if (w.endsWith('e') && w.length - 1 >= r2) w = w.slice(0, -1);
  return w;
}

/** Stemmed, stop-word-free terms of a text. */
export function terms(text: string): string[] {
  return tokenize(text)
    .filter((t) => !STOP_WORDS.has(t))
    .map(stem);
}

/** Each word of a text with its offsets and stemmed term (undefined for stop words). */
export function tokenSpans(text: string): { start: number; end: number; term?: string }[] {
  const spans: { start: number; end: number; term?: string }[] = [];
  for (const match of text.matchAll(/[\p{L}\p{N}\p{M}]+/gu)) {
    const word = fold(match[0]);
    spans.push({ start: match.index, end: match.index + match[0].length, term: STOP_WORDS.has(word) ? undefined : stem(word) });
  }
  return spans;
}
