import { chunkDocument } from './chunking';

describe('chunkDocument', () => {
  const md = [
    '# Title',
    '',
    'Intro paragraph.',
    '',
    '## Install',
    '',
    'Run the installer.',
    '',
    '```bash',
    '# not a heading inside a code fence',
    'npm install',
    '```',
    '',
    '## Usage',
    '',
    'Call the tool.',
  ].join('\n');

  it('keeps sections together, names chunks by heading, and ignores # inside code fences', () => {
    const chunks = chunkDocument('d1', md, 'text/markdown');
    expect(chunks.map((c) => c.heading)).toEqual(['Title', 'Install', 'Usage']);
    const install = chunks[1];
    expect(md.slice(install.start, install.end)).toBe(
      '## Install\n\nRun the installer.\n\n```bash\n# not a heading inside a code fence\nnpm install\n```',
    );
    expect(chunks.map((c) => c.index)).toEqual([0, 1, 2]);
  });

  it('treats plain text as paragraphs without headings', () => {
    const chunks = chunkDocument('d1', '# not a heading\n\nsecond', 'text/plain');
    expect(chunks).toHaveLength(1);
    expect(chunks[0].heading).toBeNull();
  });

  it('packs short paragraphs up to ~1,000 characters and cuts long ones at a sentence', () => {
    const sentence = 'This sentence is about forty-five characters. ';
    const long = sentence.repeat(80).trim(); // ~3,700 characters, one paragraph
    const chunks = chunkDocument('d1', long, 'text/plain');
    expect(chunks.length).toBeGreaterThanOrEqual(3);
    for (const c of chunks) {
      expect(c.end - c.start).toBeLessThanOrEqual(1500);
      expect(long.slice(c.start, c.end)).toMatch(/\.$/);
    }
    const paragraphs = Array.from({ length: 30 }, (_, i) => `Paragraph ${i} with some words.`).join('\n\n');
    const packed = chunkDocument('d1', paragraphs, 'text/plain');
    expect(packed.length).toBeLessThan(5);
    expect(packed.every((c) => c.end - c.start <= 1000)).toBe(true);
  });

  it('gives stable ids: same text, same id; repeated text stays unique; another document differs', () => {
    const a = chunkDocument('d1', md, 'text/markdown');
    const b = chunkDocument('d1', md.replace('Call the tool.', 'Call the tool twice.'), 'text/markdown');
    expect(b[0].id).toBe(a[0].id);
    expect(b[1].id).toBe(a[1].id);
    expect(b[2].id).not.toBe(a[2].id);
    expect(chunkDocument('d2', md, 'text/markdown')[0].id).not.toBe(a[0].id);
    const twice = chunkDocument('d1', '# A\n\nsame\n\n# A\n\nsame', 'text/markdown');
    expect(new Set(twice.map((c) => c.id)).size).toBe(twice.length);
  });
});
