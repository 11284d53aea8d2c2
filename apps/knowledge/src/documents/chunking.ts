import { createHash } from 'node:crypto';

/** A slice of a document's body; the text is `body.slice(start, end)`, so chunks add no copy of the body. */
export interface Chunk {
  /** Stable: the same text in the same document keeps its id across edits (embeddings are reused). */
  id: string;
  index: number;
  heading: string | null;
  start: number;
  end: number;
}

const TARGET_CHARS = 1000;
const MAX_CHARS = 1500;
const HEADING = /^(#{1,6})\s+(.+?)\s*#*\s*$/;

interface Block {
  start: number;
  end: number;
  heading: string | null;
  isHeading: boolean;
}

/** Paragraphs (runs of non-blank lines) with the markdown heading they sit under. */
function blocks(body: string, markdown: boolean): Block[] {
  const out: Block[] = [];
  let heading: string | null = null;
  let current: Block | undefined;
  let offset = 0;
  let inFence = false;
  for (const line of body.split('\n')) {
    const start = offset;
    const end = offset + line.length;
    offset = end + 1;
    if (markdown && /^\s*(```|~~~)/.test(line)) inFence = !inFence;
    const match = markdown && !inFence ? HEADING.exec(line) : null;
    if (match) {
      if (current) out.push(current);
      heading = match[2] ?? null;
      out.push({ start, end, heading, isHeading: true });
      current = undefined;
    } else if (line.trim() === '' && !inFence) {
      if (current) out.push(current);
      current = undefined;
    } else if (current) current.end = end;
    else current = { start, end, heading, isHeading: false };
  }
  if (current) out.push(current);
  return out;
}

/** Splits an over-long block at whitespace near the size limit. */
function split(body: string, block: Block): Block[] {
  const pieces: Block[] = [];
  let start = block.start;
  while (block.end - start > MAX_CHARS) {
    const window = body.slice(start, start + MAX_CHARS);
    const sentence = Math.max(window.lastIndexOf('. '), window.lastIndexOf('\n'));
    const space = window.lastIndexOf(' ');
    const cut = sentence > TARGET_CHARS / 2 ? sentence + 1 : space > TARGET_CHARS / 2 ? space : MAX_CHARS;
    pieces.push({ ...block, start, end: start + cut });
    start += cut;
    while (start < block.end && /\s/.test(body[start] ?? '')) start++;
  }
  if (start < block.end) pieces.push({ ...block, start });
  return pieces;
}

/**
 * Splits a document into chunks for search: markdown sections stay together (a heading opens a new
 * chunk and names the chunks under it), paragraphs are packed up to ~1,000 characters, and a longer
 * paragraph is cut at a sentence or word boundary.
 */
export function chunkDocument(documentId: string, body: string, contentType: string): Chunk[] {
  const markdown = contentType === 'text/markdown';
  const packed: Block[] = [];
  for (const block of blocks(body, markdown).flatMap((b) => split(body, b))) {
    const last = packed[packed.length - 1];
    const sameSection = last && last.heading === block.heading && !block.isHeading;
    if (last && sameSection && block.end - last.start <= TARGET_CHARS) last.end = block.end;
    else packed.push({ ...block });
  }
  const seen = new Map<string, number>();
  return packed.map((block, index) => {
    const hash = createHash('sha256').update(documentId).update('\n').update(body.slice(block.start, block.end)).digest('hex').slice(0, 16);
    const n = seen.get(hash) ?? 0;
    seen.set(hash, n + 1);
    return { id: n ? `${hash}-${n}` : hash, index, heading: block.heading, start: block.start, end: block.end };
  });
}
