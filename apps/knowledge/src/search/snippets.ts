import { fold, terms, tokenSpans } from '#common';
import type { Chunk } from '../documents/chunking';

const SNIPPET_CHARS = 240;

/** The stemmed terms of a query, as the text index sees them (negations and quotes dropped). */
export function queryTerms(query: string): Set<string> {
  return new Set(terms(query.replace(/(^|\s)-\S+/g, ' ')));
}

/** The chunk that matches the query best: most distinct terms, then most occurrences, then earliest. */
export function bestChunk(
  body: string,
  chunks: readonly Chunk[],
  wanted: ReadonlySet<string>,
): { chunk: Chunk; matches: number } | undefined {
  let best: { chunk: Chunk; rank: number; matches: number } | undefined;
  // Stems keep their word's first letters: a chunk without any of those prefixes cannot match, and
  // is not worth tokenising (most chunks of a long document).
  const prefixes = [...wanted].map((t) => t.slice(0, 4));
  for (const chunk of chunks) {
    const lower = fold(body.slice(chunk.start, chunk.end) + (chunk.heading ? `\n${chunk.heading}` : ''));
    if (!prefixes.some((p) => lower.includes(p))) {
      best ??= { chunk, rank: 0, matches: 0 };
      continue;
    }
    const found = new Set<string>();
    let occurrences = 0;
    const headingTerms = chunk.heading ? terms(chunk.heading) : [];
    for (const span of tokenSpans(body.slice(chunk.start, chunk.end))) {
      if (span.term && wanted.has(span.term)) {
        found.add(span.term);
        occurrences++;
      }
    }
    for (const t of headingTerms) if (wanted.has(t)) found.add(t);
    const rank = found.size * 1000 + Math.min(occurrences, 999);
    if (!best || rank > best.rank) best = { chunk, rank, matches: found.size };
  }
  return best && { chunk: best.chunk, matches: best.matches };
}

const escapeHtml = (s: string) => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

/**
 * A window of the chunk around its densest cluster of matched words, with the matched words'
 * offsets, and the same as HTML (escaped, matches in <mark>) for clients that render it directly.
 */
export function snippet(
  text: string,
  wanted: ReadonlySet<string>,
): { snippet: string; highlights: [number, number][]; snippet_html: string } {
  const spans = tokenSpans(text);
  const hits = spans.filter((s) => s.term && wanted.has(s.term));
  let from = 0;
  if (text.length > SNIPPET_CHARS && hits.length > 0) {
    let bestCount = -1;
    for (const hit of hits) {
      const count = hits.filter((h) => h.start >= hit.start && h.end <= hit.start + SNIPPET_CHARS).length;
      if (count > bestCount) {
        bestCount = count;
        from = hit.start;
      }
    }
    // Start a little before the first match, at a word boundary.
    from = Math.max(0, from - 40);
    while (from > 0 && /\S/.test(text[from - 1] ?? '')) from--;
  }
  let to = Math.min(text.length, from + SNIPPET_CHARS);
  while (to < text.length && /\S/.test(text[to] ?? '') && to - from < SNIPPET_CHARS + 30) to++;
  const prefix = from > 0 ? '… ' : '';
  const suffix = to < text.length ? ' …' : '';
  const body = text.slice(from, to).replace(/\s+/g, ' ');
  // Offsets are recomputed on the whitespace-collapsed text so they match what is returned.
  const highlights: [number, number][] = tokenSpans(body)
    .filter((s) => s.term && wanted.has(s.term))
    .map((s) => [s.start + prefix.length, s.end + prefix.length]);
  const plain = `${prefix}${body}${suffix}`;
  let html = '';
  let at = 0;
  for (const [start, end] of highlights) {
    html += `${escapeHtml(plain.slice(at, start))}<mark>${escapeHtml(plain.slice(start, end))}</mark>`;
    at = end;
  }
  html += escapeHtml(plain.slice(at));
  return { snippet: plain, highlights, snippet_html: html };
}
