import type { Channel, ConsumeMessage } from 'amqplib';
import { ErrorCode } from '#contracts';
import { PlatformServerRMQ } from './rmq-options';
import type { RpcDispatcher, RpcReply } from './rpc-server';

/** What the server did with a request, in order. */
type Step = 'handled' | `answered ${string}` | 'acked';

function serverWith(reply: RpcReply, send: (content: Buffer) => Promise<void>, steps: Step[]) {
  const dispatcher = {
    handle: (pattern: string) => {
      if (pattern !== 'registry.tool.get') return undefined;
      steps.push('handled');
      return Promise.resolve(reply);
    },
  } as unknown as RpcDispatcher;
  const server = new PlatformServerRMQ({ urls: ['amqp://127.0.0.1:1'], queue: 'unused' }).dispatchWith(dispatcher);
  // The channel wrapper Nest opens in listen(): only its sendToQueue is used for answers.
  Object.assign(server, { channel: { sendToQueue: (_queue: string, content: Buffer) => send(content) } });
  return server;
}

const request = (pattern: string) =>
  ({
    content: Buffer.from(JSON.stringify({ pattern, id: 'r-1', data: { meta: { request_id: 'q-1' }, data: {} } })),
    fields: { redelivered: false },
    properties: { replyTo: 'amq.rabbitmq.reply-to.x', correlationId: 'c-1' },
  }) as unknown as ConsumeMessage;

describe('PlatformServerRMQ', () => {
  it('acknowledges a request only after its answer was sent', async () => {
    const steps: Step[] = [];
    const server = serverWith({ response: { ok: true } }, async (content) => void steps.push(`answered ${content.toString()}`), steps);
    await server.handleMessage(request('registry.tool.get'), { ack: () => steps.push('acked') } as unknown as Channel);
    expect(steps).toEqual(['handled', 'answered {"id":"r-1","response":{"ok":true},"isDisposed":true}', 'acked']);
  });

  it('leaves a request unacknowledged when its answer cannot be sent, so the broker hands it out again', async () => {
    const steps: Step[] = [];
    const server = serverWith({ response: 1 }, () => Promise.reject(new Error('channel closed')), steps);
    await server.handleMessage(request('registry.tool.get'), { ack: () => steps.push('acked') } as unknown as Channel);
    expect(steps).toEqual(['handled']);
  });

  it('answers an error as a typed payload and still acknowledges it', async () => {
    const steps: Step[] = [];
    const err = { code: ErrorCode.NOT_FOUND, message: 'no such tool' };
    const server = serverWith({ err }, async (content) => void steps.push(`answered ${content.toString()}`), steps);
    await server.handleMessage(request('registry.tool.get'), { ack: () => steps.push('acked') } as unknown as Channel);
    expect(steps).toEqual(['handled', `answered ${JSON.stringify({ id: 'r-1', err, isDisposed: true })}`, 'acked']);
  });

  it('refuses to listen without the service’s handlers', () => {
    const bare = new PlatformServerRMQ({ urls: ['amqp://127.0.0.1:1'], queue: 'unused' });
    expect(() => bare.listen(() => undefined)).toThrow(/no RpcDispatcher/);
  });
});
