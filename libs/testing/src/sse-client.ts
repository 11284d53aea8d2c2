import { until } from './until';

export interface SseEvent {
  event: string;
  id?: string;
  /** The data lines, parsed as JSON when they are. */
  data: any;
}

/**
 * A Server-Sent Events client over fetch, as a program (not a browser's EventSource) reads a
 * stream: it can send headers (Authorization, Last-Event-ID) and keeps every event it received.
 */
export class SseClient {
  readonly events: SseEvent[] = [];
  /** Comment lines (`: keep-alive`) received. */
  comments = 0;
  /** Whether the server closed the stream. */
  ended = false;
  private constructor(
    readonly status: number,
    readonly headers: Headers,
    /** The body of a refusal (not an event stream). */
    readonly body: any,
    private readonly abort: AbortController,
  ) {}

  static async open(url: string, headers: Record<string, string> = {}): Promise<SseClient> {
    const abort = new AbortController();
    const res = await fetch(url, { headers: { accept: 'text/event-stream', ...headers }, signal: abort.signal });
    if (!res.headers.get('content-type')?.startsWith('text/event-stream')) {
      const text = await res.text();
      let body: unknown = text;
      try {
        body = JSON.parse(text);
      } catch {
        // not JSON
      }
      const client = new SseClient(res.status, res.headers, body, abort);
      client.ended = true;
      return client;
    }
    const client = new SseClient(res.status, res.headers, undefined, abort);
    void client.read(res.body!);
    return client;
  }

  private async read(body: ReadableStream<Uint8Array>): Promise<void> {
    const decoder = new TextDecoder();
    let buffer = '';
    try {
      for await (const chunk of body as unknown as AsyncIterable<Uint8Array>) {
        buffer += decoder.decode(chunk, { stream: true });
        let end: number;
        while ((end = buffer.indexOf('\n\n')) >= 0) {
          this.parse(buffer.slice(0, end));
          buffer = buffer.slice(end + 2);
        }
      }
    } catch {
      // aborted, or the connection was cut
    }
    this.ended = true;
  }

  private parse(block: string): void {
    let event = 'message';
    let id: string | undefined;
    const data: string[] = [];
    let fields = 0;
    for (const line of block.split('\n')) {
      if (line.startsWith(':')) {
        this.comments++;
        continue;
      }
      const colon = line.indexOf(':');
      const name = colon < 0 ? line : line.slice(0, colon);
      const value = colon < 0 ? '' : line.slice(colon + 1).replace(/^ /, '');
      fields++;
      if (name === 'event') event = value;
      else if (name === 'id') id = value;
      else if (name === 'data') data.push(value);
    }
    if (!fields || (!data.length && event === 'message')) return;
    const text = data.join('\n');
    let parsed: unknown = text;
    try {
      parsed = JSON.parse(text);
    } catch {
      // plain text
    }
    this.events.push({ event, id, data: parsed });
  }

  /** The events named `event` received so far (all events without a name). */
  named(event?: string): SseEvent[] {
    return event === undefined ? this.events : this.events.filter((e) => e.event === event);
  }

  /** Waits for an event matching `match` (received before or after the call). */
  async waitFor(match: (e: SseEvent) => boolean, description: string, ms = 5000): Promise<SseEvent> {
    await until(() => this.events.some(match), description, ms);
    return this.events.find(match)!;
  }

  close(): void {
    this.abort.abort();
  }
}
