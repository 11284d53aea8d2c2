import { bestChunk, queryTerms, snippet } from './snippets';

describe('search snippets', () => {
  it('stems query words and drops stop words and negations', () => {
    expect([...queryTerms('Running the servers -excluded')]).toEqual(['run', 'server']);
  });

  it('picks the chunk with the most distinct matching words', () => {
    const body = 'alpha beta gamma. alpha alpha alpha. beta gamma delta.';
    const chunks = [
      { id: 'a', index: 0, heading: null, start: 0, end: 17 },
      { id: 'b', index: 1, heading: null, start: 18, end: 36 },
      { id: 'c', index: 2, heading: null, start: 37, end: body.length },
    ];
    expect(bestChunk(body, chunks, queryTerms('gamma delta'))?.chunk.id).toBe('c');
    expect(bestChunk(body, chunks, queryTerms('alpha'))?.chunk.id).toBe('b');
    expect(bestChunk(body, chunks, queryTerms('zeta'))).toMatchObject({ chunk: { id: 'a' }, matches: 0 });
  });

  it('finds matches with diacritics folded, as the text index does', () => {
    const body = 'plain words here. Le café est ouvert.';
    const chunks = [
      { id: 'a', index: 0, heading: null, start: 0, end: 17 },
      { id: 'b', index: 1, heading: null, start: 18, end: body.length },
    ];
    expect(bestChunk(body, chunks, queryTerms('CAFE'))).toMatchObject({ chunk: { id: 'b' }, matches: 1 });
  });

  it('centres the window on the matches and gives offsets that point at the matched words', () => {
    const text = `${'filler words here. '.repeat(40)}The Screenshots are captured by the browser. ${'more filler. '.repeat(40)}`;
    const s = snippet(text, queryTerms('screenshot browser'));
    expect(s.snippet.startsWith('… ')).toBe(true);
    expect(s.snippet.endsWith(' …')).toBe(true);
    expect(s.highlights.map(([a, b]) => s.snippet.slice(a, b))).toEqual(['Screenshots', 'browser']);
  });

  it('escapes HTML in snippet_html and marks only matched words', () => {
    const s = snippet('<script>alert("x")</script> & the tool', queryTerms('tool script'));
    expect(s.snippet_html).toBe(
      '&#60;<mark>script</mark>&#62;alert(&#34;x&#34;)&#60;/<mark>script</mark>&#62; &#38; the <mark>tool</mark>',
    );
  });
});
