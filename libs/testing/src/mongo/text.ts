// Relative, not '#common': the dev server loads only what it needs (no Nest, no drivers).
import { fold, terms } from '../../../common/src/search/text-analysis';

/**
 * MongoDB-style text search: tokenising, English stop words, stemming and the scoring formula of
 * MongoDB's text index (version 3), so `$text` ranks documents the way mongod does closely enough
 * that the knowledge service's relevance tests mean the same thing here and against a real server.
 */

export interface TextIndexSpec {
  /** Field path → weight. */
  weights: Map<string, number>;
  /** Whether every string field is indexed (`$**`). */
  wildcard: boolean;
}

function stringsAt(value: unknown, path: string[]): string[] {
  if (value === null || value === undefined) return [];
  if (Array.isArray(value)) return value.flatMap((v) => stringsAt(v, path));
  if (path.length === 0) return typeof value === 'string' ? [value] : [];
  if (typeof value !== 'object') return [];
  return stringsAt((value as Record<string, unknown>)[path[0] ?? ''], path.slice(1));
}

function allStrings(value: unknown, prefix: string, out: [string, string][]): void {
  if (typeof value === 'string') out.push([prefix, value]);
  else if (Array.isArray(value)) value.forEach((v) => allStrings(v, prefix, out));
  else if (value && typeof value === 'object' && value.constructor === Object)
    for (const [k, v] of Object.entries(value)) allStrings(v, prefix ? `${prefix}.${k}` : k, out);
}

/**
 * Term → score of a document for a text index, with mongod's formula (fts_spec.cpp, scoreDocument):
 * repeated occurrences add with halving weight, scaled by how much of the field the term covers.
 */
export function scoreDocument(spec: TextIndexSpec, doc: Record<string, unknown>): Map<string, number> {
  const scores = new Map<string, number>();
  const fields: [string, string][] = [];
  if (spec.wildcard) allStrings(doc, '', fields);
  else for (const path of spec.weights.keys()) for (const s of stringsAt(doc, path.split('.'))) fields.push([path, s]);
  for (const [path, text] of fields) {
    const weight = spec.weights.get(path) ?? 1;
    const seen = new Map<string, { count: number; freq: number; exp: number }>();
    let tokens = 0;
    for (const term of terms(text)) {
      const data = seen.get(term) ?? { count: 0, freq: 0, exp: 0 };
      data.exp = data.exp === 0 ? 1 : data.exp * 2;
      data.count += 1;
      data.freq += 1 / data.exp;
      seen.set(term, data);
      tokens++;
    }
    for (const [term, data] of seen) {
      const coefficient = (0.5 * data.count) / tokens + 0.5;
      scores.set(term, (scores.get(term) ?? 0) + weight * data.freq * coefficient);
    }
  }
  return scores;
}

export interface TextQuery {
  terms: string[];
  negated: string[];
  phrases: string[];
  negatedPhrases: string[];
}

/** Parses a `$search` string: words (any may match), "phrases" (all must match), -negations. */
export function parseSearch(search: string): TextQuery {
  const query: TextQuery = { terms: [], negated: [], phrases: [], negatedPhrases: [] };
  const phrase = /(-?)"([^"]*)"/g;
  for (const match of search.matchAll(phrase)) {
    const text = match[2] ?? '';
    (match[1] ? query.negatedPhrases : query.phrases).push(fold(text));
    if (!match[1]) query.terms.push(...terms(text));
  }
  for (const raw of search.replace(phrase, ' ').split(/\s+/)) {
    if (!raw) continue;
    const negated = raw.startsWith('-');
    const words = terms(negated ? raw.slice(1) : raw);
    (negated ? query.negated : query.terms).push(...words);
  }
  query.terms = [...new Set(query.terms)];
  return query;
}

/** The document's textScore for the query, or undefined when it does not match. */
export function matchText(
  spec: TextIndexSpec,
  doc: Record<string, unknown>,
  query: TextQuery,
  scores = scoreDocument(spec, doc),
): number | undefined {
  if (query.negated.some((t) => scores.has(t))) return undefined;
  if (query.phrases.length > 0 || query.negatedPhrases.length > 0) {
    const texts: [string, string][] = [];
    if (spec.wildcard) allStrings(doc, '', texts);
    else for (const path of spec.weights.keys()) for (const s of stringsAt(doc, path.split('.'))) texts.push([path, s]);
    const haystack = texts.map(([, s]) => fold(s)).join('\n');
    if (!query.phrases.every((p) => haystack.includes(p))) return undefined;
    if (query.negatedPhrases.some((p) => haystack.includes(p))) return undefined;
  }
  let score = 0;
  let matched = false;
  for (const term of query.terms) {
    const s = scores.get(term);
    if (s !== undefined) {
      score += s;
      matched = true;
    }
  }
  return matched ? score : undefined;
}
